package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/rampart-dev/rampart/internal/gateway"
	"github.com/rampart-dev/rampart/users"
)

const userUsage = `usage: rampart user <command> --users FILE [flags] [NAME]

Manages the accounts of a users file (YAML, mode 0600):
  add NAME [--role R]...   add a user; asks for the password
  passwd NAME              set a new password
  disable NAME             refuse the user's logins
  enable NAME              allow them again
  list                     list the users, roles and states (never a hash or a secret)
  totp NAME [--replace]    give the user a TOTP secret and print its otpauth:// URI, once
  revoke NAME              end every session of the user now, on every instance sharing the
                           state store (asks the running rampart's admin listener, --admin;
                           no --users); the user signs in again, or not if disabled

The password is asked twice on the terminal, without echo. When standard
input is not a terminal, it is its one line:
  secret-tool lookup rampart alice | rampart user passwd --users users.yaml alice
It is never taken from the command line, where other users of the machine
(ps, /proc) and the shell history would see it. A new password has at least
15 characters and is not the user name.

The file is written whole to a temporary file and renamed into place, mode
0600; if it changed since the command read it (another edit), nothing is
written. Flags may come before or after the command and the name.

flags:
`

// passwordFlags are the flags someone might try to pass a password with.
var passwordFlags = []string{"password", "passwd", "pass", "pw", "p", "password-file"}

// runUser implements "rampart user".
func runUser(args []string, stdout, stderr io.Writer) int {
	return userMain(args, terminalInput(os.Stdin, stderr), stdout, stderr)
}

func userMain(args []string, in passwordInput, stdout, stderr io.Writer) int {
	// Before any parsing, so that the value is never echoed in an error.
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && contains(passwordFlags, name) {
			errorf(stderr, "type it when asked, or give it on standard input: printf '%s\\n' \"$PW\" | rampart user passwd --users FILE NAME",
				"a password is never taken from the command line: other users can read it there (ps, /proc) and it stays in the shell history")
			return 2
		}
	}
	fs := flag.NewFlagSet("user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, userUsage)
		fs.PrintDefaults()
	}
	path := fs.String("users", "", "the users `FILE` (YAML); created by add if missing")
	var roles stringList
	fs.Var(&roles, "role", "add: give the user `ROLE` (repeatable)")
	issuer := fs.String("issuer", "rampart", "totp: the name authenticator apps show above the code")
	replace := fs.Bool("replace", false, "totp: replace the user's TOTP secret (the old one stops working)")
	admin := fs.String("admin", defaultAdminURL, "revoke: the admin listener's `URL`")
	tokenFile := fs.String("token-file", "", "revoke: read the admin token from `FILE` (default: $RAMPART_ADMIN_TOKEN)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) == 0 {
		fs.Usage()
		return 2
	}
	cmd, pos := pos[0], pos[1:]
	wantName := map[string]bool{"add": true, "passwd": true, "disable": true, "enable": true, "totp": true, "list": false, "revoke": true}
	needsName, known := wantName[cmd]
	switch {
	case cmd == "help":
		fs.Usage()
		return 0
	case !known:
		errorf(stderr, "the commands are: add, passwd, disable, enable, list, totp, revoke", "unknown user command %q", cmd)
		return 2
	case *path == "" && cmd != "revoke":
		errorf(stderr, "rampart user "+cmd+" --users /etc/rampart/users.yaml ...", "--users FILE is required")
		return 2
	case needsName && len(pos) != 1, !needsName && len(pos) != 0:
		// The arguments are not repeated: one of them may be a password.
		want := "one user name"
		if !needsName {
			want = "no argument"
		}
		errorf(stderr, "a password is never taken from the command line; it is asked for, or read from standard input",
			"user %s takes %s, got %d arguments", cmd, want, len(pos))
		return 2
	case cmd != "add" && len(roles) > 0:
		errorf(stderr, "roles are given with add; to change them, edit the file", "--role is for user add")
		return 2
	}
	name := ""
	if needsName {
		name = pos[0]
		if err := users.CheckName(name); err != nil {
			errorf(stderr, "1 to 64 characters of A-Z a-z 0-9 . _ @ -, starting with a letter or a digit (an e-mail address works)", "%v", err)
			return 2
		}
	}
	if cmd == "revoke" {
		return revokeUser(name, *admin, *tokenFile, stdout, stderr)
	}
	doc, err := users.ReadDoc(*path)
	if err != nil {
		return fileError(stderr, *path, err)
	}
	for _, w := range doc.Warnings() {
		fmt.Fprintf(stderr, "rampart: warning: %s:%s\n", *path, w)
	}
	var cur *users.User
	for _, u := range doc.Users() {
		if u.Name == name {
			cur = &u
		}
	}
	if cmd != "add" && cmd != "list" && cur == nil {
		if !doc.Exists() {
			errorf(stderr, "check the path, or create the file: rampart user add --users "+*path+" NAME", "%s does not exist", *path)
		} else {
			errorf(stderr, "rampart user list --users "+*path+" shows the users", "no user %s in %s", name, *path)
		}
		return 1
	}

	u := userCmd{path: *path, doc: doc, name: name, in: in, stdout: stdout, stderr: stderr}
	switch cmd {
	case "list":
		return u.list()
	case "add":
		for _, r := range roles {
			if err := users.CheckRole(r); err != nil {
				errorf(stderr, "1 to 64 characters of A-Z a-z 0-9 . _ -, starting with a letter or a digit", "%v", err)
				return 2
			}
		}
		return u.add(roles)
	case "passwd":
		return u.passwd()
	case "disable", "enable":
		return u.setDisabled(cmd == "disable", cur.Disabled)
	case "totp":
		return u.totp(*issuer, *replace, cur.TOTPSecret != "")
	}
	return 2
}

type userCmd struct {
	path, name     string
	doc            *users.Doc
	in             passwordInput
	stdout, stderr io.Writer
}

func (u userCmd) list() int {
	if !u.doc.Exists() {
		errorf(u.stderr, "check the path, or create the file: rampart user add --users "+u.path+" NAME", "%s does not exist", u.path)
		return 1
	}
	tw := tabwriter.NewWriter(u.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLES\tSTATE\tTOTP")
	for _, x := range u.doc.Users() {
		roles, state, totp := strings.Join(x.Roles, ","), "active", "no"
		if roles == "" {
			roles = "-"
		}
		if x.Disabled {
			state = "disabled"
		}
		if x.TOTPSecret != "" {
			totp = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.Name, roles, state, totp)
	}
	tw.Flush()
	return 0
}

func (u userCmd) add(roles []string) int {
	for _, x := range u.doc.Users() {
		if strings.EqualFold(x.Name, u.name) {
			hint := "to set a new password: rampart user passwd --users " + u.path + " " + x.Name
			if x.Name != u.name {
				hint = "names that differ only by case cannot be told apart; choose another"
			}
			errorf(u.stderr, hint, "user %s exists in %s", x.Name, u.path)
			return 1
		}
	}
	hash, code := u.newHash()
	if code != 0 {
		return code
	}
	if err := u.doc.Add(users.User{Name: u.name, Roles: roles}, hash); err != nil {
		errorf(u.stderr, "", "%v", err)
		return 1
	}
	created := !u.doc.Exists()
	if code := u.save(); code != 0 {
		return code
	}
	if created {
		fmt.Fprintf(u.stdout, "created %s (mode 0600)\n", u.path)
	}
	what := "no roles"
	if len(roles) > 0 {
		what = "roles " + strings.Join(roles, ", ")
	}
	fmt.Fprintf(u.stdout, "added user %s (%s)\n", u.name, what)
	return 0
}

func (u userCmd) passwd() int {
	hash, code := u.newHash()
	if code != 0 {
		return code
	}
	if err := u.doc.SetHash(u.name, hash); err != nil {
		errorf(u.stderr, "", "%v", err)
		return 1
	}
	if code := u.save(); code != 0 {
		return code
	}
	fmt.Fprintf(u.stdout, "password of %s changed\n", u.name)
	return 0
}

func (u userCmd) setDisabled(disable, was bool) int {
	word := map[bool]string{true: "disabled", false: "enabled"}[disable]
	if disable == was {
		fmt.Fprintf(u.stdout, "user %s is already %s\n", u.name, word)
		return 0
	}
	if err := u.doc.SetDisabled(u.name, disable); err != nil {
		errorf(u.stderr, "", "%v", err)
		return 1
	}
	if code := u.save(); code != 0 {
		return code
	}
	fmt.Fprintf(u.stdout, "user %s %s\n", u.name, word)
	return 0
}

func (u userCmd) totp(issuer string, replace, has bool) int {
	if has && !replace {
		errorf(u.stderr, "to give "+u.name+" a new one (the old one stops working): rampart user totp --replace --users "+u.path+" "+u.name,
			"user %s has a TOTP secret already", u.name)
		return 1
	}
	secret, uri, err := users.NewTOTPSecret(issuer, u.name)
	if err != nil {
		errorf(u.stderr, "", "%v", err)
		return 2
	}
	if err := u.doc.SetTOTP(u.name, secret); err != nil {
		errorf(u.stderr, "", "%v", err)
		return 1
	}
	if code := u.save(); code != 0 {
		return code
	}
	// Printed once, after the secret is stored: an enrolment that was not
	// saved is never shown.
	fmt.Fprintf(u.stdout, "TOTP secret of %s stored. Add it to an authenticator app now; it is not shown again:\n", u.name)
	fmt.Fprintln(u.stdout, uri)
	fmt.Fprintf(u.stdout, "secret (to type in by hand): %s\n", secret)
	return 0
}

// newHash reads a new password and hashes it.
func (u userCmd) newHash() (string, int) {
	pw, err := u.in.read(u.name)
	if err != nil {
		errorf(u.stderr, "type the password when asked, or give exactly one line on standard input", "%v", err)
		return "", 1
	}
	if err := users.CheckNewPassword(u.name, pw); err != nil {
		errorf(u.stderr, fmt.Sprintf("use at least %d characters; a few unrelated words make a good one", users.MinPasswordLength), "%v", err)
		return "", 1
	}
	hash, err := users.Hash(pw)
	if err != nil {
		errorf(u.stderr, "", "%v", err)
		return "", 1
	}
	return hash, 0
}

func (u userCmd) save() int {
	err := u.doc.Save()
	switch {
	case err == nil:
		return 0
	case errors.Is(err, users.ErrChanged):
		errorf(u.stderr, "run the command again; it will start from the file as it is now",
			"%s changed while this command ran (another edit); nothing was written", u.path)
	default:
		errorf(u.stderr, "", "cannot write %s: %v", u.path, err)
	}
	return 1
}

// fileError prints why the users file cannot be edited.
func fileError(w io.Writer, path string, err error) int {
	var fe *users.FileError
	if !errors.As(err, &fe) {
		errorf(w, "check the path and its permissions", "cannot read %s: %v", path, err)
		return 1
	}
	for _, p := range fe.Problems {
		sev := "error"
		if p.Warning {
			sev = "warning"
		}
		where := path
		if p.Line > 0 {
			where = fmt.Sprintf("%s:%d", path, p.Line)
		}
		if p.Key != "" {
			where += ": " + p.Key
		}
		fmt.Fprintf(w, "rampart: %s: %s: %s\n", sev, where, p.Message)
		if p.Hint != "" {
			fmt.Fprintf(w, "rampart: hint: %s\n", p.Hint)
		}
	}
	fmt.Fprintf(w, "rampart: hint: fix the file by hand first; rampart user does not rewrite a file it cannot read whole\n")
	return 1
}

// passwordInput reads a new password: twice without echo from a
// terminal, else one line of standard input.
type passwordInput struct {
	stdin    io.Reader
	terminal bool
	// readHidden reads one line from the terminal without echo.
	readHidden func() ([]byte, error)
	prompt     io.Writer
}

func terminalInput(stdin *os.File, prompt io.Writer) passwordInput {
	fd := int(stdin.Fd())
	return passwordInput{
		stdin:      stdin,
		terminal:   term.IsTerminal(fd),
		readHidden: func() ([]byte, error) { return term.ReadPassword(fd) },
		prompt:     prompt,
	}
}

func (p passwordInput) read(name string) (string, error) {
	if !p.terminal {
		return readLine(p.stdin)
	}
	fmt.Fprintf(p.prompt, "New password for %s: ", name)
	first, err := p.readHidden()
	fmt.Fprintln(p.prompt)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(p.prompt, "Repeat it: ")
	second, err := p.readHidden()
	fmt.Fprintln(p.prompt)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(first, second) {
		return "", errors.New("the two passwords differ")
	}
	return string(first), nil
}

// readLine reads standard input, which must be exactly one line (a final
// newline, or CR LF, optional): the password. More than one line is most
// likely the wrong file piped in, and is refused rather than guessed at.
func readLine(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, users.MaxPasswordBytes+3))
	if err != nil {
		return "", fmt.Errorf("standard input: %w", err)
	}
	if len(data) > users.MaxPasswordBytes+2 {
		return "", fmt.Errorf("standard input is longer than a password (%d bytes at most)", users.MaxPasswordBytes)
	}
	line, rest, _ := bytes.Cut(data, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	switch {
	case len(rest) > 0:
		return "", errors.New("standard input has more than one line; give exactly one line: the password")
	case len(line) == 0:
		return "", errors.New("no password on standard input")
	}
	return string(line), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// revokeUser asks the running rampart to end every session of name
// (gateway.RevokePath).
func revokeUser(name, admin, tokenFile string, stdout, stderr io.Writer) int {
	c, err := newAdminClient(admin, tokenFile)
	if err != nil {
		errorf(stderr, "", "%v", err)
		return 2
	}
	var res gateway.RevokeResult
	err = c.do(http.MethodPost, gateway.RevokePath, gateway.RevokeRequest{User: name}, &res)
	var ae *apiError
	switch {
	case err == nil && res.Revoked:
		fmt.Fprintf(stdout, "every session of %s is ended; to keep them from signing in again: rampart user disable --users FILE %s\n", name, name)
		return 0
	case errors.As(err, &ae) && ae.status == http.StatusNotFound && strings.Contains(ae.msg, "users file"):
		errorf(stderr, "the running rampart's users file has no such user; rampart user list --users FILE shows them", "no user %s: %s", name, ae.msg)
		return 1
	case errors.As(err, &ae) && ae.status == http.StatusNotFound:
		errorf(stderr, "--admin names another server, or this rampart is older than the revoke API", "the admin listener at %s has no revoke API", c.base)
		return 1
	case errors.As(err, &ae) && (ae.status == http.StatusConflict || ae.status == http.StatusServiceUnavailable):
		errorf(stderr, "", "%s", ae.msg)
		return 1
	case err != nil:
		return c.fail(stderr, err)
	}
	errorf(stderr, "", "the admin listener's answer is not the revoke API's")
	return 1
}
