package users

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEditCreatesAPrivateFileOpenAccepts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yaml")
	d, err := ReadDoc(path)
	if err != nil || d.Exists() {
		t.Fatalf("ReadDoc(missing) = %v, %v", d, err)
	}
	if err := d.Add(User{Name: "alice", Roles: []string{"admin", "admin", "ops"}}, goodHash); err != nil {
		t.Fatal(err)
	}
	if err := d.Save(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v; want 0600", st.Mode(), err)
	}
	f, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := f.Lookup("alice"); !ok || strings.Join(u.Roles, ",") != "admin,ops" {
		t.Errorf("Lookup = %+v, %v", u, ok)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left in the directory: %v", entries)
	}
}

func TestEditKeepsCommentsAndOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	writeFile(t, path, "# Staff accounts.\nusers:\n  # contractor until June\n  - name: bob\n    hash: '"+goodHash+"' # set 2026-01-02\n    roles: [ops]\n  - name: alice\n    hash: '"+goodHash+"'\n    totp: "+rfcSecret+"\n")
	d, err := ReadDoc(path)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.SetDisabled("bob", true))
	must(d.SetHash("bob", dummyHash))
	must(d.SetTOTP("alice", ""))
	must(d.Add(User{Name: "carol"}, goodHash))
	must(d.Save())
	data, _ := os.ReadFile(path)
	out := string(data)
	for _, want := range []string{"# Staff accounts.", "# contractor until June", "# set 2026-01-02", "disabled: true", dummyHash, "name: carol"} {
		if !strings.Contains(out, want) {
			t.Errorf("the saved file lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, rfcSecret) {
		t.Errorf("alice's TOTP secret was not removed:\n%s", out)
	}
	if strings.Index(out, "bob") > strings.Index(out, "alice") || strings.Index(out, "alice") > strings.Index(out, "carol") {
		t.Errorf("the order changed:\n%s", out)
	}
	d, err = ReadDoc(path)
	if err != nil {
		t.Fatal(err)
	}
	must(d.SetDisabled("bob", false))
	must(d.Save())
	us := d.Users()
	if len(us) != 3 || us[0].Disabled || us[0].Roles[0] != "ops" {
		t.Errorf("Users = %+v", us)
	}
}

// Lost update: two administrators (or an administrator and an editor) edit
// the file at the same time. The second save would silently drop the
// first's change; it is refused instead.
func TestLostUpdateBetweenConcurrentEditsIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	writeFile(t, path, "users:\n  - {name: alice, hash: '"+goodHash+"'}\n")
	first, err := ReadDoc(path)
	if err != nil {
		t.Fatal(err)
	}
	second, err := ReadDoc(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.SetDisabled("alice", true); err != nil {
		t.Fatal(err)
	}
	if err := first.Save(); err != nil {
		t.Fatal(err)
	}
	if err := second.Add(User{Name: "bob"}, goodHash); err != nil {
		t.Fatal(err)
	}
	if err := second.Save(); !errors.Is(err, ErrChanged) {
		t.Fatalf("second Save = %v, want ErrChanged", err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "disabled: true") || strings.Contains(string(data), "bob") {
		t.Errorf("file after the refused save:\n%s", data)
	}

	// A file created by someone else after a ReadDoc found none.
	other := filepath.Join(t.TempDir(), "new.yaml")
	d, _ := ReadDoc(other)
	d.Add(User{Name: "carol"}, goodHash)
	writeFile(t, other, "users: []\n")
	if err := d.Save(); !errors.Is(err, ErrChanged) {
		t.Fatalf("Save over a file created meanwhile = %v, want ErrChanged", err)
	}
}

func TestEditRefusesABrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	writeFile(t, path, "users:\n  - {name: alice, hash: '"+goodHash+"', colour: blue}\n")
	var fe *FileError
	if _, err := ReadDoc(path); !errors.As(err, &fe) || !strings.Contains(err.Error(), path+":2: users[0].colour: unknown key") {
		t.Fatalf("ReadDoc = %v", err)
	}
}

func TestEditNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	writeFile(t, path, "users:\n  - {name: alice, hash: '"+goodHash+"'}\n")
	d, err := ReadDoc(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Add(User{Name: "Alice"}, goodHash); !errors.Is(err, ErrExists) {
		t.Errorf("Add(Alice) = %v, want ErrExists", err)
	}
	if err := d.Add(User{Name: "bad name"}, goodHash); err == nil {
		t.Error("Add(bad name) accepted")
	}
	if err := d.Add(User{Name: "bob", Roles: []string{"a,b"}}, goodHash); err == nil {
		t.Error("Add with a bad role accepted")
	}
	if err := d.SetHash("nobody", goodHash); !errors.Is(err, ErrNoUser) {
		t.Errorf("SetHash(nobody) = %v, want ErrNoUser", err)
	}
	if err := d.SetHash("alice", "not a hash"); err != nil {
		t.Fatal(err)
	}
	if err := d.Save(); err == nil || !strings.Contains(err.Error(), "would not load") {
		t.Errorf("Save of a file Open would refuse = %v", err)
	}
}

func TestSaveReplacesTheFileALinkPointsTo(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.yaml")
	link := filepath.Join(dir, "users.yaml")
	writeFile(t, real, "users:\n  - {name: alice, hash: '"+goodHash+"'}\n")
	if err := os.Symlink("real.yaml", link); err != nil {
		t.Fatal(err)
	}
	d, err := ReadDoc(link)
	if err != nil {
		t.Fatal(err)
	}
	d.Add(User{Name: "bob"}, goodHash)
	if err := d.Save(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced by a file")
	}
	if data, _ := os.ReadFile(real); !strings.Contains(string(data), "bob") {
		t.Error("the linked file was not changed")
	}
}

func TestCheckNewPassword(t *testing.T) {
	for pw, want := range map[string]string{
		"correct horse battery":                "",
		"short":                                "has 5 characters, fewer than 15",
		"ÄÖÜäöüßÄÖÜäöüß":                       "has 14 characters",
		"alice@example.com":                    "is the user name",
		"ALICE@EXAMPLE.COM":                    "is the user name",
		"aaaaaaaaaaaaaaaaaaaa":                 "one character repeated",
		"\xff" + strings.Repeat("x", 20):       "not valid UTF-8",
		strings.Repeat("ab", MaxPasswordBytes): "longer than 4096 bytes",
	} {
		err := CheckNewPassword("alice@example.com", pw)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckNewPassword(%.20q) = %v, want %q", pw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
}
