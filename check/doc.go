// Package check audits a live HTTPS deployment the way a browser and a
// scanner see it: the HTTP→HTTPS redirect, the TLS versions and cipher
// suites the server accepts, its certificate, the security headers and
// cookies of the final HTTPS response, and a few well-known leaks
// (/.git/HEAD, /.env, /server-status, the Werkzeug console).
//
// The header score and grade follow the MDN HTTP Observatory method exactly
// where it can be reproduced offline (see SCORING.md): a deployment that
// rampart grades A+ is one the Observatory grades A+. TLS is not part of
// the Observatory score; TLS problems are findings of their own.
//
// Run sends a bounded number of requests (about thirty TLS handshakes, one
// per protocol version and per TLS 1.2 suite, and at most twenty HTTP
// requests), one at a time, each with a timeout and a cap on the bytes it
// reads, so pointing it at a production site is safe. It never sends
// credentials, and it never follows a redirect to a host other than the
// ones it was given.
package check
