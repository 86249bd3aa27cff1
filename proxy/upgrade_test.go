package proxy

import (
	"net/http"
	"testing"
)

// Upgrade protocols that would carry HTTP requests past the gateway after
// a 101 (h2c smuggling) are recognised in every spelling; WebSocket is not
// among them.
func TestUpgrade_H2CSmugglingSpellings(t *testing.T) {
	for v, want := range map[string]bool{
		"h2c": true, "H2C": true, " h2c ": true, "websocket, h2c": true, "h2": true,
		"HTTP/2.0": true, "http/1.1": true, "websocket": false, "WebSocket": false, "": false,
	} {
		if got := upgradeTunnelsHTTP([]string{v}); got != want {
			t.Errorf("upgradeTunnelsHTTP(%q) = %v, want %v", v, got, want)
		}
	}
	bad := http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"web\xffsocket"}}
	if !badUpgrade(bad) {
		t.Errorf("non-ASCII Upgrade not refused")
	}
	if badUpgrade(http.Header{"Upgrade": {"web\xffsocket"}}) {
		t.Errorf("Upgrade without Connection: upgrade is not an upgrade request")
	}
}
