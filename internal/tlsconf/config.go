package tlsconf

import (
	"crypto/tls"
)

// cipherSuites are the TLS 1.2 suites offered, Mozilla's "intermediate"
// profile minus the DHE suites Go does not implement. Every suite:
//
//   - uses ECDHE key exchange, so recorded traffic stays secret if the
//     server key later leaks (forward secrecy). Static-RSA key exchange
//     (TLS_RSA_*) has none and is the target of the ROBOT family of
//     attacks; it is not offered.
//   - uses an AEAD (AES-GCM or ChaCha20-Poly1305). CBC suites are the
//     source of BEAST, Lucky13, POODLE-TLS and a decade of padding-oracle
//     bugs; none is offered, including the SHA-256 variants Go ships
//     disabled by default.
//
// The order is irrelevant: crypto/tls picks the suite itself (AES-GCM first
// when both ends have AES hardware, ChaCha20 otherwise). TLS 1.3 suites are
// not configurable in Go and are all AEAD.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuites returns the TLS 1.2 cipher suites ServerConfig offers.
func CipherSuites() []uint16 { return append([]uint16(nil), cipherSuites...) }

// curves are the key-exchange groups. X25519MLKEM768 is the hybrid of
// X25519 and the post-quantum ML-KEM-768: traffic recorded today cannot be
// decrypted by a future quantum computer ("harvest now, decrypt later"), and
// because it is a hybrid it is never weaker than X25519 alone. It only
// exists in TLS 1.3; TLS 1.2 clients fall back to X25519, then P-256 and
// P-384 for clients (and FIPS setups) without X25519. P-521 and the
// finite-field groups are left out: no client needs them and they are
// slower. crypto/tls chooses among these groups itself; the list decides
// which are allowed, and its order documents the preference.
var curves = []tls.CurveID{
	tls.X25519MLKEM768,
	tls.X25519,
	tls.CurveP256,
	tls.CurveP384,
}

// ALPN protocol names. HTTP/2 first so that every client that speaks it
// gets it; HTTP/1.1 for the rest.
const (
	ProtoH2    = "h2"
	ProtoHTTP1 = "http/1.1"
)

// ServerConfig returns the TLS configuration for rampart's HTTPS listener,
// serving the certificate getCert returns for each handshake.
//
//   - Versions: TLS 1.2 and 1.3 only. TLS 1.0 and 1.1 lack AEAD suites and
//     rely on SHA-1/MD5 in the handshake; browsers removed them in 2020
//     and RFC 8996 deprecates them.
//   - TLS 1.2 suites: ECDHE with AES-GCM or ChaCha20-Poly1305 only (see
//     cipherSuites above).
//   - Groups: X25519MLKEM768 (post-quantum hybrid), X25519, P-256, P-384.
//   - ALPN: "h2", "http/1.1".
//   - Session tickets stay on; renegotiation is never supported by a Go
//     server. This config alone uses crypto/tls's automatic ticket keys
//     (a new one daily, each accepted for 7 days); the Server that New
//     builds replaces them with keys that live at most 24 hours (see
//     TicketKeyRotation).
//
// The returned value is a new Config each call; callers may change it (for
// example MinVersion = tls.VersionTLS13, or an extra ALPN protocol) before
// first use.
func ServerConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		MaxVersion:       tls.VersionTLS13,
		CipherSuites:     CipherSuites(),
		CurvePreferences: append([]tls.CurveID(nil), curves...),
		NextProtos:       []string{ProtoH2, ProtoHTTP1},
		GetCertificate:   getCert,
	}
}
