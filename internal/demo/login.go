package demo

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"

	"github.com/rampart-dev/rampart/users"
)

// Credentials are the demo's user and the secret its sessions are signed
// with.
type Credentials struct {
	User, Password string
	usersFile      string
	secret         string
	env            func(string) (string, bool)
}

// Login writes the demo's users file (one user, demo, with the admin role
// and a new random password each run) and keeps a secret key in the state
// directory, so sessions outlive a restart of the demo. env is the
// environment the configuration is otherwise read from.
func Login(stateDir string, env func(string) (string, bool)) (Credentials, error) {
	c := Credentials{User: "demo", usersFile: filepath.Join(stateDir, "demo-users.yaml"), env: env}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return c, err
	}
	secretFile := filepath.Join(stateDir, "demo-secret-key")
	if b, err := os.ReadFile(secretFile); err == nil && len(strings.TrimSpace(string(b))) >= 43 {
		c.secret = strings.TrimSpace(string(b))
	} else {
		c.secret = base64.StdEncoding.EncodeToString(randomBytes(32))
		if err := os.WriteFile(secretFile, []byte(c.secret+"\n"), 0o600); err != nil {
			return c, err
		}
	}
	// A password a person can type: 26 base32 characters, 128 bits.
	c.Password = rand.Text()
	hash, err := users.Hash(c.Password)
	if err != nil {
		return c, err
	}
	doc := "# Written by rampart demo at each start, with a new password.\nusers:\n  - name: demo\n    hash: '" + hash + "'\n    roles: [admin]\n"
	tmp := c.usersFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(doc), 0o600); err != nil {
		return c, err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return c, err
	}
	return c, os.Rename(tmp, c.usersFile)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// LookupEnv is the environment the demo's configuration is loaded with:
// env, plus the users file and (unless env has one) the secret key.
func (c Credentials) LookupEnv(name string) (string, bool) {
	switch name {
	case "RAMPART_AUTH_USERS_FILE":
		return c.usersFile, true
	case "RAMPART_SECRET_KEY":
		if v, ok := c.env(name); ok {
			return v, ok
		}
		return c.secret, true
	}
	return c.env(name)
}
