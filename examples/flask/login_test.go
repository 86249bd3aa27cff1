package flask_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testenv"
	"github.com/rampart-dev/rampart/session"
)

// exampleAudience is the assertion audience of the example's rampart.yaml
// (auth.assertion_audience), which the app is given too.
const exampleAudience = "seed-app"

// example is the example running as documented: gunicorn, and rampart
// with the example's rampart.yaml, two users signed in.
type example struct {
	g      *gateway
	app    string // gunicorn's address
	appLog *testenv.Buffer
	secret []byte // rampart's secret_key
	jwks   []byte // the JWKS file rampart wrote
	// Browsers signed in: alice (role admin) and bob (no role).
	alice, bob  *http.Client
	aliceAccess string // alice's access token, as her cookie holds it
}

// startExample runs the app and rampart configured by the example's own
// rampart.yaml, in a directory of the test's: its relative users_file,
// state_dir and jwks_file land there. The users are made with `rampart
// user add`, the password on standard input as the README says.
func startExample(t *testing.T) *example {
	t.Helper()
	dir := t.TempDir()
	ex := &example{secret: []byte(randomKey(t))}
	jwksFile := filepath.Join(dir, "state", "jwks.json")
	ex.app, ex.appLog = startApp(t, jwksFile, exampleAudience)
	conf, err := os.ReadFile(filepath.Join(appDir(t), "rampart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "assertion_audience: "+exampleAudience) {
		t.Fatalf("rampart.yaml does not set assertion_audience: %s", exampleAudience)
	}
	// A copy, so that a developer's .env beside the example (read by
	// rampart beside its configuration) plays no part.
	if err := os.WriteFile(filepath.Join(dir, "rampart.yaml"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	alicePassword, bobPassword := "alice "+randomKey(t)[:20], "bob "+randomKey(t)[:20]
	addUser(t, dir, "alice", alicePassword, "admin")
	addUser(t, dir, "bob", bobPassword)
	ex.g = startGatewayIn(t, dir, []string{"RAMPART_SECRET_KEY=" + string(ex.secret)}, ex.app, "--config", filepath.Join(dir, "rampart.yaml"))
	if ex.jwks, err = os.ReadFile(jwksFile); err != nil {
		t.Fatalf("rampart did not write auth.jwks_file: %v", err)
	}
	ex.alice = signedIn(t, ex.g, "alice", alicePassword)
	ex.aliceAccess = sessionCookie(ex.alice, ex.g)
	ex.bob = signedIn(t, ex.g, "bob", bobPassword)
	return ex
}

// addUser runs `rampart user add --users dir/users.yaml name --role ...`
// with the password on standard input.
func addUser(t *testing.T, dir, name, password string, roles ...string) {
	t.Helper()
	args := []string{"user", "add", "--users", filepath.Join(dir, "users.yaml"), name}
	for _, r := range roles {
		args = append(args, "--role", r)
	}
	cmd := exec.Command(buildRampart(t), args...)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rampart user add %s: %v\n%s", name, err, out)
	}
}

// newBrowser is a client of the gateway with its own cookie jar.
func newBrowser(g *gateway) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *g.client
	c.Jar = jar
	return &c
}

// signIn posts rampart's login form, as the login page does.
func signIn(t *testing.T, g *gateway, c *http.Client, user, password, ua string) (*http.Response, []byte) {
	t.Helper()
	form := url.Values{"username": {user}, "password": {password}, "return": {"/account"}}
	return do(t, c, "POST", g.base()+"/.well-known/rampart/login", strings.NewReader(form.Encode()), http.Header{
		"Content-Type":   {"application/x-www-form-urlencoded"},
		"Origin":         {g.base()},
		"Sec-Fetch-Site": {"same-origin"},
		"User-Agent":     {ua},
	})
}

// signedIn is a browser signed in as user.
func signedIn(t *testing.T, g *gateway, user, password string) *http.Client {
	t.Helper()
	c := newBrowser(g)
	resp, body := signIn(t, g, c, user, password, "e2e-sign-in")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("signing in as %s = %s to %q, want 303 to /account\n%s", user, resp.Status, resp.Header.Get("Location"), body)
	}
	if sessionCookie(c, g) == "" {
		t.Fatalf("signing in as %s set no session cookie", user)
	}
	return c
}

// sessionCookie is the value of rampart's access cookie in c's jar.
func sessionCookie(c *http.Client, g *gateway) string {
	u, _ := url.Parse(g.base() + "/")
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "__Host-rampart-session" {
			return ck.Value
		}
	}
	return ""
}

// signer is a session.Manager on rampart's secret, with its clock at at:
// it signs assertions as the gateway does, for the app's positive control
// and for assertions with one thing wrong.
func (ex *example) signer(t *testing.T, at time.Time) *session.Manager {
	t.Helper()
	m, err := session.New(session.Options{Secret: ex.secret, Now: func() time.Time { return at }}, session.NewMemoryStore())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func assert(t *testing.T, m *session.Manager, user string, roles []string, audience string) string {
	t.Helper()
	a, err := m.Assert(session.Claims{User: user, Roles: roles, Session: "c2Vzc2lvbi1pZA"}, audience)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rawJWT is a compact JWS of the given header and claims, signed by sign
// (nil: an empty signature).
func rawJWT(t *testing.T, header, claims map[string]any, sign func([]byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := b64(h) + "." + b64(c)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(in))
	}
	return in + "." + b64(sig)
}

// assertionClaims are the claims of a good assertion at now.
func assertionClaims(user string, roles []string, audience string, now time.Time) map[string]any {
	return map[string]any{
		"iss": "rampart", "sub": user, "aud": audience, "typ": "rampart+assertion",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Minute).Unix(), "auth_time": now.Unix(),
		"sid": "c2Vzc2lvbi1pZA", "roles": roles,
	}
}

// jwksKeys are the keys of a JWKS: kid and the public key's x.
func jwksKeys(t *testing.T, jwks []byte) []struct{ Kid, X string } {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			X   string `json:"x"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("the JWKS file: %v\n%s", err, jwks)
	}
	out := make([]struct{ Kid, X string }, len(set.Keys))
	for i, k := range set.Keys {
		out[i].Kid, out[i].X = k.Kid, k.X
	}
	return out
}

func jwksKid(t *testing.T, jwks []byte) string { return jwksKeys(t, jwks)[0].Kid }

// forgeAssertion is an assertion in every way like the gateway's, naming
// one of its kids, signed by an attacker's own Ed25519 key.
func forgeAssertion(t *testing.T, jwks []byte, user string, roles []string) string {
	t.Helper()
	_, attacker, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]any{"alg": "EdDSA", "kid": jwksKid(t, jwks), "typ": "rampart+assertion"}
	return rawJWT(t, h, assertionClaims(user, roles, exampleAudience, time.Now()), func(in []byte) []byte { return ed25519.Sign(attacker, in) })
}

// hs256WithPublicKey is algorithm confusion: an HMAC keyed with the
// gateway's public key, which the attacker can read as well as the app.
func hs256WithPublicKey(t *testing.T, jwks []byte, kid string, claims map[string]any) string {
	t.Helper()
	var key []byte
	for _, k := range jwksKeys(t, jwks) {
		if k.Kid == kid {
			key, _ = base64.RawURLEncoding.DecodeString(k.X)
		}
	}
	return rawJWT(t, map[string]any{"alg": "HS256", "kid": kid, "typ": "rampart+assertion"}, claims, func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	})
}
