// Package accesslog writes one JSON line per request, byte for byte as
// log/slog's JSON handler would write it, to a writer that logfile.Open can make a size-rotated,
// compressed file.
//
// A record looks like (one line; see testdata/golden.json):
//
//	{"time":"2026-01-02T03:04:05.678Z","msg":"http_request","request_id":"…",
//	 "client_ip":"198.51.100.7","method":"GET","host":"example.com",
//	 "path":"/search","query":"q=REDACTED&page=2","proto":"HTTP/2.0",
//	 "status":200,"bytes":5120,"duration_ms":1.234,"user_agent":"…",
//	 "referer":"https://example.com/?q=REDACTED","tls_version":"TLS1.3"}
//
// followed by any attributes later stages added with AddAttrs (the rate
// limit decision, the user). time is when the request reached the
// middleware, in UTC; duration_ms runs until the handler returned (for a
// hijacked WebSocket, until the connection closed) with microsecond
// resolution; bytes counts the response body (0 for hijacked
// connections); tls_version is "" on plain HTTP; request_id and client_ip
// are "" when the requestid and clientip stages are absent and the peer is
// not an IP address. Every field is always present, so the shape is
// stable for parsers.
//
// # What is never logged, and why no input can forge a line
//
// Request headers other than Host, User-Agent and Referer are never read,
// so Cookie and Authorization cannot leak. Query strings (of the request
// and of the Referer) keep their parameter names but every value becomes
// REDACTED unless its name is in Options.KeepQueryParams: tokens, reset
// codes and e-mail addresses travel in query strings more often than
// anyone intends. Userinfo and fragments are dropped from the Referer.
//
// Every value is first cleaned by safe.Clean, the same function the
// security log uses, so both streams show a client's value identically:
// control characters (C0 with CR and LF, DEL, C1), format characters
// (bidi overrides and isolates, LRM/RLM/ALM, zero-width characters),
// U+2028/U+2029 and every byte of invalid UTF-8 become '?', and a long
// value is cut within its bound (see the max* constants) and ends with
// "…", so one request cannot produce a line that a log shipper would
// split in two. Then it goes through one JSON string encoder (encode.go,
// held to log/slog's by a differential fuzz test), which escapes quotes
// and backslashes; the path is logged in its escaped form, so the old
// `GET /x%0a{"status":200}` trick stays `/x%0A%7B%22status%22:200%7D`.
// Nothing in this package writes request data any other way (no fmt, no
// second logger).
//
// Attributes passed to AddAttrs are the caller's responsibility: their
// strings are escaped, clipped and cleaned like the fixed fields, but must
// not carry secrets.
package accesslog
