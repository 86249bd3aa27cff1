package users

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/rampart-dev/rampart/safe"
)

// MaxFileBytes is the largest users file read: about 80 000 users.
const MaxFileBytes = 16 << 20

// User is one account of the users file.
type User struct {
	// Name is what the user types to log in. Names are compared exactly
	// (case matters), and are 1 to 64 characters of A–Z a–z 0–9 . _ @ -
	// starting with a letter or a digit, so an e-mail address works and a
	// name is safe in a header, a log line or a shell. Two names of one
	// file may not differ only by case ("alice", "Alice"): one person
	// could not tell which account they have.
	Name string
	// Roles are the user's role names, same characters as names but no
	// '@'; each at most once.
	Roles []string
	// Disabled accounts cannot log in.
	Disabled bool
	// TOTPSecret is the base32 TOTP secret, "" when the user has no
	// second factor.
	TOTPSecret string
}

// record is a User as read from the file, with its hash.
type record struct {
	User
	hash   string
	params params
	line   int // of the list item
	index  int // in the list
}

// Problem is one thing wrong with a users file, or valid but weak.
type Problem struct {
	// Line is the 1-based line in the file, 0 for the file as a whole.
	Line int
	// Key is the YAML path of the value: "users[2].hash", "" for the file.
	Key string
	// Message says what is wrong; it never quotes a hash or a secret.
	Message string
	// Hint says how to fix it, "" when the message does.
	Hint string
	// Warning marks a problem that does not refuse the file.
	Warning bool
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString(" (hint: " + p.Hint + ")")
	}
	return b.String()
}

// FileError is a users file that cannot be used: every problem found in
// it, by line, warnings included.
type FileError struct {
	Path     string
	Problems []Problem
}

// Error lists the errors, one per line, as "path:line: key: message
// (hint: …)".
func (e *FileError) Error() string {
	var b strings.Builder
	for _, p := range e.Problems {
		if p.Warning {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Path)
		if p.Line == 0 {
			b.WriteString(": ")
		} else {
			b.WriteByte(':')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

func hasErrors(ps []Problem) bool {
	return slices.ContainsFunc(ps, func(p Problem) bool { return !p.Warning })
}

// readFile reads at most MaxFileBytes of path.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, MaxFileBytes>>20)
	}
	return data, nil
}

var knownKeys = []string{"name", "hash", "roles", "disabled", "totp"}

// parser collects the problems of one file.
type parser struct {
	problems []Problem
}

func (ps *parser) errorf(line int, key, hint, format string, args ...any) {
	ps.problems = append(ps.problems, Problem{Line: line, Key: key, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (ps *parser) warnf(line int, key, hint, format string, args ...any) {
	ps.problems = append(ps.problems, Problem{Line: line, Key: key, Message: fmt.Sprintf(format, args...), Hint: hint, Warning: true})
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse reads a users file. It walks the YAML tree itself rather than
// decoding into structs: every key is checked against the known ones
// (unknown keys are errors, as with KnownFields), every problem gets the
// line of its value, and no message quotes a value that could be a hash
// or a secret (yaml.v3's type errors quote the value).
func parse(data []byte) ([]record, []Problem) {
	ps := &parser{}
	recs := ps.parse(data)
	slices.SortStableFunc(ps.problems, func(a, b Problem) int { return a.Line - b.Line })
	if hasErrors(ps.problems) {
		return nil, ps.problems
	}
	return recs, ps.problems
}

func (ps *parser) parse(data []byte) []record {
	if len(data) > MaxFileBytes {
		ps.errorf(0, "", "", "larger than %d MiB", MaxFileBytes>>20)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		ps.noUsers(0)
		return nil
	} else if err != nil {
		ps.syntax(data, err)
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		ps.errorf(next.Line, "", "keep one document: remove the '---' line", "a second YAML document")
		return nil
	} else if !errors.Is(err, io.EOF) {
		ps.syntax(data, err)
		return nil
	}
	root := doc.Content[0]
	if isNull(root) {
		ps.noUsers(root.Line)
		return nil
	}
	if root.Kind != yaml.MappingNode {
		ps.errorf(root.Line, "", "start the file with users:", "expected the key users:, got %s", kindName(root))
		return nil
	}
	var list *yaml.Node
	ps.eachKey(root, "", []string{"users"}, func(key string, k, v *yaml.Node) { list = v })
	if list == nil || isNull(list) {
		ps.noUsers(root.Line)
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		ps.errorf(list.Line, "users", "write one item per user: - name: alice", "expected a list of users, got %s", kindName(list))
		return nil
	}
	if len(list.Content) == 0 {
		ps.noUsers(list.Line)
	}
	var recs []record
	for i, item := range list.Content {
		r := ps.user(item, fmt.Sprintf("users[%d]", i))
		r.index = i
		recs = append(recs, r) // with errors, parse returns none
	}
	ps.unique(recs)
	return recs
}

func (ps *parser) noUsers(line int) {
	ps.warnf(line, "users", "add one: rampart user add --users FILE NAME", "no users: nobody can log in")
}

func (ps *parser) syntax(data []byte, err error) {
	for i, l := range bytes.Split(data, []byte("\n")) {
		if rest := bytes.TrimLeft(l, " \t"); len(rest) > 0 && rest[0] != '#' && bytes.IndexByte(l[:len(l)-len(rest)], '\t') >= 0 {
			ps.errorf(i+1, "", "indent with spaces, two per level", "YAML does not allow tabs for indentation")
			return
		}
	}
	msg, line := err.Error(), 0
	if sm := yamlLineRE.FindStringSubmatch(msg); sm != nil {
		line, _ = strconv.Atoi(sm[1])
		msg = sm[2]
	}
	ps.errorf(line, "", "check the indentation and quoting near this line", "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}

// eachKey calls fn for each key of the mapping m that is in known, and
// reports the others, duplicates and aliases.
func (ps *parser) eachKey(m *yaml.Node, path string, known []string, fn func(key string, k, v *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			ps.errorf(k.Line, path, "", "a key must be a plain word")
			continue
		}
		key := joinKey(path, safe.Clean(k.Value, 40))
		if v.Kind == yaml.AliasNode || k.Kind == yaml.AliasNode {
			ps.errorf(v.Line, key, "write the value out", "YAML aliases (*name) are not accepted in the users file")
			continue
		}
		if !slices.Contains(known, k.Value) {
			ps.errorf(k.Line, key, "valid keys here: "+strings.Join(known, ", "), "unknown key")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			ps.errorf(k.Line, key, "keep one", "given twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		fn(k.Value, k, v)
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// user reads one item of the users list.
func (ps *parser) user(n *yaml.Node, path string) record {
	r := record{line: n.Line}
	if n.Kind == yaml.AliasNode {
		ps.errorf(n.Line, path, "write the user out", "YAML aliases (*name) are not accepted in the users file")
		return r
	}
	if n.Kind != yaml.MappingNode {
		ps.errorf(n.Line, path, "write name: and hash: under the '-'", "expected a user (name, hash, roles, disabled, totp), got %s", kindName(n))
		return r
	}
	var nameLine, hashLine int
	hashKey := path + ".hash"
	ps.eachKey(n, path, knownKeys, func(key string, k, v *yaml.Node) {
		kp := path + "." + key
		switch key {
		case "name":
			nameLine = v.Line
			if s, ok := ps.str(v, kp, "a user name"); ok {
				r.Name = s
			}
		case "hash":
			hashLine = v.Line
			if s, ok := ps.str(v, kp, "an argon2id hash"); ok {
				r.hash = s
			}
		case "totp":
			if s, ok := ps.str(v, kp, "a base32 secret"); ok {
				r.TOTPSecret = s
			}
		case "disabled":
			switch {
			case isNull(v):
			case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool":
				r.Disabled, _ = strconv.ParseBool(strings.ToLower(v.Value))
			default:
				ps.errorf(v.Line, kp, "", "expected true or false")
			}
		case "roles":
			r.Roles = ps.roles(v, kp)
		}
	})
	switch err := CheckName(r.Name); {
	case r.Name == "" && nameLine == 0:
		ps.errorf(n.Line, path+".name", "every user needs a name: name: alice", "missing")
	case err != nil:
		ps.errorf(nameLine, path+".name", nameHint, "%v", err)
	}
	hint := "set a new password: rampart user passwd --users FILE NAME"
	if CheckName(r.Name) == nil {
		hint = "set a new password: rampart user passwd --users FILE " + r.Name
	}
	if r.hash == "" {
		if hashLine == 0 {
			hashLine = n.Line
		}
		ps.errorf(hashLine, hashKey, hint, "missing: the user cannot log in")
	} else if p, _, _, err := decodePHC(r.hash); err != nil {
		ps.errorf(hashLine, hashKey, hint, "%s", err.(*HashError).Reason)
	} else {
		r.params = p
		if uint64(p.memory)*uint64(p.time) < DefaultMemoryKiB*DefaultIterations {
			ps.warnf(hashLine, hashKey, hint, "weaker than the default (m=%d KiB × t=%d is below %d KiB × %d): cheaper to crack if the file leaks",
				p.memory, p.time, DefaultMemoryKiB, DefaultIterations)
		}
	}
	if r.TOTPSecret != "" {
		ps.totp(r.TOTPSecret, path+".totp", n)
	}
	return r
}

const nameHint = "1 to 64 characters of A-Z a-z 0-9 . _ @ -, starting with a letter or a digit (an e-mail address works)"

// CheckName reports whether name is a valid user name: 1 to 64
// characters of A–Z a–z 0–9 . _ @ -, the first a letter or a digit.
func CheckName(name string) error {
	return checkWord(name, "user name", true)
}

// CheckRole reports whether role is a valid role name: 1 to 64
// characters of A–Z a–z 0–9 . _ -, the first a letter or a digit.
func CheckRole(role string) error {
	return checkWord(role, "role name", false)
}

func checkWord(s, what string, at bool) error {
	if s == "" {
		return fmt.Errorf("the %s is empty", what)
	}
	if len(s) > 64 {
		return fmt.Errorf("the %s is longer than 64 characters", what)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		switch {
		case alnum:
		case i == 0:
			return fmt.Errorf("the %s must start with a letter or a digit", what)
		case c == '.' || c == '_' || c == '-' || at && c == '@':
		default:
			return fmt.Errorf("the %s %q has a character that is not allowed", what, safe.Clean(s, 64))
		}
	}
	return nil
}

func (ps *parser) str(v *yaml.Node, key, what string) (string, bool) {
	if isNull(v) {
		return "", false
	}
	if v.Kind != yaml.ScalarNode {
		ps.errorf(v.Line, key, "", "expected %s, got %s", what, kindName(v))
		return "", false
	}
	return v.Value, true
}

func (ps *parser) roles(v *yaml.Node, key string) []string {
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		ps.errorf(v.Line, key, "write roles: [admin] or roles: [admin, editor]", "expected a list of role names, got %s", kindName(v))
		return nil
	}
	var roles []string
	for i, c := range v.Content {
		ck := fmt.Sprintf("%s[%d]", key, i)
		if c.Kind != yaml.ScalarNode || isNull(c) {
			ps.errorf(c.Line, ck, "", "expected a role name, got %s", kindName(c))
			continue
		}
		if err := CheckRole(c.Value); err != nil {
			ps.errorf(c.Line, ck, "1 to 64 characters of A-Z a-z 0-9 . _ -, starting with a letter or a digit", "%v", err)
			continue
		}
		if slices.Contains(roles, c.Value) {
			ps.errorf(c.Line, ck, "keep one", "role %s is listed twice", c.Value)
			continue
		}
		roles = append(roles, c.Value)
	}
	return roles
}

func (ps *parser) totp(secret, key string, n *yaml.Node) {
	line := n.Line
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "totp" {
			line = n.Content[i+1].Line
		}
	}
	hint := "make a new one: rampart user totp --replace --users FILE NAME"
	b, err := decodeTOTPSecret(secret)
	switch {
	case err != nil:
		ps.errorf(line, key, hint, "the TOTP secret is %v", err)
	case len(b) < MinTOTPSecretBytes:
		ps.errorf(line, key, hint, "the TOTP secret is %d bytes, below the minimum of %d (128 bits)", len(b), MinTOTPSecretBytes)
	}
}

// unique reports names given twice, exactly or but for case.
func (ps *parser) unique(recs []record) {
	first := map[string]record{}
	for _, r := range recs {
		if r.Name == "" {
			continue
		}
		fold := strings.ToLower(r.Name)
		if prev, ok := first[fold]; ok {
			key := fmt.Sprintf("users[%d].name", r.index)
			if prev.Name == r.Name {
				ps.errorf(r.line, key, "remove one, or rename it", "user %s is defined twice (first on line %d)", r.Name, prev.line)
			} else {
				ps.errorf(r.line, key, "rename one: names that differ only by case cannot be told apart by their owners",
					"user %s differs from user %s (line %d) only by case", r.Name, prev.Name, prev.line)
			}
			continue
		}
		first[fold] = r
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "keys with values"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if isNull(n) {
		return "nothing"
	}
	return "a single value"
}
