package secheaders_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/rampart-dev/rampart/secheaders"
)

func Example() {
	m, err := secheaders.New(secheaders.Policy{
		CSP: secheaders.CSP{
			Nonce:  secheaders.NonceOptions{Enabled: true},
			Report: secheaders.ReportOptions{Enabled: true},
		},
		Routes: []secheaders.Route{
			// Partners may frame the widgets; X-Frame-Options is dropped
			// there because it cannot express an allow-list.
			{Prefix: "/embed/", CSP: map[string][]string{"frame-ancestors": {"https://partner.example"}}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<script nonce="%s">start()</script>`, secheaders.Nonce(r))
	})
	http.Handle("/", m.Handler(page))
	fmt.Println(m.Header("/embed/w", true, "N").Get("Content-Security-Policy"))
	// Output:
	// default-src 'self'; script-src 'self' 'nonce-N'; style-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors https://partner.example; form-action 'self'; report-uri /.well-known/rampart/csp-report; report-to rampart-csp
}
