package gateway

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/ban"
)

// TestCluster_AutoBanFromFailedLoginsOnTwoInstances: a password guesser
// spreads its failed logins over two instances sharing the real
// redis-server, never reaching the limit on either alone; the shared
// count bans it, and both instances refuse it, while another client goes
// on. The client is the one a trusted proxy names (the TCP peer is
// loopback, which is never banned automatically).
func TestCluster_AutoBanFromFailedLoginsOnTwoInstances(t *testing.T) {
	c := newCluster(t)
	c.extra = "trusted_proxies: [127.0.0.1/32]\nban: {max_retry: 4, find_time: 10m, ban_time: 1h}\n"
	a, b := c.start("redis://127.0.0.1:6379/0", ""), c.start("redis://127.0.0.1:6379/0", "")
	a.xff, b.xff = "203.0.113.9", "203.0.113.9"
	for i, in := range []*instance{a, b, a, b} {
		if resp, _ := in.login("alice", "wrong password"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failed login %d on %s: %d %s", i, in.name, resp.StatusCode, bodyOf(resp))
		}
	}
	for _, in := range []*instance{a, b} {
		within(t, 5*time.Second, "instance "+in.name+" refuses the banned client", func() bool {
			return in.do("GET", "/", "").StatusCode == http.StatusForbidden
		})
		// Even with the right password.
		if resp, _ := in.login("alice", alicePassword); resp.StatusCode != http.StatusForbidden {
			t.Errorf("instance %s: banned client's login: %d", in.name, resp.StatusCode)
		}
	}
	a.xff = "203.0.113.10"
	if resp, _ := a.login("alice", alicePassword); resp.StatusCode != http.StatusNoContent {
		t.Errorf("another client's login: %d %s", resp.StatusCode, bodyOf(resp))
	}
	if len(a.events(ban.ActionBanned))+len(b.events(ban.ActionBanned)) == 0 {
		t.Errorf("no ban_added event:\nA: %s\nB: %s", a.sec.String(), b.sec.String())
	}
}

// TestGateway_BannedPeerRefusedBeforeTLS: an operator's ban of a loopback
// address ends that peer's connections before the TLS handshake; another
// address is served.
func TestGateway_BannedPeerRefusedBeforeTLS(t *testing.T) {
	h := start(t, upstream(t).URL, "")
	if h.gw.banner == nil {
		t.Fatal("the auto-ban is on by default")
	}
	if _, err := h.gw.banner.Ban(context.Background(), netip.MustParsePrefix("127.0.0.2/32"), time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	if err := h.handshakeFrom("127.0.0.2"); err == nil {
		t.Error("a banned peer completed a TLS handshake")
	}
	if err := h.handshakeFrom("127.0.0.1"); err != nil {
		t.Errorf("another peer: %v", err)
	}
}

// TestGateway_IPRulesAndProbes: a denied network gets 403 and an
// authz_fail event, a route's allow list keeps others out of it, and a
// scanner's request for /.env is answered 404 by rampart (the application
// never sees it) with a malicious_probe event.
func TestGateway_IPRulesAndProbes(t *testing.T) {
	h := start(t, upstream(t).URL, "trusted_proxies: [127.0.0.1/32]\nip_rules:\n  deny: [198.51.100.0/24]\n  routes: [{prefix: /admin, allow: [10.0.0.0/8]}]\n")
	for _, tc := range []struct {
		client, path string
		want         int
	}{
		{"198.51.100.7", "/", 403},
		{"203.0.113.5", "/", 200},
		{"203.0.113.5", "/admin/users", 403},
		{"203.0.113.5", "/x/..%2fadmin", 400},
		{"10.1.2.3", "/admin/users", 200},
		{"203.0.113.5", "/.env", 404},
		{"203.0.113.5", "/.git/config", 404},
	} {
		resp, body := h.get(tc.path, http.Header{"X-Forwarded-For": {tc.client}})
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.client, tc.path, resp.StatusCode, tc.want)
		}
		if tc.want != 200 && strings.Contains(body, `"path"`) {
			t.Errorf("%s %s reached the application", tc.client, tc.path)
		}
		if tc.want == 403 && resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s %s: the 403 lacks the security headers", tc.client, tc.path)
		}
	}
	log := h.errlog.String()
	if !strings.Contains(log, `"event.action":"authz_fail"`) || !strings.Contains(log, `"event.action":"malicious_probe"`) {
		t.Errorf("missing authz_fail or malicious_probe events:\n%s", log)
	}
}

// handshakeFrom opens a TLS connection to the gateway from a loopback
// address of the test's choosing.
func (h *harness) handshakeFrom(from string) error {
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := tls.DialWithDialer(&d, "tcp", h.httpsAddr, &tls.Config{RootCAs: h.pool, ServerName: "app.test"})
	if err == nil {
		c.Close()
	}
	return err
}
