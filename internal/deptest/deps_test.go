// Package deptest holds rampart's import graph as a tested contract: each
// package may depend (directly or not) only on the standard library and the
// modules and packages listed for it. A library package picking up the
// gateway's internals, a Redis or Prometheus client, or any new module
// fails here, in review, instead of in a user's go.sum.
package deptest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/rampart-dev/rampart/"

// allowed lists, per package, the non-standard-library packages it may
// depend on, transitively: an entry ending in "/" allows every package
// below it.
// leaf is what every package may use: rampart's leaf packages (safe,
// field, and internal/reqstate, the per-request record the observing
// middleware share) and what safe.Token needs of golang.org/x/net
// (httpguts, whose idna import brings golang.org/x/text).
var leaf = []string{mod + "safe", mod + "field", mod + "internal/reqstate", "golang.org/x/net/http/httpguts", "golang.org/x/net/idna", "golang.org/x/text/"}

var allowed = map[string][]string{
	"safe":  {"golang.org/x/net/http/httpguts", "golang.org/x/net/idna", "golang.org/x/text/"},
	"field": {},
	// internal/reqstate: standard library only.
	"internal/reqstate": {},
	"httperr":           {},
	"clientip":          leafAnd(),
	"requestid":         leafAnd(),
	"seclog":            leafAnd(mod+"clientip", mod+"requestid"),
	"accesslog":         leafAnd(mod+"clientip", mod+"requestid", mod+"seclog"),
	"logfile":           leafAnd("gopkg.in/natefinch/lumberjack.v2"),
	"reqpath":           leafAnd(mod+"clientip", mod+"requestid", mod+"httperr", mod+"seclog"),
	// internal/httphead: the simple-head field parser the proxy shares
	// with the lane; standard library and httpguts only.
	"internal/httphead": leafAnd(),
	// internal/rawio: raw system calls for the TCP connections the proxy
	// and the listeners hold; standard library only.
	"internal/rawio": {},
	"proxy":          leafAnd(mod+"clientip", mod+"requestid", mod+"httperr", mod+"seclog", mod+"reqpath", mod+"internal/httphead", mod+"internal/rawio"),
	"secheaders": leafAnd(mod+"clientip", mod+"requestid", mod+"httperr", mod+"seclog", mod+"secheaders/", mod+"reqpath",
		"golang.org/x/net/html", "golang.org/x/net/html/"),
	"csrf":      leafAnd(mod+"clientip", mod+"requestid", mod+"httperr", mod+"seclog", mod+"reqpath"),
	"ratelimit": leafAnd(mod+"clientip", mod+"requestid", mod+"httperr", mod+"seclog", mod+"reqpath"),
	"ipfilter":  leafAnd(mod+"clientip", mod+"requestid", mod+"httperr", mod+"seclog", mod+"reqpath"),
	// ban: storage-agnostic; the Redis and bbolt stores are internal/state's.
	"ban": leafAnd(mod+"clientip", mod+"requestid", mod+"httperr", mod+"seclog", mod+"reqpath"),
	"ratelimit/redis": leafAnd(mod+"ratelimit", mod+"clientip", mod+"requestid", mod+"httperr", mod+"seclog", mod+"reqpath",
		"github.com/redis/go-redis/v9", "github.com/redis/go-redis/v9/",
		"github.com/cespare/xxhash/v2", "github.com/dgryski/go-rendezvous", "go.uber.org/atomic", "golang.org/x/sys/"),
	"securitytxt": leafAnd(mod + "httperr"),
	"check":       leafAnd(mod+"seclog", mod+"clientip", mod+"requestid", mod+"secheaders/csp", mod+"securitytxt", mod+"httperr", "golang.org/x/net/html", "golang.org/x/net/html/"),
	// metrics: the Prometheus client (with its protobuf exposition, its
	// content negotiation, and procfs for the process collector), and the
	// packages whose hooks it observes.
	"metrics": leafAnd(mod+"clientip", mod+"requestid", mod+"httperr", mod+"seclog", mod+"reqpath", mod+"proxy", mod+"internal/httphead", mod+"internal/rawio", mod+"ratelimit",
		"github.com/prometheus/", "github.com/beorn7/perks/", "github.com/cespare/xxhash/v2", "github.com/munnerz/goautoneg",
		"github.com/pandatix/go-abnf", "google.golang.org/protobuf/", "golang.org/x/sys/"),
	"internal/tlsconf": leafAnd(mod+"internal/certgen", "golang.org/x/crypto/", "golang.org/x/net/", "golang.org/x/text/"),
	"internal/listen":  leafAnd(mod+"httperr", mod+"requestid", mod+"seclog", mod+"clientip", mod+"internal/httphead", mod+"internal/rawio", "golang.org/x/net/", "golang.org/x/text/"),

	// users: the file's YAML, argon2 (with blake2b and its CPU feature
	// detection), the hashing budget's semaphore, TOTP (pquerna/otp,
	// whose Key.Image brings the QR code encoder).
	"users": leafAnd("go.yaml.in/yaml/v3", "golang.org/x/crypto/argon2", "golang.org/x/crypto/blake2b", "golang.org/x/sys/cpu",
		"golang.org/x/sync/semaphore", "github.com/pquerna/otp", "github.com/pquerna/otp/",
		"github.com/boombuler/barcode", "github.com/boombuler/barcode/"),
	// session: go-jose (which imports nothing outside the standard
	// library) and x/crypto's HKDF, nothing else; storetest adds only
	// session itself.
	"session":           leafAnd("github.com/go-jose/go-jose/v4", "github.com/go-jose/go-jose/v4/", "golang.org/x/crypto/hkdf"),
	"session/storetest": leafAnd(mod+"session", "github.com/go-jose/go-jose/v4", "github.com/go-jose/go-jose/v4/", "golang.org/x/crypto/hkdf"),
}

func leafAnd(more ...string) []string { return append(append([]string(nil), leaf...), more...) }

type listed struct {
	ImportPath string
	Standard   bool
	Deps       []string
}

func TestImportGraph(t *testing.T) {
	args := []string{"list", "-deps=false", "-json=ImportPath,Standard,Deps"}
	for p := range allowed {
		args = append(args, mod+p)
	}
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	std := map[string]bool{}
	stdOut, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatalf("go list std: %v", err)
	}
	for _, p := range strings.Fields(string(stdOut)) {
		std[p] = true
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var l listed
		if err := dec.Decode(&l); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		name := strings.TrimPrefix(l.ImportPath, mod)
		for _, d := range l.Deps {
			if std[d] || strings.HasPrefix(d, "vendor/") || strings.HasPrefix(d, "internal/") {
				continue
			}
			if !permitted(allowed[name], d) {
				t.Errorf("%s depends on %s, which is not in its allowed list (internal/deptest)", name, d)
			}
		}
	}
	if seen != len(allowed) {
		t.Errorf("go list returned %d packages, want %d", seen, len(allowed))
	}
}

func permitted(list []string, dep string) bool {
	for _, a := range list {
		if dep == a || strings.HasSuffix(a, "/") && strings.HasPrefix(dep, a) {
			return true
		}
	}
	return false
}
