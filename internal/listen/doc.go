// Package listen runs rampart's listeners: the HTTPS server with timeouts
// that defeat slow clients, the plain-HTTP listener that redirects
// configured hosts to HTTPS (and answers ACME HTTP-01 challenges), and a
// graceful run/shutdown helper.
//
// The HTTPS server is net/http's, with two exceptions: on a connection that
// negotiated HTTP/1.1, plain requests (GET and HEAD without a body) are
// answered by the lane (lane.go), which hands the connection to net/http
// at the first request that is not plain; and a connection that negotiated
// HTTP/2 is served by rampart's own HTTP/2 server (h2.go), unless
// Options.GoHTTP2 leaves it to net/http's.
package listen
