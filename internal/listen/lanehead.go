package listen

import (
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/rampart-dev/rampart/internal/httphead"
)

// parseSimpleHead parses the head of a request the way http.ReadRequest
// does, for the heads most requests have, in a third (wrk's head) to a
// half (a browser's) of its time (BenchmarkParseHead): "GET" or "HEAD",
// an origin-form target of printable ASCII, HTTP/1.1, fields as httphead
// parses them (CRLF lines, token names, values of printable ASCII and
// tabs, no folding), at most one Host, no Content-Length or
// Transfer-Encoding. For anything else it returns false, and the caller
// parses the head with http.ReadRequest: it never refuses a head, and
// what it returns is what ReadRequest would (FuzzParseSimpleHead compares
// them). head ends with the empty line.
//
// Where ReadRequest copies each value, it copies the head once and the
// values are parts of that copy.
func parseSimpleHead(head []byte) (*http.Request, bool) {
	s := string(head)
	var method string
	switch {
	case strings.HasPrefix(s, "GET /"):
		method, s = http.MethodGet, s[len("GET "):]
	case strings.HasPrefix(s, "HEAD /"):
		method, s = http.MethodHead, s[len("HEAD "):]
	default:
		return nil, false
	}
	sp := strings.IndexByte(s, ' ')
	if sp < 0 || !strings.HasPrefix(s[sp:], " HTTP/1.1\r\n") {
		return nil, false
	}
	target := s[:sp]
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c >= 0x7f {
			return nil, false
		}
	}
	s = s[sp+len(" HTTP/1.1\r\n"):]

	// The fields: the lines up to the empty one.
	fields, n, ok := httphead.Start(s)
	if !ok {
		return nil, false
	}
	h := make(http.Header, n)
	var host string
	hosts := 0
	for {
		k, v, done, ok := fields.Next()
		if !ok {
			return nil, false
		}
		if done {
			break
		}
		switch k {
		case "Content-Length", "Transfer-Encoding":
			return nil, false
		case "Host": // ReadRequest moves it to Request.Host
			if hosts++; hosts > 1 {
				return nil, false
			}
			host = v
			continue
		}
		fields.Add(h, k, v)
	}
	u := simpleURL(target)
	if u == nil {
		var err error
		if u, err = url.ParseRequestURI(target); err != nil {
			return nil, false
		}
	}
	httphead.FixPragma(h)
	return &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Host:       host,
		Close:      httpguts.HeaderValuesContainsToken(h["Connection"], "close"),
		RequestURI: target,
	}, true
}

// simpleURL is url.ParseRequestURI(target) for an origin-form target
// whose path is made of bytes the URL package neither unescapes nor
// escapes (letters, digits and -._~$&+,/:;=@), with at most one '?'
// followed by a query of those bytes; nil for any other target, to be
// parsed by url.ParseRequestURI.
func simpleURL(target string) *url.URL {
	if !strings.HasPrefix(target, "/") {
		return nil
	}
	path, query, hasQuery := strings.Cut(target, "?")
	for i := 0; i < len(target); i++ {
		if !pathByte[target[i]] && (target[i] != '?' || i != len(path)) {
			return nil
		}
	}
	return &url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
}

// pathByte says which bytes simpleURL takes as they are.
var pathByte = func() (t [256]bool) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~$&+,/:;=@") {
		t[c] = true
	}
	return t
}()
