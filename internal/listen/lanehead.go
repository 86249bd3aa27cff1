package listen

import (
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// parseSimpleHead parses the head of a request the way http.ReadRequest
// does, for the heads most requests have, in about a third of its time
// and allocations: "GET" or "HEAD", an origin-form target of printable
// ASCII, HTTP/1.1, every line ending in CRLF, every field a token name, a
// colon and a value of printable ASCII and tabs, no line folding, at most
// one Host, no Content-Length or Transfer-Encoding. For anything else it
// returns false, and the caller parses the head with http.ReadRequest:
// it never refuses a head, and what it returns is what ReadRequest would
// (FuzzParseSimpleHead compares them). head ends with the empty line.
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
	n := strings.Count(s, "\r\n") - 1 // lines, the empty one aside
	if n < 0 || !strings.HasSuffix(s, "\r\n\r\n") && s != "\r\n" {
		return nil, false
	}
	h := make(http.Header, n)
	slab := make([]string, n) // each name's first value, as textproto does
	var key [64]byte
	var host string
	hosts := 0
	for s != "\r\n" {
		eol := strings.Index(s, "\r\n")
		line := s[:eol]
		s = s[eol+2:]
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || colon > len(key) {
			return nil, false
		}
		name := key[:colon]
		upper := true
		for i := range colon {
			c := line[i]
			if !tokenByte[c] {
				return nil, false
			}
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			name[i] = c
			upper = c == '-'
		}
		v := line[colon+1:]
		for i := 0; i < len(v); i++ {
			if c := v[i]; (c < ' ' && c != '\t') || c >= 0x7f {
				return nil, false
			}
		}
		for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
			v = v[1:]
		}
		for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			v = v[:len(v)-1]
		}
		k, ok := commonFieldNames[string(name)]
		if !ok {
			k = string(name)
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
		if vv := h[k]; vv != nil {
			h[k] = append(vv, v)
		} else {
			vv, slab = slab[:1:1], slab[1:]
			vv[0] = v
			h[k] = vv
		}
	}
	u := simpleURL(target)
	if u == nil {
		var err error
		if u, err = url.ParseRequestURI(target); err != nil {
			return nil, false
		}
	}
	// fixPragmaCacheControl.
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
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
// whose path is made of bytes the URL package neither unescapes nor escapes (letters,
// digits and -._~$&+,/:;=@), with at most one '?' followed by a query of
// those bytes; nil for any other target, to be parsed by
// url.ParseRequestURI.
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

// tokenByte says which bytes a field name may hold (httpguts.IsTokenRune).
var tokenByte = func() (t [256]bool) {
	for c := range 128 {
		t[c] = httpguts.IsTokenRune(rune(c))
	}
	return t
}()

// commonFieldNames interns the canonical names of the fields browsers and
// clients send most, so that parsing them allocates no name.
var commonFieldNames = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Type", "Cookie", "Dnt", "Forwarded", "Host",
		"If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
		"Origin", "Pragma", "Priority", "Range", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile",
		"Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site",
		"Sec-Fetch-User", "Sec-Gpc", "Te", "Upgrade-Insecure-Requests", "User-Agent", "Via",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id",
		"X-Requested-With", "Content-Length", "Transfer-Encoding",
	} {
		m[k] = k
	}
	return m
}()
