package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/users"
)

// Identity state shared by several rampart instances through the real
// redis-server: what a load balancer spreading one browser's requests
// over them needs. Each test has its own key prefix, so tests never see
// each other's sessions or counters, and removes its keys at the end.

// cluster is what the instances of one test share: the secret key, the
// users file, the certificate, the application and the Redis prefix.
type cluster struct {
	t        *testing.T
	dir      string
	cert     string
	key      string
	pool     *x509.CertPool
	users    string
	secret   string
	prefix   string
	upstream string
	n        int
	// extra is more configuration for every instance started after it
	// is set; authExtra more keys of its auth: section.
	extra, authExtra string
}

// The users of every cluster, with their passwords.
const (
	alicePassword = "correct horse battery staple 1"
	bobPassword   = "correct horse battery staple 2"
)

func newCluster(t *testing.T) *cluster {
	t.Helper()
	addr := testenv.Redis(t)
	var b [6]byte
	rand.Read(b[:])
	c := &cluster{t: t, dir: t.TempDir(), prefix: "rampart-test-cluster-" + hex.EncodeToString(b[:]) + ":",
		secret: base64.StdEncoding.EncodeToString(randomKey())}
	c.cert, c.key, c.pool = testenv.WriteCert(t, c.dir, "app.test")
	var doc strings.Builder
	doc.WriteString("users:\n")
	for _, u := range []struct{ name, password, roles string }{{"alice", alicePassword, "[staff]"}, {"bob", bobPassword, "[]"}} {
		hash, err := users.Hash(u.password)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&doc, "  - name: %s\n    hash: '%s'\n    roles: %s\n", u.name, hash, u.roles)
	}
	c.users = filepath.Join(c.dir, "users.yaml")
	if err := os.WriteFile(c.users, []byte(doc.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// The application says who rampart told it the user is.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"user": r.Header.Get(auth.DefaultUserHeader)})
	}))
	t.Cleanup(app.Close)
	c.upstream = app.URL
	t.Cleanup(func() { dropKeys(t, addr, c.prefix) })
	return c
}

func randomKey() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// dropKeys removes the keys under prefix: a shared Redis is left as it
// was found.
func dropKeys(t *testing.T, addr, prefix string) {
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := rc.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		rc.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("removing the test's Redis keys: %v", err)
	}
}

// instance is one running rampart of a cluster.
type instance struct {
	t      *testing.T
	name   string
	addr   string
	client *http.Client
	sec    *testenv.Buffer // the security log
	diag   *testenv.Buffer // rampart's own log
	gw     *Gateway
	src    config.Source
	// xff, when set, is sent as X-Forwarded-For (with trusted_proxies
	// in c.extra: the client rampart sees).
	xff string
}

// start runs an instance with its own state directory and listeners,
// sharing Redis at redisURL (the real one, or a proxy in front of it)
// under the cluster's prefix; onError is auth.redis.on_backend_error
// ("" for the default).
func (c *cluster) start(redisURL, onError string) *instance {
	t := c.t
	t.Helper()
	c.n++
	in := &instance{t: t, name: string(rune('A' + c.n - 1)), sec: &testenv.Buffer{}, diag: &testenv.Buffer{}}
	onErr := ""
	if onError != "" {
		onErr = ", on_backend_error: " + onError
	}
	yaml := fmt.Sprintf(`hosts: [app.test]
state_dir: %q
tls: {cert_file: %q, key_file: %q}
upstream: {url: %q}
auth:
  users_file: %q
  session: {refresh_grace: 1ms}
%s  redis: {url: %q, prefix: %q%s}
  rules:
    - {prefix: /, require: authenticated}
%s`, filepath.Join(c.dir, "state-"+in.name), c.cert, c.key, c.upstream, c.users, c.authExtra, redisURL, c.prefix, onErr, c.extra)
	env := func(name string) (string, bool) {
		if name == "RAMPART_SECRET_KEY" {
			return c.secret, true
		}
		return "", false
	}
	in.src = config.Source{Path: "cluster-" + in.name + ".yaml", Data: []byte(yaml), LookupEnv: env}
	plan, fs := config.Load(in.src)
	if plan == nil {
		t.Fatalf("instance %s: %s", in.name, fs.Error())
	}
	httpsLn, _ := net.Listen("tcp", "127.0.0.1:0")
	httpLn, _ := net.Listen("tcp", "127.0.0.1:0")
	in.addr = httpsLn.Addr().String()
	gw, err := New(plan, Options{AdminListener: testenv.Listener(t), Logger: slog.New(slog.NewJSONHandler(in.diag, nil)), Stdout: io.Discard, Stderr: in.sec,
		HTTPSListener: httpsLn, HTTPListener: httpLn})
	if err != nil {
		t.Fatalf("instance %s: %v", in.name, err)
	}
	in.gw = gw
	if err := gw.Listen(); err != nil {
		t.Fatalf("instance %s: %v", in.name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("instance %s: Run: %v", in.name, err)
		}
	})
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: c.pool, ServerName: "app.test"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, in.addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	in.client = &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return in
}

// do sends a request as a script of https://app.test would, with the
// given cookies (nil ones skipped).
func (in *instance) do(method, path, body string, cookies ...*http.Cookie) *http.Response {
	in.t.Helper()
	req, _ := http.NewRequest(method, "https://app.test"+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		req.Header.Set("Origin", "https://app.test")
	}
	req.Header.Set("Accept", "application/json")
	if in.xff != "" {
		req.Header.Set("X-Forwarded-For", in.xff)
	}
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	resp, err := in.client.Do(req)
	if err != nil {
		in.t.Fatalf("instance %s: %s %s: %v", in.name, method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

// cookies are a browser's rampart cookies.
type cookies struct {
	access, refresh *http.Cookie
}

// update takes the cookies resp sets.
func (c *cookies) update(resp *http.Response) {
	for _, ck := range resp.Cookies() {
		switch ck.Name {
		case auth.SessionCookie:
			c.access = ck
		case auth.RefreshCookie:
			c.refresh = ck
		}
	}
}

// login signs user in through the JSON API and returns the response and
// the cookies set.
func (in *instance) login(user, password string) (*http.Response, cookies) {
	in.t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp := in.do(http.MethodPost, auth.LoginPath, string(body))
	var c cookies
	c.update(resp)
	return resp, c
}

// mustLogin is login that must succeed.
func (in *instance) mustLogin(user, password string) cookies {
	in.t.Helper()
	resp, c := in.login(user, password)
	if resp.StatusCode != http.StatusNoContent || c.access == nil || c.refresh == nil {
		in.t.Fatalf("instance %s: login of %s: %d %s\n%s", in.name, user, resp.StatusCode, bodyOf(resp), in.diag.String())
	}
	return c
}

// refresh presents a refresh cookie (the script form).
func (in *instance) refresh(refresh *http.Cookie) (*http.Response, cookies) {
	in.t.Helper()
	resp := in.do(http.MethodPost, auth.RefreshPath, "", refresh)
	var c cookies
	c.update(resp)
	return resp, c
}

// user asks the application, through the instance, who the access
// cookie is: the user, or "" and the status when rampart refused it.
func (in *instance) user(access *http.Cookie) (string, int) {
	in.t.Helper()
	resp := in.do(http.MethodGet, "/private", "", access)
	if resp.StatusCode != http.StatusOK {
		return "", resp.StatusCode
	}
	var v struct{ User string }
	json.NewDecoder(resp.Body).Decode(&v)
	return v.User, resp.StatusCode
}

// accepts reports whether the instance lets the access cookie through.
func (in *instance) accepts(access *http.Cookie) bool {
	in.t.Helper()
	u, code := in.user(access)
	switch {
	case code == http.StatusOK && u != "":
		return true
	case code == http.StatusUnauthorized:
		return false
	}
	in.t.Fatalf("instance %s: /private: %d for %q", in.name, code, u)
	return false
}

func bodyOf(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// within polls cond every 50 ms (under the default flood guard of 50
// requests a second per client) until it holds or limit has passed, and
// returns how many times it asked. Every wait of these tests is bounded
// by it.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) int {
	t.Helper()
	start := time.Now()
	polls := 1
	for ; !cond(); polls++ {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return polls
}

// events returns the security events of the given name in the
// instance's log.
func (in *instance) events(name string) []map[string]any {
	var out []map[string]any
	for line := range strings.Lines(in.sec.String()) {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && e["event.action"] == name {
			out = append(out, e)
		}
	}
	return out
}

// A user signs in on A; the load balancer sends the next requests to B,
// which knows the session: same keys derived from the shared secret, and
// the refresh token's family in Redis, rotated there by B and usable
// again on A.
func TestCluster_SessionBegunOnOneInstanceServedByTheOther(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("redis://127.0.0.1:6379/0", ""), c.start("redis://127.0.0.1:6379/0", "")
	s := a.mustLogin("alice", alicePassword)
	if u, code := b.user(s.access); u != "alice" {
		t.Fatalf("B with A's access cookie: %d, user %q", code, u)
	}

	resp, next := b.refresh(s.refresh)
	if resp.StatusCode != http.StatusNoContent || next.access == nil || next.refresh == nil {
		t.Fatalf("refresh on B of a session begun on A: %d %s", resp.StatusCode, bodyOf(resp))
	}
	if next.refresh.Value == s.refresh.Value {
		t.Error("B's refresh did not rotate the refresh token")
	}
	if next.refresh.Path != auth.RefreshPath || !next.refresh.Secure || !next.refresh.HttpOnly {
		t.Errorf("B's refresh cookie: %+v", next.refresh)
	}
	if u, _ := a.user(next.access); u != "alice" {
		t.Errorf("A with the access token B issued: %q", u)
	}
	resp, again := a.refresh(next.refresh)
	if resp.StatusCode != http.StatusNoContent || again.refresh == nil || again.refresh.Value == next.refresh.Value {
		t.Errorf("A refreshing the token B rotated: %d %s", resp.StatusCode, bodyOf(resp))
	}
}

// A stolen access cookie (copied before its user signed out on A) is
// refused by B as soon as the revocation reaches it over pub/sub, not
// when the token expires an hour later. B had verified and cached the
// token before the logout.
func TestCluster_StolenCookieAfterLogoutRefusedByTheOtherInstance(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("redis://127.0.0.1:6379/0", ""), c.start("redis://127.0.0.1:6379/0", "")
	s := a.mustLogin("alice", alicePassword)
	if !b.accepts(s.access) {
		t.Fatal("B refused a live session")
	}
	resp := a.do(http.MethodPost, auth.LogoutPath, "{}", s.access)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout on A: %d %s", resp.StatusCode, bodyOf(resp))
	}
	loggedOut := time.Now()
	polls := within(t, 5*time.Second, "B refusing the cookie of a session ended on A", func() bool { return !b.accepts(s.access) })
	t.Logf("logout on A enforced by B %v after A answered, at poll %d (pub/sub; measured, not asserted)", time.Since(loggedOut), polls)
	if a.accepts(s.access) {
		t.Error("A still accepts the cookie of the session it ended")
	}
	if r, _ := b.refresh(s.refresh); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh on B of the ended session: %d", r.StatusCode)
	}
	if len(b.events("session_use_after_expire")) == 0 {
		t.Errorf("B did not log the ended session's cookie: %s", b.sec.String())
	}
}

// "Sign out everywhere" on B ends the sessions the user began on A, for
// both instances: access cookies and refresh tokens.
func TestCluster_LogoutEverywhereOnOneInstanceEndsSessionsOfTheOther(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("redis://127.0.0.1:6379/0", ""), c.start("redis://127.0.0.1:6379/0", "")
	laptop := a.mustLogin("alice", alicePassword)
	phone := a.mustLogin("alice", alicePassword)
	other := a.mustLogin("bob", bobPassword)
	resp := b.do(http.MethodPost, auth.LogoutPath, `{"everywhere": true}`, phone.access)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout everywhere on B: %d %s", resp.StatusCode, bodyOf(resp))
	}
	loggedOut := time.Now()
	polls := within(t, 5*time.Second, "A refusing the sessions ended on B", func() bool {
		return !a.accepts(laptop.access) && !a.accepts(phone.access)
	})
	t.Logf("logout everywhere on B enforced by A %v after B answered, at poll %d", time.Since(loggedOut), polls)
	if b.accepts(laptop.access) {
		t.Error("B accepts a session of the user it signed out everywhere")
	}
	for _, in := range []*instance{a, b} {
		for name, s := range map[string]cookies{"laptop": laptop, "phone": phone} {
			if r, _ := in.refresh(s.refresh); r.StatusCode != http.StatusUnauthorized {
				t.Errorf("refresh on %s of the %s session: %d", in.name, name, r.StatusCode)
			}
		}
	}
	if !a.accepts(other.access) || !b.accepts(other.access) {
		t.Error("another user's session was ended too")
	}
}

// A refresh token stolen before its user's browser rotated it on A is
// replayed by the thief on B after the grace window: B sees the reuse
// (the family in Redis knows the token is old), refuses it, logs
// authn_token_reuse, and the whole session ends on A too.
func TestCluster_StolenRefreshTokenReplayedOnTheOtherInstance(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("redis://127.0.0.1:6379/0", ""), c.start("redis://127.0.0.1:6379/0", "")
	s := a.mustLogin("alice", alicePassword)
	resp, rotated := a.refresh(s.refresh)
	if resp.StatusCode != http.StatusNoContent || rotated.refresh == nil {
		t.Fatalf("refresh on A: %d %s", resp.StatusCode, bodyOf(resp))
	}
	time.Sleep(20 * time.Millisecond) // past the 1 ms grace window (refresh_grace: 1ms)
	resp, got := b.refresh(s.refresh)
	if resp.StatusCode != http.StatusUnauthorized || got.access != nil && got.access.Value != "" {
		t.Fatalf("the replayed token on B: %d, cookies %+v", resp.StatusCode, got)
	}
	reuse := b.events("authn_token_reuse")
	if len(reuse) != 1 || reuse[0]["user.name"] != "alice" || reuse[0]["session"] == "" {
		t.Fatalf("B's authn_token_reuse events: %v\n%s", reuse, b.sec.String())
	}
	if strings.Contains(b.sec.String(), s.refresh.Value) {
		t.Error("the security log holds the refresh token")
	}
	refused := time.Now()
	polls := within(t, 5*time.Second, "A refusing the session B revoked", func() bool {
		return !a.accepts(s.access) && !a.accepts(rotated.access)
	})
	t.Logf("reuse detected on B enforced by A %v after B answered, at poll %d", time.Since(refused), polls)
	if r, _ := a.refresh(rotated.refresh); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the user's own (latest) refresh token on A after the reuse: %d", r.StatusCode)
	}
}

// Password guessing spread over the instances behind a load balancer
// gets no more tries than against one: failures for the same user from
// the same address add up in Redis, and after the fifth, whichever
// instance gets the next attempt answers 429 with Retry-After, before
// looking at the password (the right one is refused too).
func TestCluster_PasswordGuessingSpreadOverInstances(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("redis://127.0.0.1:6379/0", ""), c.start("redis://127.0.0.1:6379/0", "")
	ins := []*instance{a, b}
	for i := range 5 {
		in := ins[i%2]
		if resp, _ := in.login("alice", fmt.Sprintf("guess %d", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d on %s: %d %s", i+1, in.name, resp.StatusCode, bodyOf(resp))
		}
	}
	// The counts in each instance's log are the cluster's, not its own.
	var counts []float64
	for i := range 5 {
		in := ins[i%2]
		fails := in.events("authn_login_fail")
		counts = append(counts, fails[i/2]["failures_user"].(float64))
	}
	if fmt.Sprint(counts) != "[1 2 3 4 5]" {
		t.Errorf("failures_user logged by A, B, A, B, A: %v, want [1 2 3 4 5]", counts)
	}
	// The back-off after the fifth failure is one second; these attempts
	// follow at once.
	for _, in := range []*instance{b, a} {
		resp, ck := in.login("alice", alicePassword)
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || secs < 1 || ck.access != nil {
			t.Errorf("attempt after the fifth failure, on %s: %d, Retry-After %q", in.name, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if len(in.events("authn_login_lock")) != 1 {
			t.Errorf("%s: authn_login_lock events: %v", in.name, in.events("authn_login_lock"))
		}
	}
}

// One instance loses its link to Redis (Redis and the other instances
// carry on) with on_backend_error: fail_local, the default. It starts
// all the same, with the revocations it holds locally; password guesses
// are still limited, counted locally; a logout made meanwhile is enforced
// by it at once and reaches the other instances once the link is back
// (the gateway pushes local revocations again every 5 s): none is lost.
// New sessions cannot begin while the link is down: they live in Redis.
func TestCluster_RedisDownFailLocal(t *testing.T) {
	c := newCluster(t)
	link := testenv.NewProxy(t, "127.0.0.1:6379")
	link.Down()
	a := c.start("redis://127.0.0.1:6379/0", "")
	cut := c.start("redis://"+link.Addr+"/0", "") // starts without Redis

	// A Redis address where nothing listens at all (connection refused,
	// not closed): the instance starts and counts locally too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := "redis://" + ln.Addr().String() + "/0"
	ln.Close()
	if resp, _ := c.start(nowhere, "").login("alice", "guess"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong password on an instance whose Redis address refuses connections: %d %s", resp.StatusCode, bodyOf(resp))
	}

	for i := range 5 {
		if resp, _ := cut.login("alice", fmt.Sprintf("guess %d", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d while Redis is down: %d %s", i+1, resp.StatusCode, bodyOf(resp))
		}
	}
	if resp, _ := cut.login("alice", alicePassword); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("attempt after five local failures: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ := cut.login("bob", bobPassword); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a login while sessions cannot be stored: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	link.Up()
	var s cookies
	within(t, 10*time.Second, "a login once Redis is back", func() bool {
		var resp *http.Response
		resp, s = cut.login("bob", bobPassword)
		return resp.StatusCode == http.StatusNoContent
	})
	if !a.accepts(s.access) {
		t.Fatal("A refuses a session begun on the other instance")
	}

	link.Down()
	if !cut.accepts(s.access) {
		t.Error("an access token issued before the outage is refused during it")
	}
	if resp, ck := cut.refresh(s.refresh); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || ck.refresh != nil {
		t.Errorf("a refresh while sessions cannot be stored: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := cut.do(http.MethodPost, auth.LogoutPath, "{}", s.access); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout while Redis is down: %d %s", resp.StatusCode, bodyOf(resp))
	}
	if cut.accepts(s.access) {
		t.Error("the instance that made the logout still accepts the cookie")
	}
	if !a.accepts(s.access) {
		t.Fatal("A refused the cookie before the revocation could reach Redis: the link was not down")
	}
	link.Up()
	back := time.Now()
	polls := within(t, 15*time.Second, "A refusing the cookie once the logout reached Redis", func() bool { return !a.accepts(s.access) })
	t.Logf("a logout made while Redis was unreachable reached A %v after the link came back, at poll %d (the push runs every 5 s)", time.Since(back), polls)
	if r, _ := a.refresh(s.refresh); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh on A of the session ended while Redis was down: %d", r.StatusCode)
	}
}

// fail_closed: while Redis is unreachable, logins answer 503 (with
// Retry-After), a wrong password too: nothing is counted, nothing is
// learnt about the password. Logins work again once Redis is back.
func TestCluster_RedisDownFailClosedRefusesLogins(t *testing.T) {
	c := newCluster(t)
	link := testenv.NewProxy(t, "127.0.0.1:6379")
	link.Down()
	in := c.start("redis://"+link.Addr+"/0", "fail_closed")
	for _, pw := range []string{alicePassword, "guess"} {
		resp, ck := in.login("alice", pw)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || ck.access != nil {
			t.Errorf("login while Redis is down (fail_closed): %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	link.Up()
	within(t, 10*time.Second, "a login once Redis is back", func() bool {
		resp, _ := in.login("alice", alicePassword)
		return resp.StatusCode == http.StatusNoContent
	})
}

// B's link to Redis fails while A ends a session: the announcement is
// published to nobody on B's side. Once B's link is back, B must refuse
// the session's cookie all the same (it reads the revocations in force
// again when it subscribes again), not accept it until it expires.
func TestCluster_LogoutDuringOtherInstancesOutageEnforcedAfterReconnect(t *testing.T) {
	c := newCluster(t)
	link := testenv.NewProxy(t, "127.0.0.1:6379")
	a := c.start("redis://127.0.0.1:6379/0", "")
	b := c.start("redis://"+link.Addr+"/0", "")
	s := a.mustLogin("alice", alicePassword)
	if !b.accepts(s.access) {
		t.Fatal("B refused a live session")
	}
	link.Down()
	if resp := a.do(http.MethodPost, auth.LogoutPath, "{}", s.access); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout on A: %d %s", resp.StatusCode, bodyOf(resp))
	}
	if !b.accepts(s.access) {
		t.Fatal("B refused the cookie while cut off from Redis: the link was not down")
	}
	link.Up()
	back := time.Now()
	polls := within(t, 10*time.Second, "B refusing, after its link came back, a session ended during the outage", func() bool { return !b.accepts(s.access) })
	t.Logf("B enforced the logout it missed %v after its link came back, at poll %d", time.Since(back), polls)
}

// revoke asks the instance's admin listener to end every session of user
// (what `rampart user revoke` sends).
func (in *instance) revoke(user, contentType string) (int, RevokeResult) {
	in.t.Helper()
	body, _ := json.Marshal(RevokeRequest{User: user})
	resp, err := http.Post("http://"+in.gw.AdminAddr().String()+RevokePath, contentType, strings.NewReader(string(body)))
	if err != nil {
		in.t.Fatalf("instance %s: revoke: %v", in.name, err)
	}
	defer resp.Body.Close()
	var res RevokeResult
	json.NewDecoder(resp.Body).Decode(&res)
	return resp.StatusCode, res
}

// An operator's revocation through A's admin listener ends every session
// of the user, the ones begun on B included, access cookies and refresh
// tokens, and no one else's; the user can sign in again. A form post
// (the only cross-site request a browser sends without asking) and a name
// the users file does not hold change nothing.
func TestCluster_OperatorRevokeEndsTheUsersSessionsEverywhere(t *testing.T) {
	c := newCluster(t)
	a, b := c.start("redis://127.0.0.1:6379/0", ""), c.start("redis://127.0.0.1:6379/0", "")
	laptop := b.mustLogin("alice", alicePassword)
	phone := b.mustLogin("alice", alicePassword)
	other := b.mustLogin("bob", bobPassword)

	if code, _ := a.revoke("alice", "application/x-www-form-urlencoded"); code != http.StatusUnsupportedMediaType {
		t.Errorf("a form post to the revoke API: %d, want 415", code)
	}
	if code, res := a.revoke("mallory", "application/json"); code != http.StatusNotFound || res.Revoked {
		t.Errorf("revoking a user the file does not hold: %d %+v, want 404", code, res)
	}
	if code, res := a.revoke("../alice", "application/json"); code != http.StatusBadRequest {
		t.Errorf("revoking a malformed name: %d %+v, want 400", code, res)
	}
	if !b.accepts(laptop.access) {
		t.Fatal("a refused revocation ended a session")
	}

	code, res := a.revoke("alice", "application/json")
	revoked := time.Now()
	if code != http.StatusOK || !res.Revoked || res.User != "alice" {
		t.Fatalf("revoke alice on A: %d %+v", code, res)
	}
	if a.accepts(laptop.access) || a.accepts(phone.access) {
		t.Error("A still accepts a session it revoked")
	}
	within(t, 5*time.Second, "B refusing the sessions revoked on A", func() bool {
		return !b.accepts(laptop.access) && !b.accepts(phone.access)
	})
	if r, _ := b.refresh(phone.refresh); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("refresh on B of a revoked session: %d", r.StatusCode)
	}
	if !a.accepts(other.access) || !b.accepts(other.access) {
		t.Error("revoking alice ended bob's session")
	}
	ev := a.events("authn_token_revoked")
	if len(ev) == 0 || ev[len(ev)-1]["user.name"] != "alice" || ev[len(ev)-1]["by"] != "operator" {
		t.Errorf("no authn_token_revoked event naming alice and the operator: %v", ev)
	}
	// Session times are whole seconds: a session begun in the second of
	// the revocation is ended too (session.Manager.LogoutUser).
	time.Sleep(time.Until(revoked.Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	if s := b.mustLogin("alice", alicePassword); !b.accepts(s.access) {
		t.Error("alice cannot sign in again after the revocation")
	}
	// No token reaches a log: sign-ins, refreshes, refusals and the
	// revocation are logged by user and session id only.
	for _, in := range []*instance{a, b} {
		for _, tok := range []*http.Cookie{laptop.access, laptop.refresh, phone.access, phone.refresh, other.access, other.refresh} {
			if strings.Contains(in.sec.String(), tok.Value) || strings.Contains(in.diag.String(), tok.Value) {
				t.Errorf("instance %s logged the value of %s", in.name, tok.Name)
			}
		}
	}
}
