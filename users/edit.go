package users

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"
)

// ErrChanged is Doc.Save's error when the file changed after ReadDoc read
// it: saving would silently drop the other change.
var ErrChanged = errors.New("users: the file changed since it was read")

// ErrExists and ErrNoUser are Doc's errors for a name that is, or is not,
// in the file.
var (
	ErrExists = errors.New("users: the user exists")
	ErrNoUser = errors.New("users: no such user")
)

// Doc is a users file being edited: read whole, changed in memory, written
// back atomically by Save. Edits keep the rest of the file as it was,
// comments included (the YAML is re-indented by two spaces). A Doc is for
// one goroutine.
type Doc struct {
	path    string // the file itself, symbolic links resolved
	existed bool
	sum     [32]byte // of the contents read
	node    yaml.Node
	warns   []Problem
}

// ReadDoc reads the users file at path for editing; a missing file is an
// empty one, created by Save. A file with errors is refused (*FileError):
// rewriting it could lose what could not be read. Its warnings are in
// Warnings.
func ReadDoc(path string) (*Doc, error) {
	d := &Doc{path: path}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		// Save replaces the file a link points to, not the link.
		d.path = real
	}
	data, err := readFile(d.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.node = yaml.Node{Kind: yaml.DocumentNode, HeadComment: "rampart users file: edit with 'rampart user'; keep it mode 0600.",
			Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
		return d, nil
	case err != nil:
		return nil, err
	}
	d.existed, d.sum = true, sha256.Sum256(data)
	_, problems := parse(data)
	if hasErrors(problems) {
		return nil, &FileError{Path: path, Problems: problems}
	}
	d.warns = problems
	if err := yaml.Unmarshal(data, &d.node); err != nil {
		return nil, err // parse read it
	}
	if d.node.Kind == 0 { // an empty file
		d.node = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if isNull(d.node.Content[0]) {
		d.node.Content[0] = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	return d, nil
}

// Warnings are the file's warnings when it was read.
func (d *Doc) Warnings() []Problem { return d.warns }

// Exists reports whether ReadDoc found a file.
func (d *Doc) Exists() bool { return d.existed }

// Users returns the users, in the file's order.
func (d *Doc) Users() []User {
	var out []User
	for _, m := range d.items() {
		var u User
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i].Value, m.Content[i+1]
			switch k {
			case "name":
				u.Name = v.Value
			case "disabled":
				u.Disabled = equalFold(v.Value, "true")
			case "totp":
				u.TOTPSecret = v.Value
			case "roles":
				for _, c := range v.Content {
					u.Roles = append(u.Roles, c.Value)
				}
			}
		}
		out = append(out, u)
	}
	return out
}

// list returns the users sequence, creating it if create.
func (d *Doc) list(create bool) *yaml.Node {
	root := d.node.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "users" {
			if v := root.Content[i+1]; v.Kind == yaml.SequenceNode {
				return v
			}
			if !create {
				return nil
			}
			root.Content[i+1] = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			return root.Content[i+1]
		}
	}
	if !create {
		return nil
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	root.Content = append(root.Content, str("users"), seq)
	return seq
}

func (d *Doc) items() []*yaml.Node {
	if l := d.list(false); l != nil {
		return l.Content
	}
	return nil
}

func (d *Doc) find(name string) *yaml.Node {
	for _, m := range d.items() {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "name" && m.Content[i+1].Value == name {
				return m
			}
		}
	}
	return nil
}

// Add appends u with the hash phc. The name and roles are checked; a name
// in the file already, or one differing only by case, is ErrExists.
func (d *Doc) Add(u User, phc string) error {
	if err := CheckName(u.Name); err != nil {
		return err
	}
	for _, o := range d.Users() {
		if equalFold(o.Name, u.Name) {
			return fmt.Errorf("%w: %s", ErrExists, o.Name)
		}
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, str("name"), str(u.Name), str("hash"), str(phc))
	if len(u.Roles) > 0 {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		for _, r := range u.Roles {
			if err := CheckRole(r); err != nil {
				return err
			}
			if slices.ContainsFunc(seq.Content, func(n *yaml.Node) bool { return n.Value == r }) {
				continue
			}
			seq.Content = append(seq.Content, str(r))
		}
		m.Content = append(m.Content, str("roles"), seq)
	}
	if u.Disabled {
		m.Content = append(m.Content, str("disabled"), boolean(true))
	}
	if u.TOTPSecret != "" {
		m.Content = append(m.Content, str("totp"), str(u.TOTPSecret))
	}
	l := d.list(true)
	l.Content = append(l.Content, m)
	return nil
}

// SetHash replaces name's hash.
func (d *Doc) SetHash(name, phc string) error { return d.set(name, "hash", str(phc)) }

// SetDisabled disables or enables name. Enabling removes the key.
func (d *Doc) SetDisabled(name string, disabled bool) error {
	if !disabled {
		return d.set(name, "disabled", nil)
	}
	return d.set(name, "disabled", boolean(true))
}

// SetTOTP sets name's TOTP secret; "" removes it.
func (d *Doc) SetTOTP(name, secret string) error {
	if secret == "" {
		return d.set(name, "totp", nil)
	}
	return d.set(name, "totp", str(secret))
}

// set sets key of user name to v, or removes it when v is nil.
func (d *Doc) set(name, key string, v *yaml.Node) error {
	m := d.find(name)
	if m == nil {
		return fmt.Errorf("%w: %s", ErrNoUser, name)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			if v == nil {
				m.Content = slices.Delete(m.Content, i, i+2)
			} else {
				v.LineComment = m.Content[i+1].LineComment
				m.Content[i+1] = v
			}
			return nil
		}
	}
	if v != nil {
		m.Content = append(m.Content, str(key), v)
	}
	return nil
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(b)}
}

func equalFold(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

// Bytes returns the file as Save would write it.
func (d *Doc) Bytes() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&d.node); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Save writes the file atomically: a temporary file beside it, mode 0600,
// written and synced, then renamed over it, so that a reader (the gateway
// reloading) sees the old file or the new one, never half of one. The
// new file keeps the old one's owner and group when the process may set
// them (root), so that `sudo rampart user` leaves a file the gateway can
// still read. The result is parsed first: Save never writes a file Open
// would refuse.
//
// Writers are serialised by a lock on the directory, and the file must
// still be what ReadDoc read: if another command or an editor changed it
// meanwhile, Save writes nothing and returns ErrChanged.
func (d *Doc) Save() error {
	out, err := d.Bytes()
	if err != nil {
		return err
	}
	if _, problems := parse(out); hasErrors(problems) {
		return fmt.Errorf("users: the edited file would not load: %w", &FileError{Path: d.path, Problems: problems})
	}
	dir := filepath.Dir(d.path)
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	var owner *os.FileInfo
	switch st, err := os.Stat(d.path); {
	case errors.Is(err, fs.ErrNotExist):
		if d.existed {
			return fmt.Errorf("%w: it was removed", ErrChanged)
		}
	case err != nil:
		return err
	default:
		now, err := readFile(d.path)
		if err != nil {
			return err
		}
		if !d.existed || sha256.Sum256(now) != d.sum {
			return ErrChanged
		}
		owner = &st
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(d.path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing is there
	if err := writeSync(tmp, out, owner); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), d.path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced.
	if df, err := os.Open(dir); err == nil {
		df.Sync()
		df.Close()
	}
	d.existed, d.sum = true, sha256.Sum256(out)
	return nil
}

func writeSync(f *os.File, data []byte, owner *os.FileInfo) error {
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if owner != nil {
		if err := chownLike(f, *owner); err != nil {
			return err
		}
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}
