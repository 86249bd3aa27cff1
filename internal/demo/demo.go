// Package demo is the small web application `rampart demo` protects: an
// HTML page with a form and a JSON API under /api/. It trusts the headers
// rampart sets (X-Real-IP, X-Forwarded-Proto, X-Request-ID) because it only
// listens on loopback behind rampart, which strips client-sent copies.
package demo

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"time"
)

// Config is the configuration `rampart demo` runs (demo.yaml): ordinary
// configuration keys, loaded like a rampart.yaml, not a mode of the
// configuration compiler.
//
//go:embed demo.yaml
var Config []byte

// ConfigName names Config in configuration findings.
const ConfigName = "demo.yaml (built in)"

// Handler returns the demo application.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", index)
	mux.HandleFunc("POST /submit", submit)
	mux.HandleFunc("GET /private", private)
	mux.HandleFunc("GET /admin", private)
	mux.HandleFunc("GET /api/hello", hello)
	mux.HandleFunc("GET /api/slow", slow)
	mux.HandleFunc("GET /api/panic", func(http.ResponseWriter, *http.Request) {
		panic("demo: a bug in the application")
	})
	return mux
}

type view struct {
	ClientIP, Proto, RequestID, Nonce, Message string
	// The identity rampart sends on a signed-in request.
	User, Roles, Assertion, Path string
}

func viewOf(r *http.Request) view {
	return view{
		ClientIP:  r.Header.Get("X-Real-IP"),
		Proto:     r.Header.Get("X-Forwarded-Proto"),
		RequestID: r.Header.Get("X-Request-ID"),
		Nonce:     r.Header.Get("X-CSP-Nonce"),
		User:      r.Header.Get("X-Rampart-User"),
		Roles:     r.Header.Get("X-Rampart-Roles"),
		Assertion: r.Header.Get("X-Rampart-Assertion"),
		Path:      r.URL.Path,
	}
}

// private is the protected area (/private, and /admin for the admin
// role): rampart let the request through only with a session, and says
// whose it is.
func private(w http.ResponseWriter, r *http.Request) {
	v := viewOf(r)
	if len(v.Assertion) > 24 {
		v.Assertion = v.Assertion[:24] + "…"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	privatePage.Execute(w, v)
}

func index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The demo sends its own Server header and a weaker policy on purpose:
	// rampart removes the first and replaces the second.
	w.Header().Set("Server", "demo-app/1.0 (Python/3.11; Werkzeug/2.2)")
	w.Header().Set("X-Powered-By", "demo")
	w.Header().Set("X-Frame-Options", "ALLOWALL")
	page.Execute(w, viewOf(r))
}

func submit(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	v := viewOf(r)
	v.Message = r.PostForm.Get("message")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, v)
}

func hello(w http.ResponseWriter, r *http.Request) {
	v := viewOf(r)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{
		"message":    "hello from the demo application",
		"client_ip":  v.ClientIP,
		"proto":      v.Proto,
		"request_id": v.RequestID,
		"time":       time.Now().UTC().Format(time.RFC3339),
	})
}

func slow(w http.ResponseWriter, r *http.Request) {
	select {
	case <-time.After(2 * time.Second):
	case <-r.Context().Done():
		return
	}
	hello(w, r)
}

var page = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>rampart demo</title>
<style{{if .Nonce}} nonce="{{.Nonce}}"{{end}}>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;line-height:1.5}code{background:#eee;padding:0 .2em}</style>
</head>
<body>
<h1>Behind rampart</h1>
<p>This application saw your address as <code>{{.ClientIP}}</code>, the scheme as <code>{{.Proto}}</code>
and request id <code>{{.RequestID}}</code>.</p>
{{if .Message}}<p>You said: <q>{{.Message}}</q></p>{{end}}
<form method="post" action="/submit">
<label>Message <input name="message" autocomplete="off"></label>
<button>Send</button>
</form>
<p>JSON API: <a href="/api/hello">/api/hello</a></p>
<p>Signed-in area: <a href="/private">/private</a> (any user), <a href="/admin">/admin</a> (the admin role).</p>
<p id="nonced">A script carrying this response's CSP nonce did not run.</p>
<p id="injected">An injected inline script without the nonce was blocked (the security log has the report).</p>
<script{{if .Nonce}} nonce="{{.Nonce}}"{{end}}>document.getElementById("nonced").textContent = "A script carrying this response's CSP nonce ran.";</script>
<script>document.getElementById("injected").textContent = "An injected inline script ran: CSP is not protecting this page!";</script>
</body>
</html>
`))

var privatePage = template.Must(template.New("private").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>rampart demo: {{.Path}}</title>
<style{{if .Nonce}} nonce="{{.Nonce}}"{{end}}>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;line-height:1.5}code{background:#eee;padding:0 .2em}</style>
</head>
<body>
<h1>Signed in as <code>{{.User}}</code></h1>
<p>rampart checked the session before this request reached the application, and told it who you are:
<code>X-Rampart-User: {{.User}}</code>, <code>X-Rampart-Roles: {{.Roles}}</code>, and a signed assertion
<code>X-Rampart-Assertion: {{.Assertion}}</code> it can verify against
<a href="/.well-known/rampart/jwks.json">the public keys</a>.</p>
<p>The application never saw your session cookie, and a client sending these headers itself is ignored.</p>
<form method="post" action="/.well-known/rampart/logout">
<button>Sign out</button>
<button name="everywhere" value="1">Sign out everywhere</button>
</form>
<p><a href="/">Home</a></p>
</body>
</html>
`))
