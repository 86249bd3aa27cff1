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

func ExamplePolicy_Validate() {
	p := secheaders.Policy{
		HSTS: secheaders.HSTS{Preload: true, ExcludeSubDomains: true},
		CSP:  secheaders.CSP{Directives: map[string][]string{"script-src": {"self"}}},
		Routes: []secheaders.Route{
			{Prefix: "/embed/", Headers: secheaders.Headers{CrossOriginResourcePolicy: "cross-origin"}},
		},
	}
	for _, e := range p.Validate() {
		kind := "error"
		if e.Warning {
			kind = "warning"
		}
		fmt.Printf("%s %s: %s\n", kind, e.Path, e.Message)
		if e.Hint != "" {
			fmt.Printf("\thint: %s\n", e.Hint)
		}
	}
	// Output:
	// error CSP.Directives[script-src]: unquoted self is read as a host name
	// 	hint: write 'self'
	// warning Routes[0].CrossOriginResourcePolicy: any site can embed these responses
	// error HSTS.Preload: needs max-age >= 1 year (31536000s) and includeSubDomains
	// 	hint: preload only once HTTPS works everywhere under the domain: browsers keep enforcing it for months after removal
}
