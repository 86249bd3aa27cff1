package gateway

import (
	"bufio"
	"context"
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
	if code := getOn(t, c); code != 200 {
		t.Errorf("request on the freed slot: status %d", code)
	}
}

// getOn sends GET / on c and returns the answer's status.
func getOn(t *testing.T, c net.Conn) int {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
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

// A reload raises the connection cap on the running listener, keeping the
// connections already open: the client that was refused gets its next
// connection in, and is refused again only over the new cap. A reload
// that changes the listeners' timeouts is still refused as a whole.
func TestConnCap_ReloadChangesTheCap(t *testing.T) {
	h := start(t, upstream(t).URL, "listen: {max_conns_per_client: 2}\n")
	cfg := &tls.Config{RootCAs: h.pool, ServerName: "app.test"}
	var held []*tls.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	dial := func() error {
		c, err := tls.Dial("tcp", h.httpsAddr, cfg)
		if err == nil {
			held = append(held, c)
		}
		return err
	}
	for i := range 2 {
		if err := dial(); err != nil {
			t.Fatalf("connection %d of 2: %v", i+1, err)
		}
	}
	if dial() == nil {
		t.Fatal("third connection over a cap of 2")
	}
	h.rewrite("listen: {max_conns_per_client: 3, idle_timeout: 1m}\n")
	if err := h.gw.ReloadConfig(context.Background(), h.src); err == nil || !strings.Contains(err.Error(), "listen (timeouts, max_header_bytes") {
		t.Fatalf("a timeout change: %v, want a refusal naming it", err)
	}
	if dial() == nil {
		t.Fatal("a refused reload raised the cap")
	}
	h.rewrite("listen: {max_conns_per_client: 3}\n")
	if err := h.gw.ReloadConfig(context.Background(), h.src); err != nil {
		t.Fatal(err)
	}
	if err := dial(); err != nil {
		t.Fatalf("third connection after the cap was raised to 3: %v", err)
	}
	if dial() == nil {
		t.Fatal("fourth connection over the raised cap of 3")
	}
	// The connections opened before the reload still serve requests.
	if code := getOn(t, held[0]); code != 200 {
		t.Errorf("a connection from before the reload: status %d", code)
	}
}
