package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as Go duration text ("10s", "1m30s").
type Duration struct {
	D   time.Duration
	Set bool // false when the key was absent, so defaults apply
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "expected a duration, got "+gotDesc(n), durationHint)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return lineError(n, err.Error(), durationHint)
	}
	*d = Duration{D: v, Set: true}
	return nil
}

// ParseDuration parses Go duration text; a bare "0" is accepted.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return v, nil
}

// ByteSize is a size in bytes written as nginx writes sizes: a number with
// an optional k, m or g suffix (powers of 1024; "10m" is 10 MiB). KiB, MiB,
// GiB and a trailing "b" are accepted too.
type ByteSize struct {
	N   int64
	Set bool
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "expected a size, got "+gotDesc(n), sizeHint)
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return lineError(n, err.Error(), sizeHint)
	}
	*b = ByteSize{N: v, Set: true}
	return nil
}

// ParseByteSize parses "512", "32k", "10m", "1g", "10MiB".
func ParseByteSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "ib")
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}

const (
	durationHint = `write a duration such as "10s", "1m30s" or "0s"`
	sizeHint     = `write a size such as "32k", "10m" or "1g"`
	sourcesHint  = `write e.g. "'self' https://cdn.example.com" or ["'self'", https://cdn.example.com]`
)

// hintSep separates a message from its hint inside a yaml.TypeError string;
// yaml.v3 keeps decoding after a TypeError, so every bad value is reported,
// where any other error type would stop at the first one.
const hintSep = "\x00hint: "

func lineError(n *yaml.Node, msg, hint string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s%s%s", n.Line, msg, hintSep, hint)}}
}
