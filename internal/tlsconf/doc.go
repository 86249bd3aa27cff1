// Package tlsconf builds rampart's server-side TLS configuration and the
// certificates behind it: PEM files reloaded when they change on disk, a
// cached self-signed development certificate, or certificates obtained by
// ACME (autocert) for an explicit list of host names.
//
// Every source exposes GetCertificate, so a certificate swap never touches
// the listener: handshakes started after a swap see the new certificate,
// connections already established keep the one they negotiated.
package tlsconf
