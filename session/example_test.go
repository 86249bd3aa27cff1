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
