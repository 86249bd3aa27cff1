package securitytxt_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/securitytxt"
)

// A security.txt in front of an application: /.well-known/security.txt is
// answered, every other path reaches the application.
func ExampleNew() {
	file, err := securitytxt.New(securitytxt.Options{
		Contact:            []string{"mailto:security@example.com", "https://example.com/report"},
		Expires:            time.Now().AddDate(0, 6, 0), // renew before then
		PreferredLanguages: []string{"en", "fr"},
	})
	if err != nil {
		log.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "app") })
	h := file.Handler(app) // http.ListenAndServeTLS(":443", cert, key, h)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", securitytxt.Path, nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	for _, line := range strings.SplitAfterN(rec.Body.String(), "\n", 3)[:2] {
		fmt.Print(line) // then Expires, Preferred-Languages
	}
	// Output:
	// 200 text/plain; charset=utf-8
	// Contact: mailto:security@example.com
	// Contact: https://example.com/report
}

// Reading a file served elsewhere, as `rampart check` does.
func ExampleParse() {
	f := securitytxt.Parse([]byte("# security contacts\nContact: mailto:security@example.com\nExpires: 2027-01-31T23:59:59Z\n"))
	exp, err := f.Expires()
	fmt.Println(f.Values("contact"), exp, err)
	// Output:
	// [mailto:security@example.com] 2027-01-31 23:59:59 +0000 UTC <nil>
}
