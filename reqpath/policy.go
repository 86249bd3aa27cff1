package reqpath

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/seclog"
)

// Options relax the strict policy under chosen prefixes, for applications
// that need one of the refused forms. The zero value is the strict policy.
type Options struct {
	// InsecureAllowEncodedSlashes lists prefixes under which a path may
	// hold an encoded slash (%2F), for an API taking "group%2Fproject" as
	// one identifier (YAML paths.insecure_allow_encoded_slashes). Default
	// none. Under them, rules match the path with %2F read as a separator,
	// which is what WSGI servers route on; an application that keeps %2F as
	// data sees fewer segments than rampart matched, so a rule for a longer
	// prefix may apply to it that its router would not have chosen. A path
	// that has a dot segment once %2F separates ("..%2f") is refused
	// everywhere, and the relaxation applies only when that reading is
	// itself under the prefix. Warnings reports each entry.
	InsecureAllowEncodedSlashes []string

	// InsecureAllowSemicolons lists prefixes under which a path may hold
	// ";" path parameters (";jsessionid=..." of servlet applications)
	// (YAML paths.insecure_allow_semicolons). Default none. Under them,
	// rules match the path with the parameters stripped, as servlet
	// containers route; an application that keeps them as data routes on
	// a different segment name than rampart matched. "..;" is refused
	// everywhere. Warnings reports each entry.
	InsecureAllowSemicolons []string

	// Prefixes are the prefixes the rules behind the Policy's handler are
	// written for (rate limits, header routes, ...). A path that falls
	// under one of them only when ASCII case is ignored ("/API/x" for
	// /api/) is refused as a CaseVariant, unless CaseInsensitive is set:
	// Prefix matching ignores case, and an application comparing case
	// would serve such a path outside the rule.
	Prefixes []Prefix

	// CaseInsensitive says that the application routes paths ignoring
	// ASCII case, as Express does by default, and ASP.NET and IIS do
	// (YAML paths.case_insensitive). Default false, the behaviour of Flask,
	// Django, Rails, Spring and Go: case variants of the Prefixes are
	// refused. With it they are accepted, and rules match them, since the
	// application serves them as the same page.
	CaseInsensitive bool

	// Log receives an input_validation_fail security event per refused
	// request, at most one per client every 10 seconds with the count of
	// the others. Nil means slog.Default().
	Log *seclog.Logger
}

// Policy decides the canonical path of requests. Build it with New; the
// zero Policy is the strict one. It is immutable and safe for concurrent
// use.
type Policy struct {
	slashes, semicolons []Prefix
	prefixes            []Prefix
	allLower            bool // every prefix is written in lower case
	foldCase            bool
	log                 *seclog.Logger
	sampler             *seclog.Sampler
}

// Validate reports what is wrong with o, and what is valid but weakens a
// defence, by Go field path ("InsecureAllowSemicolons[1]"). New refuses o
// on any error; the warnings are for `rampart config check`.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	for _, l := range []struct {
		name, what string
		list       []string
	}{
		{"InsecureAllowEncodedSlashes", "%2F, which applications read either as a separator or as data; rules there match it as a separator", o.InsecureAllowEncodedSlashes},
		{"InsecureAllowSemicolons", ";parameters, which servlet containers strip and other servers keep; rules there match them stripped", o.InsecureAllowSemicolons},
	} {
		for i, s := range l.list {
			path := field.Index(l.name, i)
			if _, err := ParsePrefix(s); err != nil {
				errs.Errorf(path, "write a path prefix such as /api/files/", "%v", err)
				continue
			}
			errs.Warnf(path, "remove it unless the application needs these paths (README, Request paths)", "paths under %q may hold %s", s, l.what)
		}
	}
	return errs
}

// New validates o and returns the Policy.
func New(o Options) (*Policy, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	p := &Policy{log: o.Log, sampler: &seclog.Sampler{Burst: 1, Interval: 10 * time.Second, MaxKeys: 10000},
		prefixes: o.Prefixes, foldCase: o.CaseInsensitive}
	parse := func(list []string) []Prefix {
		var out []Prefix
		for _, s := range list {
			pre, _ := ParsePrefix(s) // validated
			out = append(out, pre)
		}
		return out
	}
	p.slashes = parse(o.InsecureAllowEncodedSlashes)
	p.semicolons = parse(o.InsecureAllowSemicolons)
	p.allLower = !slices.ContainsFunc(p.prefixes, func(pre Prefix) bool { return pre.p != pre.orig })
	return p, nil
}

// Canonical is the package's Canonical with p's relaxations.
func (p *Policy) Canonical(escaped string) (string, error) {
	if p == nil || len(p.slashes)+len(p.semicolons) == 0 {
		return canonical(escaped, nil)
	}
	return canonical(escaped, p.relax)
}

func (p *Policy) relax(strict string) allow {
	var a allow
	if Longest(p.slashes, strict) >= 0 {
		a |= allowEncodedSlash
	}
	if Longest(p.semicolons, strict) >= 0 {
		a |= allowSemicolon
	}
	return a
}

// Check returns the canonical path of r, or an *Error: Canonical, then the
// case check against Options.Prefixes.
func (p *Policy) Check(r *http.Request) (string, error) {
	c, err := p.Canonical(r.URL.EscapedPath())
	if err != nil || p == nil {
		return c, err
	}
	return p.checkCase(c)
}

// checkCase refuses a path that falls under a prefix only when case is
// ignored, or, for an application that ignores case, gives it in lower
// case, the form every rule's prefix is compared in.
func (p *Policy) checkCase(c string) (string, error) {
	if p.foldCase {
		return lowerASCII(c), nil
	}
	if p.allLower && !hasUpper(c) {
		// Nothing differs by case.
		return c, nil
	}
	for _, pre := range p.prefixes {
		if pre.Match(c) && !pre.matchCase(c) {
			return fail(CaseVariant)
		}
	}
	return c, nil
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// decision is what Decide records: the canonical path, or why there is
// none, and the Policy that decided (whose log Enforce writes to).
type decision struct {
	path string
	err  error
	p    *Policy
}

// Handler refuses requests whose path is ambiguous with 400 Bad Request (a
// generic page through httperr) and an input_validation_fail security
// event, and passes the others to next with their canonical path recorded
// for FromRequest. It is Decide followed by Enforce.
//
// It must run before every stage that matches paths. OPTIONS * has no
// path and is refused here like any other target that is not a path;
// answer it in front of this handler if it is wanted.
func (p *Policy) Handler(next http.Handler) http.Handler {
	return p.Decide(Enforce(next))
}

// Decide records the canonical path of each request, or why it has none,
// for FromRequest and Enforce, and passes every request on: a stage
// between Decide and Enforce (a header middleware that must also cover
// the 400) sees the same decision as the stages after. Use Handler unless
// the refusal must be answered further in.
func (p *Policy) Decide(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		escaped := r.URL.EscapedPath()
		c, err := p.Canonical(escaped)
		if err == nil {
			c, err = p.checkCase(c)
		}
		if err != nil || c != escaped {
			// Recorded only when it differs from the path as sent:
			// FromRequest recomputes a plain path in nanoseconds
			// without the allocation, and a plain path the Policy
			// accepts comes out the same under the strict one.
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, &decision{path: c, err: err, p: p}))
		}
		next.ServeHTTP(w, r)
	})
}

// Enforce refuses, with 400 and an input_validation_fail security event,
// each request whose path has no canonical form: as recorded by Decide in
// front, or, without it, under the strict policy.
func Enforce(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := r.Context().Value(ctxKey{}).(*decision)
		var err error
		if d != nil {
			err = d.err
		} else {
			_, err = Canonical(r.URL.EscapedPath())
		}
		if err != nil {
			var p *Policy
			if d != nil {
				p = d.p
			}
			p.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// strictLog is the sampler of refusals decided without a Policy.
var strictLog = &seclog.Sampler{Burst: 1, Interval: 10 * time.Second, MaxKeys: 10000}

func (p *Policy) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var log *seclog.Logger
	sampler := strictLog
	if p != nil {
		log, sampler = p.log, p.sampler
	}
	key := ""
	if a := clientip.FromRequest(r); a.IsValid() {
		key = clientip.Key(a).String()
	}
	if ok, suppressed := sampler.Allow(key); ok {
		log.Event(r.Context(), r, slog.LevelWarn, seclog.InputValidationFail,
			"request path refused: it could be read in more than one way",
			slog.String("reason", ReasonOf(err).String()),
			slog.String("raw_path", r.URL.EscapedPath()),
			slog.Int("suppressed", suppressed))
	}
	httperr.Write(w, r, http.StatusBadRequest, "", requestid.FromRequest(r))
}

// FromRequest returns the canonical path of r: the one recorded by a
// Policy's Decide (or Handler) in front, or else the strict Canonical of
// r's path. A stage that matches paths calls it and, on an error, refuses
// or takes the safe choice.
func FromRequest(r *http.Request) (string, error) {
	if d, ok := r.Context().Value(ctxKey{}).(*decision); ok {
		return d.path, d.err
	}
	return Canonical(r.URL.EscapedPath())
}
