package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTerminal answers the hidden prompts in turn.
func fakeTerminal(prompt *bytes.Buffer, answers ...string) passwordInput {
	return passwordInput{
		terminal: true,
		prompt:   prompt,
		readHidden: func() ([]byte, error) {
			if len(answers) == 0 {
				return nil, errors.New("no more input")
			}
			a := answers[0]
			answers = answers[1:]
			return []byte(a), nil
		},
	}
}

// On a terminal the password is asked twice, hidden, and the two must
// agree: a typo in a password nobody sees would lock the user out.
func TestUserPasswordFromTerminalIsAskedTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	var prompt, stdout, stderr bytes.Buffer
	pw := "correct horse battery staple"
	if code := userMain([]string{"add", "--users", path, "alice"}, fakeTerminal(&prompt, pw, pw), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := prompt.String(); got != "New password for alice: \nRepeat it: \n" {
		t.Errorf("prompts = %q", got)
	}
	for _, out := range []string{prompt.String(), stdout.String(), stderr.String()} {
		if strings.Contains(out, pw) {
			t.Errorf("the password was echoed: %q", out)
		}
	}
	before, _ := os.ReadFile(path)
	prompt.Reset()
	stderr.Reset()
	if code := userMain([]string{"passwd", "--users", path, "alice"}, fakeTerminal(&prompt, pw+"!", pw+"?"), &stdout, &stderr); code != 1 {
		t.Fatalf("two different passwords: exit %d", code)
	}
	if !strings.Contains(stderr.String(), "the two passwords differ") {
		t.Errorf("stderr = %s", stderr.String())
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the file changed after a refused password")
	}
}

func TestReadLine(t *testing.T) {
	for in, want := range map[string]string{
		"pw\n":                           "pw",
		"pw":                             "pw",
		"pw\r\n":                         "pw",
		" spaced pw \n":                  " spaced pw ",
		"":                               "error: no password",
		"\n":                             "error: no password",
		"a\nb":                           "error: standard input has more than one line",
		"a\n\n":                          "error: standard input has more than one line",
		strings.Repeat("x", 5000) + "\n": "error: standard input is longer than a password",
	} {
		got, err := readLine(strings.NewReader(in))
		if err != nil {
			got = "error: " + err.Error()
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("readLine(%.20q) = %.80q, want %q", in, got, want)
		}
	}
}
