// Package field reports what validation found in an Options value, field by
// field, in one form every rampart package shares: the Go path of the field,
// what is wrong, how to fix it, and whether it is an error (the value is
// refused) or a warning (valid, but it weakens a defence).
//
// Libraries name their own Go fields ("ReadTimeout", "Zones[api].Rate",
// "Rules[0].Limits[1].Burst"), never a configuration file's keys: mapping a
// field to the YAML key and file:line a user wrote is the configuration
// loader's job, done in one place. Nothing here is flattened to text and
// parsed back.
package field

import (
	"fmt"
	"strings"
)

// Error is one finding about one field.
type Error struct {
	// Path is the field's Go path from the validated value: field names
	// joined by ".", "[i]" for a slice element, "[key]" for a map entry.
	// "" is the value as a whole.
	Path string
	// Message says what is wrong, without the field's name.
	Message string
	// Hint says how to fix it; "" when the message says it.
	Hint string
	// Warning marks a finding that does not refuse the value: it is
	// valid, but weaker than it should be.
	Warning bool
}

func (e Error) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Hint != "" {
		b.WriteString(" (hint: ")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Errors is every finding of one validation, in the order found.
type Errors []Error

// Errorf records an error on path.
func (l *Errors) Errorf(path, hint, format string, args ...any) {
	*l = append(*l, Error{Path: path, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// Warnf records a warning on path.
func (l *Errors) Warnf(path, hint, format string, args ...any) {
	*l = append(*l, Error{Path: path, Message: fmt.Sprintf(format, args...), Hint: hint, Warning: true})
}

// Add records the findings of a part of the value, under path: the
// findings of a nested Options validated on its own.
func (l *Errors) Add(path string, sub Errors) {
	for _, e := range sub {
		e.Path = Join(path, e.Path)
		*l = append(*l, e)
	}
}

// Join joins a parent path and a child path: "CSP" and "Nonce" give
// "CSP.Nonce", "Zones" and "[api]" give "Zones[api]".
func Join(parent, child string) string {
	switch {
	case parent == "":
		return child
	case child == "":
		return parent
	case child[0] == '[':
		return parent + child
	}
	return parent + "." + child
}

// Index is the path of element i of the slice at path.
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// Key is the path of entry key of the map at path.
func Key(path, key string) string { return path + "[" + key + "]" }

// HasErrors reports whether any finding is an error.
func (l Errors) HasErrors() bool {
	for _, e := range l {
		if !e.Warning {
			return true
		}
	}
	return false
}

// Warnings returns the warnings only.
func (l Errors) Warnings() Errors {
	var out Errors
	for _, e := range l {
		if e.Warning {
			out = append(out, e)
		}
	}
	return out
}

// Err returns l as an error when it holds an error, else nil: what a
// constructor returns after validating. errors.As recovers the Errors,
// warnings included.
func (l Errors) Err() error {
	if !l.HasErrors() {
		return nil
	}
	return l
}

// Error lists the errors, one per line; the warnings are left out.
func (l Errors) Error() string {
	var b strings.Builder
	for _, e := range l {
		if e.Warning {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}
