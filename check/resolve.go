package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Resolve sends the connections for a host to a chosen address, as curl's
// --resolve HOST:PORT:ADDR does: the TLS server name (SNI), the Host
// header and the certificate check keep the name, so a server can be
// audited before DNS points at it.
type Resolve struct {
	Host string // lower case, no trailing dot
	Port int
	Addr netip.Addr
}

func (r Resolve) String() string {
	a := r.Addr.String()
	if r.Addr.Is6() {
		a = "[" + a + "]"
	}
	return r.Host + ":" + strconv.Itoa(r.Port) + ":" + a
}

// ParseResolve parses curl's HOST:PORT:ADDR, with an IPv6 ADDR in
// brackets ([::1]) or bare. One address per entry; curl's "*" host and
// its +/- prefixes are not supported.
func ParseResolve(s string) (Resolve, error) {
	bad := func(why string) (Resolve, error) {
		return Resolve{}, fmt.Errorf("--resolve %q: %s", s, why)
	}
	host, rest, ok1 := strings.Cut(s, ":")
	port, addr, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return bad("want HOST:PORT:ADDR, e.g. example.com:443:127.0.0.1")
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case host == "" || strings.HasPrefix(host, "["):
		return bad("HOST must be a name, e.g. example.com:443:127.0.0.1")
	case strings.ContainsAny(host, "*+-") && (host[0] == '*' || host[0] == '+' || host[0] == '-'):
		return bad("wildcards and curl's +/- prefixes are not supported: give one HOST:PORT:ADDR per name")
	case strings.ContainsAny(host, "/ \t"):
		return bad("HOST must be a name, e.g. example.com:443:127.0.0.1")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return bad(fmt.Sprintf("PORT %q is not a number from 1 to 65535", port))
	}
	if strings.Contains(addr, ",") {
		return bad("one ADDR per entry")
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"))
	if err != nil || a.Zone() != "" {
		return bad(fmt.Sprintf("ADDR %q is not an IP address (write IPv6 in brackets: [::1])", addr))
	}
	return Resolve{Host: host, Port: p, Addr: a.Unmap()}, nil
}

// resolveAddr returns where a connection to host:port goes. An entry for
// the exact port wins; otherwise an entry for the host on another port is
// used with this port, so the plain-HTTP redirect probe (port 80) reaches
// the same server as the HTTPS probes and never the one DNS points at.
func (o Options) resolveAddr(host, port string) (netip.Addr, bool) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	var other *Resolve
	for i := range o.Resolve {
		r := &o.Resolve[i]
		if r.Host != host {
			continue
		}
		if strconv.Itoa(r.Port) == port {
			return r.Addr, true
		}
		if other == nil {
			other = r
		}
	}
	if other != nil {
		return other.Addr, true
	}
	return netip.Addr{}, false
}

// dial opens every connection of the audit: --resolve first, then
// o.DialContext or a net.Dialer.
func (o Options) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if a, ok := o.resolveAddr(host, port); ok {
			addr = net.JoinHostPort(a.String(), port)
		}
	}
	if o.DialContext != nil {
		return o.DialContext(ctx, network, addr)
	}
	d := net.Dialer{Timeout: o.timeout()}
	return d.DialContext(ctx, network, addr)
}

// Failure says why an audit could not run, and what to try.
type Failure string

const (
	FailDNS         Failure = "dns"         // the name does not resolve
	FailRefused     Failure = "refused"     // nothing listens on the port
	FailTimeout     Failure = "timeout"     // no answer in time
	FailUnreachable Failure = "unreachable" // no route to the address
	FailNotTLS      Failure = "not-tls"     // the port answers, not with TLS
	FailHandshake   Failure = "handshake"   // TLS refused or broken off
	FailCertificate Failure = "certificate" // the certificate is not trusted
	FailOther       Failure = "other"
)

// RunError is returned by Run when the audit cannot run at all. Its message
// says what happened where; Hint says what to try.
type RunError struct {
	Kind Failure
	Msg  string
	Hint string
	Err  error
}

func (e *RunError) Error() string { return e.Msg }
func (e *RunError) Unwrap() error { return e.Err }

// failure classifies err, met while connecting to (op "connect"),
// handshaking with (op "handshake") or requesting from (op "request")
// host:port, which --resolve may have sent to another address.
func (o Options) failure(op, host, port string, err error) *RunError {
	hp := net.JoinHostPort(host, port)
	where := hp
	if a, ok := o.resolveAddr(host, port); ok {
		where = fmt.Sprintf("%s (%s by --resolve)", hp, net.JoinHostPort(a.String(), port))
	}
	e := &RunError{Kind: FailOther, Err: err}
	var dnsErr *net.DNSError
	var recErr tls.RecordHeaderError
	var alert tls.AlertError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &dnsErr):
		e.Kind = FailDNS
		e.Msg = fmt.Sprintf("%s does not resolve: %v", host, dnsErr)
		e.Hint = fmt.Sprintf("check the name; to test a server before DNS points at it: --resolve %s:%s:ADDR", host, port)
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Kind = FailRefused
		e.Msg = fmt.Sprintf("nothing listens on %s: connection refused", where)
		e.Hint = "start the server, or put its HTTPS port in the URL (https://" + host + ":PORT/); https:// alone means port 443"
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		e.Kind = FailTimeout
		e.Msg = fmt.Sprintf("no answer from %s within %v (%s)", where, o.timeout(), op)
		e.Hint = "a firewall may drop the packets, or the address is not the server's; --timeout waits longer"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		e.Kind = FailUnreachable
		e.Msg = fmt.Sprintf("%s is unreachable: %v", where, err)
		e.Hint = "check the address and this machine's network route to it"
	case errors.As(err, &recErr):
		e.Kind = FailNotTLS
		e.Msg = fmt.Sprintf("%s does not speak TLS: its first bytes are not a TLS handshake", where)
		e.Hint = "is this the plain-HTTP port? give the HTTPS port in the URL; the plain-HTTP URL goes in --http-url"
	case errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr):
		e.Kind = FailCertificate
		e.Msg = fmt.Sprintf("the certificate of %s is not trusted: %v", where, err)
		e.Hint = "--ca FILE to trust the CA that issued it, or --insecure to audit a self-signed certificate"
	case op == "handshake" && (errors.As(err, &alert) || isRemoteAlert(err) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)):
		e.Kind = FailHandshake
		e.Msg = fmt.Sprintf("TLS handshake with %s failed: %v", where, err)
		e.Hint = "the server broke off the handshake: it may not speak TLS on that port, have no certificate for " + host +
			" (the name sent in SNI), or accept none of TLS 1.0 to 1.3"
	default:
		e.Msg = fmt.Sprintf("%s %s: %v", op, where, err)
	}
	return e
}

// isRemoteAlert reports a TLS alert from the peer: crypto/tls wraps it in
// a net.OpError "remote error" over TCP (tls.AlertError is QUIC's).
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
