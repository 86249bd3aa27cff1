// Package listen runs rampart's listeners: the HTTPS server with timeouts
// that defeat slow clients, the plain-HTTP listener that redirects
// configured hosts to HTTPS (and answers ACME HTTP-01 challenges), and a
// graceful run/shutdown helper.
package listen
