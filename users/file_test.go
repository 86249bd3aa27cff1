package users

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A file whose hashes were made elsewhere with other parameters
// (argon2-cffi's) verifies unknown users against a dummy with those
// parameters: there too, an unknown user costs what a real one costs. And
// every failure has the same message, whatever its reason.
func TestUserEnumerationByCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	cheap := "$argon2id$v=19$m=9216,t=4,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	good := mustHash(t, "alice's long password")
	writeFile(t, path, "users:\n"+
		"  - {name: bob, hash: '"+cheap+"'}\n"+
		"  - {name: carol, hash: '"+cheap+"'}\n"+
		"  - {name: alice, hash: '"+good+"'}\n"+
		"  - {name: dave, hash: '"+good+"', disabled: true}\n")
	f, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	dp, _, _, _ := decodePHC(f.cur.Load().dummy)
	cp, _, _, _ := decodePHC(cheap)
	if dp != cp {
		t.Fatalf("dummy parameters %+v, most of the file's %+v", dp, cp)
	}
	cost := func(name, pw string) (int64, error) {
		kib := hashing.totalKiB.Load()
		_, err := f.Check(context.Background(), name, pw)
		return hashing.totalKiB.Load() - kib, err
	}
	wrongKiB, wrongErr := cost("bob", "not bob's password")
	unknownKiB, unknownErr := cost("mallory", "any password")
	if wrongKiB != unknownKiB || wrongKiB != 9216 {
		t.Errorf("wrong password cost %d KiB, unknown user %d KiB", wrongKiB, unknownKiB)
	}
	_, disabledErr := cost("dave", "alice's long password")
	caseErr := func() error { _, err := f.Check(context.Background(), "Alice", "alice's long password"); return err }()
	reasons := map[string]error{ReasonWrongPassword: wrongErr, ReasonUnknownUser: unknownErr, ReasonDisabled: disabledErr, ReasonUnknownUser + " (case)": caseErr}
	for want, err := range reasons {
		var ce *CredentialsError
		if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidCredentials) || err.Error() != ErrInvalidCredentials.Error() {
			t.Errorf("%s: err = %v, want a CredentialsError", want, err)
			continue
		}
		if want := want[:len(ce.Reason)]; ce.Reason != want {
			t.Errorf("reason = %q, want %q", ce.Reason, want)
		}
	}
	u, err := f.Check(context.Background(), "alice", "alice's long password")
	if err != nil || u.Name != "alice" {
		t.Errorf("Check(alice, right password) = %+v, %v", u, err)
	}
}

const goodHash = refDefault

func TestFileProblemsByLine(t *testing.T) {
	h := goodHash
	cases := map[string]struct {
		file string
		want []string // Problem.String() of each, in order
	}{
		"Valid":       {"users:\n  - name: alice@example.com\n    hash: " + h + "\n    roles: [admin, ops.read]\n    disabled: false\n    totp: " + rfcSecret + "\n", nil},
		"Empty":       {"", []string{"users: no users: nobody can log in (hint: add one: rampart user add --users FILE NAME)"}},
		"Syntax":      {"users:\n  - name: alice\n    roles: [\n", []string{"3: YAML syntax: did not find expected node content (hint: check the indentation and quoting near this line)"}},
		"Tabs":        {"users:\n  - name: alice\n\thash: x\n", []string{"3: YAML does not allow tabs for indentation (hint: indent with spaces, two per level)"}},
		"NotAMapping": {"- alice\n", []string{"1: expected the key users:, got a list (hint: start the file with users:)"}},
		"UnknownTopKey": {"users: []\nadmins: [bob]\n", []string{"1: users: no users: nobody can log in (hint: add one: rampart user add --users FILE NAME)",
			"2: admins: unknown key (hint: valid keys here: users)"}},
		"UsersNotAList": {"users: alice\n", []string{"1: users: expected a list of users, got a single value (hint: write one item per user: - name: alice)"}},
		"UnknownUserKey": {"users:\n  - name: alice\n    hash: " + h + "\n    password: hunter2\n",
			[]string{"4: users[0].password: unknown key (hint: valid keys here: name, hash, roles, disabled, totp)"}},
		"DuplicateKey": {"users:\n  - name: alice\n    hash: " + h + "\n    name: bob\n", []string{"4: users[0].name: given twice (first on line 2) (hint: keep one)"}},
		"MissingName":  {"users:\n  - hash: " + h + "\n", []string{"2: users[0].name: missing (hint: every user needs a name: name: alice)"}},
		"BadName": {"users:\n  - name: -rf\n    hash: " + h + "\n  - name: al ice\n    hash: " + h + "\n  - name: " + strings.Repeat("a", 65) + "\n    hash: " + h + "\n",
			[]string{"2: users[0].name: the user name must start with a letter or a digit (hint: " + nameHint + ")",
				"4: users[1].name: the user name \"al ice\" has a character that is not allowed (hint: " + nameHint + ")",
				"6: users[2].name: the user name is longer than 64 characters (hint: " + nameHint + ")"}},
		"DuplicateUser": {"users:\n  - {name: alice, hash: '" + h + "'}\n  - {name: alice, hash: '" + h + "'}\n",
			[]string{"3: users[1].name: user alice is defined twice (first on line 2) (hint: remove one, or rename it)"}},
		"CaseVariantUser": {"users:\n  - {name: alice, hash: '" + h + "'}\n  - {name: Alice, hash: '" + h + "'}\n",
			[]string{"3: users[1].name: user Alice differs from user alice (line 2) only by case (hint: rename one: names that differ only by case cannot be told apart by their owners)"}},
		"MissingHash": {"users:\n  - name: alice\n", []string{"2: users[0].hash: missing: the user cannot log in (hint: set a new password: rampart user passwd --users FILE alice)"}},
		"PlaintextPasswordAsHash": {"users:\n  - name: alice\n    hash: hunter2\n",
			[]string{"3: users[0].hash: not an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$key) (hint: set a new password: rampart user passwd --users FILE alice)"}},
		"HostileHash": {"users:\n  - name: alice\n    hash: $argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM\n",
			[]string{"3: users[0].hash: memory m=4194304 KiB is above the cap of 262144 KiB (hint: set a new password: rampart user passwd --users FILE alice)"}},
		"WeakHash": {"users:\n  - name: alice\n    hash: $argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$QKHrg5tayLGcN+Y0HVPNaBqykOVLUxlMkZycXE1uWRM\n",
			[]string{"3: users[0].hash: weaker than the default (m=4096 KiB × t=1 is below 19456 KiB × 2): cheaper to crack if the file leaks (hint: set a new password: rampart user passwd --users FILE alice)"}},
		"BadRoles": {"users:\n  - name: alice\n    hash: " + h + "\n    roles: [admin, admin, 'a,b', '']\n",
			[]string{"4: users[0].roles[1]: role admin is listed twice (hint: keep one)",
				"4: users[0].roles[2]: the role name \"a,b\" has a character that is not allowed (hint: 1 to 64 characters of A-Z a-z 0-9 . _ -, starting with a letter or a digit)",
				"4: users[0].roles[3]: the role name is empty (hint: 1 to 64 characters of A-Z a-z 0-9 . _ -, starting with a letter or a digit)"}},
		"RolesNotAList": {"users:\n  - name: alice\n    hash: " + h + "\n    roles: admin\n",
			[]string{"4: users[0].roles: expected a list of role names, got a single value (hint: write roles: [admin] or roles: [admin, editor])"}},
		"DisabledYes": {"users:\n  - name: alice\n    hash: " + h + "\n    disabled: yes\n", []string{"4: users[0].disabled: expected true or false"}},
		"ShortTOTP": {"users:\n  - name: alice\n    hash: " + h + "\n    totp: JBSWY3DPEHPK3PXP\n",
			[]string{"4: users[0].totp: the TOTP secret is 10 bytes, below the minimum of 16 (128 bits) (hint: make a new one: rampart user totp --replace --users FILE NAME)"}},
		"TOTPNotBase32": {"users:\n  - name: alice\n    hash: " + h + "\n    totp: not-base32-at-all-0189\n",
			[]string{"4: users[0].totp: the TOTP secret is not base32 (A–Z, 2–7) (hint: make a new one: rampart user totp --replace --users FILE NAME)"}},
		"Alias":        {"users:\n  - &a {name: alice, hash: '" + h + "'}\n  - *a\n", []string{"3: users[1]: YAML aliases (*name) are not accepted in the users file (hint: write the user out)"}},
		"TwoDocuments": {"users: []\n---\nusers: []\n", []string{"2: a second YAML document (hint: keep one document: remove the '---' line)"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			recs, problems := parse([]byte(c.file))
			var got []string
			for _, p := range problems {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if hasErrors(problems) && recs != nil {
				t.Error("records returned with errors")
			}
			for _, p := range problems {
				if strings.Contains(p.String(), "hunter2") || strings.Contains(p.Message, "QKHrg5") {
					t.Errorf("a problem quotes a password or hash: %s", p)
				}
			}
		})
	}
}

func TestParseValidFile(t *testing.T) {
	recs, problems := parse([]byte("# staff\nusers:\n  - name: alice@example.com # admin\n    hash: '" + goodHash + "'\n    roles: [admin, ops]\n    totp: " + strings.ToLower(rfcSecret) + "\n  - name: bob\n    hash: " + goodHash + "\n    disabled: true\n"))
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	want := []User{{Name: "alice@example.com", Roles: []string{"admin", "ops"}, TOTPSecret: strings.ToLower(rfcSecret)}, {Name: "bob", Disabled: true}}
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		if fmt.Sprint(r.User) != fmt.Sprint(want[i]) || r.hash != goodHash {
			t.Errorf("record %d = %+v, want %+v", i, r.User, want[i])
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "users.yaml")
	writeFile(t, good, "users:\n  - {name: alice, hash: '"+goodHash+"'}\n")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "users:\n  - {name: alice, hash: hunter2, colour: blue}\n")
	mode := func(name string, m os.FileMode) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, "users:\n  - {name: alice, hash: '"+goodHash+"'}\n")
		if err := os.Chmod(p, m); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]struct {
		o    Options
		want []string // "E " or "W " + field.Error.Error()
	}{
		"Good":        {Options{Path: good}, nil},
		"NoPath":      {Options{}, []string{"E Path: is required (hint: name the users file; create it with: rampart user add --users FILE NAME)"}},
		"Missing":     {Options{Path: filepath.Join(dir, "nope.yaml")}, []string{"E Path: " + dir + "/nope.yaml does not exist (hint: create it with: rampart user add --users " + dir + "/nope.yaml NAME)"}},
		"Directory":   {Options{Path: dir}, []string{"E Path: " + dir + " is not a regular file (hint: check the path and its permissions)"}},
		"NegativeInt": {Options{Path: good, ReloadInterval: -time.Second}, []string{"E ReloadInterval: must not be negative (hint: remove it for the default (5s))"}},
		"FileProblems": {Options{Path: bad}, []string{
			"E Path: " + bad + ":2: users[0].colour: unknown key (hint: valid keys here: name, hash, roles, disabled, totp)",
			"E Path: " + bad + ":2: users[0].hash: not an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$key) (hint: set a new password: rampart user passwd --users FILE alice)"}},
		"GroupReadable": {Options{Path: mode("g.yaml", 0o640)}, []string{"W Path: mode 0640 lets the file's group read the password hashes in " + dir + "/g.yaml (hint: chmod 600 " + dir + "/g.yaml and chown it to the user rampart runs as, unless the group exists to share it)"}},
		"WorldReadable": {Options{Path: mode("o.yaml", 0o604)}, []string{"E Path: mode 0604 lets every user of this machine read the password hashes in " + dir + "/o.yaml (hint: chmod 600 " + dir + "/o.yaml and chown it to the user rampart runs as; consider the passwords in it exposed)"}},
		"GroupWritable": {Options{Path: mode("gw.yaml", 0o620)}, []string{"E Path: mode 0620 lets other users change " + dir + "/gw.yaml, and so make themselves an administrator (hint: chmod 600 " + dir + "/gw.yaml and chown it to the user rampart runs as)"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, e := range c.o.Validate() {
				sev := "E "
				if e.Warning {
					sev = "W "
				}
				got = append(got, sev+e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("Validate:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			_, err := Open(c.o)
			if hasErr := strings.Contains(strings.Join(c.want, "\n"), "E "); (err != nil) != hasErr {
				t.Errorf("Open error = %v, Validate has errors: %v", err, hasErr)
			}
		})
	}
}

// An attacker who can write the users file can make themselves an
// administrator; one who can read it can crack the hashes offline. Open
// refuses both modes, and so does a reload: a file made writable by others
// while the gateway runs is not taken, even if what is in it is valid.
func TestPrivilegeEscalationThroughWritableUsersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	writeFile(t, path, "users:\n  - {name: alice, hash: '"+goodHash+"'}\n")
	var logs bytes.Buffer
	f, err := Open(Options{Path: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "users:\n  - {name: alice, hash: '"+goodHash+"'}\n  - {name: mallory, hash: '"+goodHash+"', roles: [admin]}\n")
	if err := os.Chmod(path, 0o602); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Reload(); ok || err == nil {
		t.Fatalf("Reload of a world-writable file = %v, %v", ok, err)
	}
	if _, ok := f.Lookup("mallory"); ok {
		t.Fatal("a user added to a world-writable file was loaded")
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "keeping the users loaded before") {
		t.Errorf("log = %s", logs.String())
	}
	if _, err := Open(Options{Path: path}); err == nil {
		t.Error("Open accepts a world-writable file")
	}
}

// A bad reload (a half-written or mistyped file) keeps the last good
// version and logs why; the next good version is taken.
func TestReloadKeepsLastGoodVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	writeFile(t, path, "users:\n  - {name: alice, hash: '"+goodHash+"', roles: [admin]}\n")
	var logs bytes.Buffer
	f, err := Open(Options{Path: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Reload(); ok || err != nil {
		t.Fatalf("Reload of an unchanged file = %v, %v", ok, err)
	}
	writeFile(t, path, "users:\n  - {name: alice, hash: '"+goodHash+"', roles: [admin]\n") // cut short
	if ok, err := f.Reload(); ok || err == nil {
		t.Fatalf("Reload of a broken file = %v, %v", ok, err)
	}
	if u, ok := f.Lookup("alice"); !ok || u.Roles[0] != "admin" {
		t.Fatal("the last good version is gone")
	}
	if !strings.Contains(logs.String(), "users.yaml:1: YAML syntax") || strings.Contains(logs.String(), "QKHrg5") {
		t.Errorf("the log does not say where, or quotes a hash: %s", logs.String())
	}
	if ok, err := f.Reload(); ok || err != nil {
		t.Errorf("the same broken file was tried again: %v, %v", ok, err)
	}
	writeFile(t, path, "users:\n  - {name: bob, hash: '"+goodHash+"'}\n")
	if ok, err := f.Reload(); !ok || err != nil {
		t.Fatalf("Reload of a good file = %v, %v", ok, err)
	}
	if _, ok := f.Lookup("alice"); ok {
		t.Error("alice was removed from the file but is still loaded")
	}
	if _, ok := f.Lookup("bob"); !ok || f.Len() != 1 {
		t.Error("bob was not loaded")
	}
}

// A file replaced by rename with the same size and modification time (an
// editor, a deployment tool copying with -p) is still noticed.
func TestReloadNoticesRenameWithSameSizeAndTime(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yaml")
	writeFile(t, path, "users:\n  - {name: alice, hash: '"+goodHash+"'}\n")
	f, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	next := filepath.Join(dir, "next")
	writeFile(t, next, "users:\n  - {name: carol, hash: '"+goodHash+"'}\n")
	if err := os.Chtimes(next, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Reload(); !ok || err != nil {
		t.Fatalf("Reload = %v, %v", ok, err)
	}
	if _, ok := f.Lookup("carol"); !ok {
		t.Error("carol not loaded")
	}
}

func TestRunReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	writeFile(t, path, "users:\n  - {name: alice, hash: '"+goodHash+"'}\n")
	f, err := Open(Options{Path: path, ReloadInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	writeFile(t, path, "users:\n  - {name: alice, hash: '"+goodHash+"'}\n  - {name: bob, hash: '"+goodHash+"'}\n")
	deadline := time.Now().Add(10 * time.Second)
	for _, ok := f.Lookup("bob"); !ok; _, ok = f.Lookup("bob") {
		if time.Now().After(deadline) {
			t.Fatal("Run did not reload the file")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	writeFile(t, path, "users:\n  - {name: alice, hash: '"+goodHash+"', roles: [viewer]}\n")
	f, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := f.Lookup("alice")
	u.Roles[0] = "admin"
	if u, _ := f.Lookup("alice"); u.Roles[0] != "viewer" {
		t.Fatal("a caller changed the loaded user's roles")
	}
	if _, ok := f.Lookup("Alice"); ok {
		t.Fatal("names are compared ignoring case")
	}
}

// The users file is parsed on every change; whatever it holds, parsing
// does not panic, and what it accepts holds every rule.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte("users:\n  - name: alice\n    hash: " + goodHash + "\n    roles: [admin]\n    totp: " + rfcSecret + "\n"))
	f.Add([]byte("users:\n  - {name: a, hash: '" + dummyHash + "', disabled: true}\n  - *x\n"))
	f.Add([]byte("users: [{name: b, hash: x, roles: [[a]], disabled: {}}]\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, problems := parse(data)
		if hasErrors(problems) {
			return
		}
		names := map[string]bool{}
		for _, r := range recs {
			if CheckName(r.Name) != nil || names[strings.ToLower(r.Name)] {
				t.Fatalf("accepted name %q", r.Name)
			}
			names[strings.ToLower(r.Name)] = true
			if _, _, _, err := decodePHC(r.hash); err != nil {
				t.Fatalf("accepted hash: %v", err)
			}
			for _, role := range r.Roles {
				if CheckRole(role) != nil {
					t.Fatalf("accepted role %q", role)
				}
			}
			if r.TOTPSecret != "" {
				if b, err := decodeTOTPSecret(r.TOTPSecret); err != nil || len(b) < MinTOTPSecretBytes {
					t.Fatalf("accepted TOTP secret of %d bytes, %v", len(b), err)
				}
			}
		}
	})
}

// A user disabled, removed, or given another password, TOTP secret or
// roles is reported by the reload, so the gateway can end their sessions
// at once; a user left alone, or enabled, or added, is not.
func TestOnChangeNamesUsersWhoseSessionsMustEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	other, err := Hash("another password for carol")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "users:\n"+
		"  - {name: alice, hash: '"+goodHash+"'}\n"+
		"  - {name: bob, hash: '"+goodHash+"'}\n"+
		"  - {name: carol, hash: '"+goodHash+"'}\n"+
		"  - {name: dave, hash: '"+goodHash+"', roles: [viewer]}\n"+
		"  - {name: erin, hash: '"+goodHash+"', disabled: true}\n"+
		"  - {name: frank, hash: '"+goodHash+"'}\n")
	var got []string
	f, err := Open(Options{Path: path, OnChange: func(names []string) { got = names }})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "users:\n"+
		"  - {name: alice, hash: '"+goodHash+"'}\n"+
		"  - {name: bob, hash: '"+goodHash+"', disabled: true}\n"+
		"  - {name: carol, hash: '"+other+"'}\n"+
		"  - {name: dave, hash: '"+goodHash+"', roles: [admin]}\n"+
		"  - {name: erin, hash: '"+goodHash+"'}\n"+
		"  - {name: gina, hash: '"+goodHash+"'}\n")
	if ok, err := f.Reload(); !ok || err != nil {
		t.Fatalf("reload: %v %v", ok, err)
	}
	if want := []string{"bob", "carol", "dave", "frank"}; !slices.Equal(got, want) {
		t.Errorf("OnChange(%v), want %v", got, want)
	}
}
