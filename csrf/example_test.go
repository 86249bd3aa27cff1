package csrf_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/rampart-dev/rampart/csrf"
)

func Example() {
	p, err := csrf.New(csrf.Options{
		// The single-page front end is served from another host of the
		// same site.
		TrustedOrigins: []string{"https://app.example.com"},
		// The JSON API authenticates with a session cookie: its unsafe
		// requests also carry the double-submit token.
		TokenPrefixes: []string{"/api/"},
		Secret:        []byte("an example secret of 32 bytes or more, random in practice"),
		SessionID: func(r *http.Request) string {
			return r.Header.Get("X-Example-Session") // a verified session id in practice
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "done") })
	h := p.Handler(app)

	// A cross-site form post with the user's cookies.
	forged := httptest.NewRequest("POST", "https://api.example.com/settings", nil)
	forged.Header.Set("Sec-Fetch-Site", "cross-site")
	forged.Header.Set("Origin", "https://attacker.example")
	fmt.Println(csrf.ReasonOf(p.Check(forged)))

	// The front end's fetch, echoing the readable cookie it was given.
	api := httptest.NewRequest("POST", "https://api.example.com/api/items", nil)
	api.Header.Set("Sec-Fetch-Site", "same-site")
	api.Header.Set("Origin", "https://app.example.com")
	api.Header.Set("X-Example-Session", "s-42")
	tok := p.TokenFor("s-42")
	api.AddCookie(p.Cookie(tok))
	api.Header.Set("X-CSRF-Token", tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, api)
	fmt.Println(rec.Code, p.Cookie(tok).Name)
	// Output:
	// cross_site
	// 200 __Host-rampart-csrf
}
