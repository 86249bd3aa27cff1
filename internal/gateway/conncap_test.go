package gateway

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// One client holding max_conns_per_client TLS connections (idle, as a
// descriptor-exhaustion attacker would) cannot open another; closing one
// lets it connect again. Through the whole gateway, with the listener the
// harness passes in Options.
func TestConnCap_GatewayOneClientCannotHoldMoreThanMax(t *testing.T) {
	h := start(t, upstream(t).URL, "listen: {max_conns_per_client: 3}\n")
	cfg := &tls.Config{RootCAs: h.pool, ServerName: "app.test"}
	var held []*tls.Conn
	for i := range 3 {
		c, err := tls.Dial("tcp", h.httpsAddr, cfg)
		if err != nil {
			t.Fatalf("connection %d of 3: %v", i+1, err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	if c, err := tls.Dial("tcp", h.httpsAddr, cfg); err == nil {
		c.Close()
		t.Fatal("fourth connection completed its TLS handshake over a cap of 3")
	}
	if log := h.errlog.String(); !strings.Contains(log, `"event.action":"excess_rate_limit_exceeded"`) ||
		!strings.Contains(log, `"max_conns_per_client":3`) {
		t.Errorf("refused connection not in the security log:\n%s", log)
	}

	// The server frees the slot when it notices the close, which it does
	// asynchronously: wait for it (the wait is bounded, not measured).
	held[0].Close()
	var c *tls.Conn
	for deadline := time.Now().Add(10 * time.Second); c == nil; {
		var err error
		if c, err = tls.Dial("tcp", h.httpsAddr, cfg); err != nil {
			c = nil
			if time.Now().After(deadline) {
				t.Fatalf("slot never freed after a connection closed: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	held[0] = c
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("request on the freed slot: status %d", resp.StatusCode)
	}
}

// The plain redirect listener is capped too: it would otherwise be the
// cheaper port to exhaust descriptors through.
func TestConnCap_GatewayRedirectListenerCapped(t *testing.T) {
	h := start(t, upstream(t).URL, "listen: {max_conns_per_client: 3}\n")
	redirect := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /x HTTP/1.1\r\nHost: app.test\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently {
			t.Errorf("redirect listener: status %d", resp.StatusCode)
		}
		return nil
	}
	for i := range 4 {
		c, err := net.Dial("tcp", h.httpAddr)
		if i == 3 && err != nil && strings.Contains(err.Error(), "connection reset") {
			break // refused so fast that connect saw the reset: a refusal too
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = redirect(c)
		if i < 3 && err != nil {
			t.Fatalf("connection %d of 3: %v", i+1, err)
		}
		if i == 3 && err == nil {
			t.Fatal("fourth plain connection answered over a cap of 3")
		}
	}
}

// Behind a load balancer every client arrives from its address: a trusted
// proxy is not counted, or the cap would lock out everyone at once.
func TestConnCap_GatewayTrustedProxyExempt(t *testing.T) {
	h := start(t, upstream(t).URL, "trusted_proxies: [127.0.0.1]\nlisten: {max_conns_per_client: 1}\n")
	cfg := &tls.Config{RootCAs: h.pool, ServerName: "app.test"}
	for i := range 4 {
		c, err := tls.Dial("tcp", h.httpsAddr, cfg)
		if err != nil {
			t.Fatalf("trusted proxy connection %d refused: %v", i+1, err)
		}
		defer c.Close()
	}
}
