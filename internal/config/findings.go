package config

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Severity of a Finding.
type Severity int

const (
	// Warning: valid but weaker than it should be; rampart starts.
	Warning Severity = iota
	// Error: rampart refuses to start.
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Finding is one problem found in a configuration: where it is, which key,
// what is wrong and how to fix it. Findings never contain secret values.
type Finding struct {
	Severity Severity
	Where    string // "rampart.yaml:42", "env RAMPART_UPSTREAM_URL", "flag --upstream" or "" when not tied to one place
	Key      string // "ratelimit.zones.api.burst"
	Message  string
	Hint     string
}

func (f Finding) String() string {
	var b strings.Builder
	if f.Where != "" {
		b.WriteString(f.Where)
		b.WriteString(": ")
	}
	b.WriteString(f.Severity.String())
	b.WriteString(": ")
	if f.Key != "" {
		b.WriteString(f.Key)
		b.WriteString(": ")
	}
	b.WriteString(f.Message)
	if f.Hint != "" {
		b.WriteString("\n\thint: ")
		b.WriteString(f.Hint)
	}
	return b.String()
}

// Findings is every finding of one configuration, errors first.
type Findings []Finding

// HasErrors reports whether any finding is an error.
func (fs Findings) HasErrors() bool {
	for _, f := range fs {
		if f.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns the error findings only.
func (fs Findings) Errors() Findings {
	var out Findings
	for _, f := range fs {
		if f.Severity == Error {
			out = append(out, f)
		}
	}
	return out
}

// sort puts errors first, and each severity's findings with a line first,
// by line, then the others (environment, flags, whole files) in the order
// they were found.
func (fs Findings) sort() {
	key := func(f Finding) (int, int) {
		if _, line := fileLine(f.Where); line > 0 {
			return 0, line
		}
		return 1, 0
	}
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Severity != fs[j].Severity {
			return fs[i].Severity > fs[j].Severity
		}
		gi, li := key(fs[i])
		gj, lj := key(fs[j])
		if gi != gj {
			return gi < gj
		}
		return li < lj
	})
}

// fileLine splits "rampart.yaml:42" into the file and the line; a place
// without a line has line 0.
func fileLine(where string) (string, int) {
	i := strings.LastIndexByte(where, ':')
	if i < 0 {
		return where, 0
	}
	n, err := strconv.Atoi(where[i+1:])
	if err != nil {
		return where, 0
	}
	return where[:i], n
}

// Write prints one finding per paragraph and a summary line.
func (fs Findings) Write(w io.Writer) {
	var nerr, nwarn int
	for _, f := range fs {
		fmt.Fprintln(w, f)
		if f.Severity == Error {
			nerr++
		} else {
			nwarn++
		}
	}
	fmt.Fprintf(w, "%d error(s), %d warning(s)\n", nerr, nwarn)
}

// Error makes Findings usable as the error of a failed Load: it lists the
// errors only.
func (fs Findings) Error() string {
	var b strings.Builder
	for i, f := range fs.Errors() {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(f.String())
	}
	return b.String()
}
