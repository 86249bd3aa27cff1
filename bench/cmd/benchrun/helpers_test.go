package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testcert"
)

// startFunc is how the harness starts a target (startNginx, startCaddy).
type startFunc func(ctx context.Context, c config, dir, upstream, certFile, keyFile string) (*target, error)

// startTarget starts a target as the harness does, in a fresh directory
// with a certificate for localhost, in front of the harness's upstream;
// both stop when the test ends.
func startTarget(t *testing.T, start startFunc, c config) (tg *target, dir string, pair testcert.Pair) {
	t.Helper()
	dir = t.TempDir()
	pair, err := testcert.Write(dir, time.Hour, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	upstream, stopUpstream, err := startUpstream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopUpstream)
	tg, err = start(t.Context(), c, dir, upstream, pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.stop)
	return tg, dir, pair
}

// requestLogged sends GET url (trusting pair's certificate for localhost)
// and waits, up to 10 s, for logPath to hold want: the request's line in a
// target's access log, written out by its buffer within its flush interval.
func requestLogged(t *testing.T, pair testcert.Pair, url, logPath, want string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pair.Roots, ServerName: "localhost"}}, Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request never reached %s (want %q); it holds:\n%s", logPath, want, b)
		}
	}
}
