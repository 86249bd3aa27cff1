package csp_test

import (
	"fmt"

	"github.com/rampart-dev/rampart/secheaders/csp"
)

func ExampleCheck() {
	p, _ := csp.Parse("default-src self; script-src 'self' 'unsafe-inline' 'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'")
	for _, f := range csp.Check(p) {
		fmt.Printf("%s %s: %s\n\thint: %s\n", f.Severity, f.Directive, f.Message, f.Hint)
	}
	// Output:
	// error default-src: unquoted self is read as a host name
	// 	hint: write 'self'
	// warning script-src: a nonce written in the configuration is the same on every response, so an attacker can reuse it
	// 	hint: remove it, and use a fresh nonce per response instead
	// warning script-src: 'unsafe-inline' is ignored by browsers when a nonce or hash is present
	// 	hint: remove 'unsafe-inline' (it only affects browsers without CSP Level 2)
	// warning object-src: missing; plugins (<object>, <embed>) fall back to default-src
	// 	hint: add object-src 'none'
	// warning base-uri: missing; an injected <base> tag can redirect relative script URLs (default-src does not cover it)
	// 	hint: add base-uri 'self' (or 'none')
}
