package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/joho/godotenv"
	"go.yaml.in/yaml/v3"
)

// Source says where a configuration comes from. Layers apply in this order,
// later ones winning: the YAML file, RAMPART_* environment variables (the
// process environment first, then a .env file beside the config, which never
// overrides a variable already set), then command-line flags.
type Source struct {
	// Path of the YAML file; "" means no file (flags and environment only).
	Path string
	// Data is the configuration's content when it is not read from Path:
	// the demo's built-in configuration. Path then only names it in
	// findings.
	Data []byte
	// Flags are command-line overrides; nil fields are not set.
	Flags Flags
	// LookupEnv reads the environment; nil means os.LookupEnv. Tests
	// replace it so they never touch the process environment.
	LookupEnv func(string) (string, bool)
}

// Flags are the overrides `rampart serve` accepts on its command line.
type Flags struct {
	Listen     *string
	HTTPListen *string
	Upstream   *string
	CertFile   *string
	KeyFile    *string
	StateDir   *string
	// AdminListen is the admin listener's address, or "off".
	AdminListen *string
	Hosts       []string
}

// loader carries the state of one Load: where each key came from, and the
// findings so far.
type loader struct {
	src      Source
	file     string // display name of the config file
	where    map[string]string
	lines    map[int]string // line → key path, for YAML decoding errors
	findings Findings
	env      func(string) (string, bool)
	broken   bool // the file could not be read or parsed at all
	badHosts bool // a host name was refused
	// typeErrs are the keys whose value had the wrong shape, typeLines
	// the lines where they are (see checkTypes).
	typeErrs  map[string]bool
	typeLines map[int]bool
}

func (l *loader) add(sev Severity, key, msg, hint string) {
	if l.underTypeError(key) {
		return
	}
	l.findings = append(l.findings, Finding{Severity: sev, Where: l.where[key], Key: key, Message: msg, Hint: hint})
}

func (l *loader) errorf(key, hint, format string, args ...any) {
	l.add(Error, key, fmt.Sprintf(format, args...), hint)
}

func (l *loader) warnf(key, hint, format string, args ...any) {
	l.add(Warning, key, fmt.Sprintf(format, args...), hint)
}

// Load reads, layers, validates and compiles a configuration. It returns
// every finding; the plan is nil when any finding is an error. Secrets are
// resolved but never appear in findings.
func Load(src Source) (*Plan, Findings) {
	l := &loader{src: src, where: map[string]string{}, lines: map[int]string{}, typeErrs: map[string]bool{}, typeLines: map[int]bool{}}
	var f File
	dotenvDir := "."
	if src.Path != "" {
		l.file = src.Path
		if src.Data == nil {
			dotenvDir = filepath.Dir(src.Path)
		}
		l.readFile(&f)
	}
	l.env = l.environment(filepath.Join(dotenvDir, ".env"), src.LookupEnv)
	l.applyEnv(&f)
	l.applyFlags(&f)
	var p *Plan
	if !l.broken {
		// Type errors do not stop compilation, so one run reports every
		// mistake; only unparseable YAML does.
		p = l.compile(&f)
	}
	for i := range l.findings {
		if l.findings[i].Where == "" {
			// A conclusion about the whole configuration (a required key
			// it lacks, a certificate decision) belongs to its file.
			l.findings[i].Where = l.file
		}
	}
	l.findings.sort()
	if l.findings.HasErrors() {
		return nil, l.findings
	}
	return p, l.findings
}

func (l *loader) readFile(f *File) {
	data, err := l.src.Data, error(nil)
	if data == nil {
		data, err = os.ReadFile(l.file)
	}
	if err != nil {
		l.findings = append(l.findings, Finding{Severity: Error, Where: l.file,
			Message: "cannot read the configuration: " + errors.Unwrap(err).Error(),
			Hint:    "check the path given to --config and its permissions"})
		l.broken = true
		return
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		msg, line := err.Error(), 0
		if sm := lineRE.FindStringSubmatch(msg); sm != nil {
			line, _ = strconv.Atoi(sm[1])
			msg = sm[2]
		}
		l.syntaxError(data, strings.TrimPrefix(msg, "yaml: "), line)
		l.broken = true
		return
	}
	l.index(&root, "")
	if !l.checkTypes(&root) {
		l.broken = true
		return
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		l.yamlError(err)
		if _, ok := err.(*yaml.TypeError); !ok {
			// Decoding stopped part-way: what follows would report keys
			// it never read as missing.
			l.broken = true
		}
	}
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
var unknownFieldRE = regexp.MustCompile(`^field (.+) not found in type config\.(\w+)$`)

// yamlError turns yaml.v3's errors ("line 3: field foo not found in type
// config.Listen") into findings with file:line, key path and a hint.
func (l *loader) yamlError(err error) {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	for _, m := range msgs {
		fd := Finding{Severity: Error, Where: l.file}
		msg, hint, _ := strings.Cut(m, hintSep)
		line := 0
		if sm := lineRE.FindStringSubmatch(msg); sm != nil {
			line, _ = strconv.Atoi(sm[1])
			msg = sm[2]
			fd.Where = fmt.Sprintf("%s:%d", l.file, line)
			fd.Key = l.lines[line]
		}
		if sm := unknownFieldRE.FindStringSubmatch(msg); sm != nil {
			msg = fmt.Sprintf("unknown key %q", sm[1])
			if looksLikeSecretValue(sm[1]) {
				// A secret pasted as a key: say where, not what.
				msg = "unknown key (not repeated here: it looks like a secret value)"
				fd.Key = strings.TrimSuffix(strings.TrimSuffix(fd.Key, sm[1]), ".")
			}
			if known := knownKeys(sm[2]); known != "" {
				hint = "valid keys here: " + known
			}
		} else if human, ok := humanUnmarshal(msg); ok {
			if l.typeLines[line] {
				continue // checkTypes reported it, in words, at its key
			}
			msg = human
			l.typeErrs[fd.Key] = true
		} else if hint == "" {
			hint = syntaxHint(msg)
		}
		if strings.Contains(msg, "already defined") {
			// yaml.v3 drops the whole mapping holding a duplicate key:
			// every key in it would be reported missing.
			l.broken = true
		}
		fd.Message, fd.Hint = msg, hint
		if l.reported(fd) {
			continue // a schema type's own UnmarshalYAML, said by checkTypes
		}
		l.findings = append(l.findings, fd)
	}
}

// reported reports whether a finding with fd's place and message exists.
func (l *loader) reported(fd Finding) bool {
	for _, f := range l.findings {
		if f.Where == fd.Where && f.Message == fd.Message {
			return true
		}
	}
	return false
}

// index records the line of every key path, for findings that name a line.
func (l *loader) index(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			l.index(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinKey(path, k.Value)
			l.where[p] = fmt.Sprintf("%s:%d", l.file, k.Line)
			l.lines[k.Line] = p
			if v.Line != k.Line {
				l.lines[v.Line] = p
			}
			l.index(v, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			l.where[p] = fmt.Sprintf("%s:%d", l.file, c.Line)
			if _, ok := l.lines[c.Line]; !ok {
				l.lines[c.Line] = p
			}
			l.index(c, p)
		}
	}
}

func joinKey(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// knownKeys lists the YAML keys of the named schema type.
func knownKeys(typeName string) string {
	var found reflect.Type
	var walk func(t reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		if t.Name() == typeName {
			found = t
		}
		for i := range t.NumField() {
			walk(t.Field(i).Type)
		}
	}
	walk(reflect.TypeFor[File]())
	if found == nil {
		return ""
	}
	var keys []string
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := range t.NumField() {
			sf := t.Field(i)
			if strings.Contains(sf.Tag.Get("yaml"), ",inline") {
				add(sf.Type)
			} else if tag := yamlName(sf); tag != "" {
				keys = append(keys, tag)
			}
		}
	}
	add(found)
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func yamlName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// environment returns the lookup used for RAMPART_* overrides and secrets:
// the process environment, then the .env file. A .env readable by group or
// others is reported, since it holds secrets.
func (l *loader) environment(dotenv string, lookup func(string) (string, bool)) func(string) (string, bool) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	vars := map[string]string{}
	if st, err := os.Stat(dotenv); err == nil {
		m, err := godotenv.Read(dotenv)
		if err != nil {
			l.findings = append(l.findings, Finding{Severity: Error, Where: dotenv,
				Message: "cannot parse: " + err.Error(), Hint: "write one NAME=value per line"})
		} else {
			vars = m
			if st.Mode().Perm()&0o077 != 0 {
				l.findings = append(l.findings, Finding{Severity: Warning, Where: dotenv,
					Message: fmt.Sprintf("file mode %#o lets other users read the secrets it holds", st.Mode().Perm()),
					Hint:    "chmod 600 " + dotenv})
			}
		}
	}
	return func(k string) (string, bool) {
		if v, ok := lookup(k); ok {
			return v, true
		}
		v, ok := vars[k]
		return v, ok
	}
}

// applyEnv sets every scalar key of the schema from RAMPART_<KEY PATH>
// (dots and the key's own underscores both become underscores, upper
// case): RAMPART_UPSTREAM_URL, RAMPART_LISTEN_HTTPS, RAMPART_HOSTS (comma
// separated). Maps and lists of sections (headers.modes, headers.routes,
// ratelimit.zones, ...) cannot be written this way; a variable naming one
// is an error. secret_key is not overridable this way: RAMPART_SECRET_KEY
// is the secret itself.
func (l *loader) applyEnv(f *File) {
	l.walkEnv(reflect.ValueOf(f).Elem(), "")
}

func (l *loader) walkEnv(v reflect.Value, path string) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		fv := v.Field(i)
		if strings.Contains(sf.Tag.Get("yaml"), ",inline") {
			l.walkEnv(fv, path)
			continue
		}
		name := yamlName(sf)
		if name == "" || name == "secret_key" {
			continue
		}
		key := joinKey(path, name)
		envName := "RAMPART_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		switch {
		case sf.Type == reflect.TypeFor[Duration]() || sf.Type == reflect.TypeFor[ByteSize]():
			l.envScalar(fv, key, envName)
		case sf.Type.Kind() == reflect.Struct:
			l.walkEnv(fv, key)
		case sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Struct:
			tmp := reflect.New(sf.Type.Elem())
			if !fv.IsNil() {
				tmp.Elem().Set(fv.Elem())
			} else if sf.Type == reflect.TypeFor[*RateLimit]() {
				// An absent ratelimit section means defaultRateLimit:
				// a key set from the environment amends it. Starting
				// from an empty section would drop the flood guard
				// (a present section with no rules limits nothing).
				tmp.Elem().Set(reflect.ValueOf(defaultRateLimit()))
			}
			l.walkEnv(tmp.Elem(), key)
			if !fv.IsNil() || l.anyEnvUnder(key) {
				fv.Set(tmp)
			}
		default:
			l.envScalar(fv, key, envName)
		}
	}
}

func (l *loader) anyEnvUnder(key string) bool {
	for k, w := range l.where {
		if strings.HasPrefix(k, key+".") && strings.HasPrefix(w, "env ") {
			return true
		}
	}
	return false
}

func (l *loader) envScalar(fv reflect.Value, key, envName string) {
	s, ok := l.env(envName)
	if !ok {
		return
	}
	l.where[key] = "env " + envName
	bad := func(want string) {
		l.errorf(key, "set "+envName+" to "+want, "%s is not %s", envName, want)
	}
	switch fv.Interface().(type) {
	case string:
		fv.SetString(s)
	case []string:
		var list []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		fv.Set(reflect.ValueOf(list))
	case int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			bad("a whole number")
			return
		}
		fv.SetInt(int64(n))
	case bool, *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			bad("true or false")
			return
		}
		if fv.Kind() == reflect.Pointer {
			fv.Set(reflect.ValueOf(&b))
		} else {
			fv.SetBool(b)
		}
	case Duration:
		d, err := ParseDuration(s)
		if err != nil {
			bad(`a duration such as "10s"`)
			return
		}
		fv.Set(reflect.ValueOf(Duration{D: d, Set: true}))
	case ByteSize:
		n, err := ParseByteSize(s)
		if err != nil {
			bad(`a size such as "10m"`)
			return
		}
		fv.Set(reflect.ValueOf(ByteSize{N: n, Set: true}))
	default:
		// Maps and lists of sections have no one-line spelling; ignoring
		// the variable would leave the operator believing it applies.
		l.errorf(key, "set "+key+" in the configuration file", "%s cannot be set from the environment", envName)
	}
}

// flagKeys are the keys the command line can set, and their flags.
var flagKeys = map[string]string{
	"listen.https": "listen", "listen.http": "http-listen", "upstream.url": "upstream",
	"tls.cert_file": "cert", "tls.key_file": "key", "state_dir": "state-dir", "hosts": "host",
	"admin.listen": "admin-listen",
}

// flagOf is the flag that sets key (or the list key is an item of), or "".
func flagOf(key string) string {
	if i := strings.IndexByte(key, '['); i >= 0 {
		key = key[:i]
	}
	return flagKeys[key]
}

func (l *loader) applyFlags(f *File) {
	fl := l.src.Flags
	set := func(dst *string, v *string, key string) {
		if v != nil {
			*dst = *v
			l.where[key] = "flag --" + flagKeys[key]
		}
	}
	set(&f.Listen.HTTPS, fl.Listen, "listen.https")
	set(&f.Listen.HTTP, fl.HTTPListen, "listen.http")
	set(&f.Upstream.URL, fl.Upstream, "upstream.url")
	set(&f.TLS.CertFile, fl.CertFile, "tls.cert_file")
	set(&f.TLS.KeyFile, fl.KeyFile, "tls.key_file")
	set(&f.StateDir, fl.StateDir, "state_dir")
	set(&f.Admin.Listen, fl.AdminListen, "admin.listen")
	if len(fl.Hosts) > 0 {
		f.Hosts = fl.Hosts
		l.where["hosts"] = "flag --host"
		for i := range fl.Hosts {
			l.where[fmt.Sprintf("hosts[%d]", i)] = "flag --host"
		}
	}
}
