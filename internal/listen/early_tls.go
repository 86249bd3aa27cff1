//go:build go1.27

package listen

// wrapTLS says whether TLS connections are wrapped for early.go. From Go
// 1.27, net/http serves HTTP/2 on any connection that reports its TLS
// state (ConnectionState, HandshakeContext); before, only on a
// *tls.Conn, so a wrapped one would be read as HTTP/1 (see
// early_tls_old.go).
const wrapTLS = true
