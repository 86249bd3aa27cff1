package session_test

import (
	"context"
	"fmt"
	"log"

	"github.com/rampart-dev/rampart/session"
)

// A login, a request, a refresh and a logout, on one process's memory.
func Example() {
	ctx := context.Background()
	m, err := session.New(session.Options{
		Secret: []byte("example only: use 32+ random bytes from a secret store"),
	}, session.NewMemoryStore())
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// After checking the password: the access token goes in the
	// __Host-rampart-session cookie, the refresh token in a cookie scoped
	// to the refresh path.
	s, err := m.Start(ctx, "alice", []string{"staff"})
	if err != nil {
		log.Fatal(err)
	}

	// On each request.
	c, err := m.Verify(s.Access)
	fmt.Println(c.User, c.Roles, err)

	// When the access token is near its end.
	r, err := m.Refresh(ctx, s.Refresh)
	fmt.Println(r.Outcome, r.Refresh != s.Refresh, err)

	// The old refresh token again, after the grace window, would be a
	// reuse: the session is revoked (log authn_token_reuse).

	if err := m.Logout(ctx, s.ID); err != nil {
		log.Fatal(err)
	}
	_, err = m.Verify(r.Access)
	fmt.Println(session.ReasonOf(err))
	// Output:
	// alice [staff] <nil>
	// rotated true <nil>
	// revoked
}

// An application behind the gateway verifies the assertion with the
// gateway's public keys alone (the file auth.jwks_file, or
// /.well-known/rampart/jwks.json), never holding the secret.
func ExampleAssertionVerifier() {
	// The gateway's side, here only to make an assertion.
	gateway, err := session.New(session.Options{
		Secret: []byte("example only: use 32+ random bytes from a secret store"),
	}, session.NewMemoryStore())
	if err != nil {
		log.Fatal(err)
	}
	defer gateway.Close()
	assertion, err := gateway.Assert(session.Claims{User: "alice", Roles: []string{"staff"}, Session: "c2Vzc2lvbg"}, "rampart-upstream")
	if err != nil {
		log.Fatal(err)
	}
	jwks := gateway.JWKS() // the application reads os.ReadFile("/run/rampart/jwks.json")

	// The application's side: the JWKS, the issuer ("" is "rampart") and
	// its audience (auth.assertion_audience).
	v, err := session.NewAssertionVerifier(jwks, "", "rampart-upstream")
	if err != nil {
		log.Fatal(err)
	}
	// On each request: the X-Rampart-Assertion header. A user header
	// that is not the assertion's subject is refused too.
	c, err := v.Verify(assertion)
	fmt.Println(c.User, c.Roles, err)

	// When the reason is session.ReasonUnknownKey, read the JWKS again
	// and build a new verifier: the gateway's keys rotate.
	_, err = v.Verify("eyJhbGciOiJub25lIn0.e30.c2ln") // alg none
	fmt.Println(session.ReasonOf(err))
	// Output:
	// alice [staff] <nil>
	// algorithm
}
