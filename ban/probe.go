package ban

import (
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/seclog"
)

// DefaultProbePaths returns the paths Probe watches when
// ProbeOptions.Paths is empty: secrets and repositories left in a web
// root, and the login and configuration pages of software that is not
// there. Scanners ask for them on every address they find; no visitor of
// an application that does not serve them does. Each is a reqpath prefix:
// "/.git" covers /.git/config and /.GIT/HEAD, not /.github. The slice is
// a copy: changing it changes no Probe.
func DefaultProbePaths() []string { return slices.Clone(defaultProbePaths) }

var defaultProbePaths = []string{
	"/.env", "/.env.local", "/.env.production", "/.env.bak",
	"/.git", "/.svn", "/.hg",
	"/.aws", "/.ssh", "/.docker",
	"/.htpasswd", "/.htaccess", "/.DS_Store",
	"/wp-login.php", "/wp-config.php", "/xmlrpc.php",
	"/config.php", "/phpinfo.php", "/phpmyadmin",
}

// ProbeOptions configure a Probe. The zero value watches
// DefaultProbePaths() and answers them 404 itself.
type ProbeOptions struct {
	// Paths are the probe paths (reqpath prefixes). Empty:
	// DefaultProbePaths(). Remove the ones the application serves (a
	// WordPress site serves /wp-login.php).
	Paths []string
	// PassThrough sends probe requests on to the application after the
	// event, instead of answering 404: for an application that must see
	// them. Default false: a secret file left in the application's web
	// root is not served to anyone asking at a probe path.
	PassThrough bool
	// Log receives the malicious_probe events. Nil: slog.Default().
	Log *seclog.Logger
}

// Validate reports what is wrong with o by Go field path.
func (o ProbeOptions) Validate() field.Errors {
	var errs field.Errors
	for i, s := range o.Paths {
		if _, err := reqpath.ParsePrefix(s); err != nil {
			errs.Errorf(field.Index("Paths", i), "", "%v", err)
		} else if s == "/" {
			errs.Errorf(field.Index("Paths", i), "name the probe paths", "the root would make every request a probe")
		}
	}
	return errs
}

// Probe logs a malicious_probe security event for each request for a
// probe path, which a Banner counts toward bans by default.
type Probe struct {
	paths       []reqpath.Prefix
	passThrough bool
	log         *seclog.Logger
	sampler     *seclog.Sampler
}

// NewProbe compiles o.
func NewProbe(o ProbeOptions) (*Probe, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	paths := o.Paths
	if len(paths) == 0 {
		paths = defaultProbePaths
	}
	p := &Probe{passThrough: o.PassThrough, log: o.Log,
		// A scanner asks for dozens of paths a second: the first 20 of
		// a client every 10 s are logged, the others are counted in
		// the next one logged (its "suppressed"), and a Banner counts
		// them all.
		sampler: &seclog.Sampler{Burst: 20, Interval: 10 * time.Second, MaxKeys: 10000}}
	for _, s := range paths {
		p.paths = append(p.paths, reqpath.MustParsePrefix(s))
	}
	return p, nil
}

// Match reports whether the canonical path is a probe path, and which.
func (p *Probe) Match(path string) (string, bool) {
	if i := reqpath.Longest(p.paths, path); i >= 0 {
		return p.paths[i].String(), true
	}
	return "", false
}

// Handler logs requests for probe paths and answers them 404 (httperr's
// generic page), or passes them on under PassThrough. A path without a
// canonical form is passed on: reqpath refuses it in front.
func (p *Probe) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, err := reqpath.FromRequest(r)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		probe, ok := p.Match(path)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		p.caught(w, r, next, probe)
	})
}

// caught answers a request for a probe path: a sampled security event,
// then 404 or, with passThrough, next. Out of Handler's closure, so that
// what it needs on the stack is not reserved for every other request.
//
//go:noinline
func (p *Probe) caught(w http.ResponseWriter, r *http.Request, next http.Handler, probe string) {
	key := ""
	if a := clientip.FromRequest(r); a.IsValid() {
		key = clientip.Key(a).String()
	}
	if ok, suppressed := p.sampler.Allow(key); ok {
		p.log.Event(r.Context(), r, slog.LevelWarn, ActionProbe, "request for a path only scanners ask for",
			slog.String("probe", probe), slog.Int("suppressed", suppressed))
	}
	if p.passThrough {
		next.ServeHTTP(w, r)
		return
	}
	httperr.Write(w, r, http.StatusNotFound, "", requestid.FromRequest(r))
}
