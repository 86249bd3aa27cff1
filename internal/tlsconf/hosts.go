package tlsconf

import (
	"fmt"
	"net"
	"strings"
)

// normalizeHost lower-cases h, drops one trailing dot and checks that it is
// a DNS host name: dot-separated labels of 1-63 letters, digits and
// hyphens, not starting or ending with a hyphen, 253 bytes at most.
// Wildcards, ports, IP literals and non-ASCII names are refused (internal
// names must be given in their xn-- form).
func normalizeHost(h string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(h, "."))
	if n == "" || len(n) > 253 || net.ParseIP(n) != nil {
		return "", fmt.Errorf("hosts: %q is not a valid host name", h)
	}
	for label := range strings.SplitSeq(n, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("hosts: %q is not a valid host name", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("hosts: %q is not a valid host name (letters, digits, '-' and '.' only; use the xn-- form for international names)", h)
			}
		}
	}
	return n, nil
}
