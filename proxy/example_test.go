package proxy_test

import (
	"log"
	"net/http"
	"net/url"
	"time"

	"github.com/rampart-dev/rampart/proxy"
)

// A Flask or Django application on loopback, behind rampart's TLS listener.
func ExampleNew() {
	upstream, _ := url.Parse("http://127.0.0.1:5000")
	o := proxy.Options{
		Upstream:              upstream,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxBodyBytes:          20 << 20,
		StripRequestHeaders:   []string{"X-Tenant"},
	}
	for _, w := range o.Validate().Warnings() {
		log.Print("warning: ", w)
	}
	p, err := proxy.New(o)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServeTLS(":443", "cert.pem", "key.pem", p))
}

// An authentication stage passes the user to the application: the client
// cannot send this header itself, it is stripped before these are added.
func ExampleWithUpstreamHeaders() {
	upstream, _ := url.Parse("http://127.0.0.1:5000")
	p, _ := proxy.New(proxy.Options{Upstream: upstream})
	auth := func(w http.ResponseWriter, r *http.Request) {
		user := "alice" // from a verified session
		h := http.Header{"X-Auth-Request-User": {user}}
		p.ServeHTTP(w, r.WithContext(proxy.WithUpstreamHeaders(r.Context(), h)))
	}
	http.Handle("/", http.HandlerFunc(auth))
}
