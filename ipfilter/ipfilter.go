// Package ipfilter refuses requests by client address: allow and deny
// lists of CIDR prefixes, for every path and per path prefix, like
// nginx's allow and deny directives.
//
// The client is the address resolved by package clientip (the real client
// behind trusted proxies, else the TCP peer; a forwarding header from an
// untrusted peer is never believed), unmapped, so ::ffff:10.0.0.1 is
// 10.0.0.1 and matches 10.0.0.0/8. Routes match the canonical path
// (package reqpath) segment by segment, ignoring case, like every other
// path rule of rampart; the longest matching route applies.
//
// A refused request gets 403 Forbidden, the generic page of package
// httperr, and an authz_fail security event naming the rule that refused
// it (sampled: at most one per client every 10 seconds, with the count of
// the others).
package ipfilter

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/field"
	"github.com/rampart-dev/rampart/httperr"
	"github.com/rampart-dev/rampart/reqpath"
	"github.com/rampart-dev/rampart/requestid"
	"github.com/rampart-dev/rampart/seclog"
)

// Options are the rules. The zero value allows every client.
//
// A client is refused when it falls in a Deny prefix, or when an Allow
// list is not empty and the client falls in none of its prefixes. Deny
// wins over Allow. The global lists and the lists of the longest route
// matching the path both apply: a route can refuse more clients than the
// global rules, never fewer (nginx replaces the inherited rules instead;
// here a global deny cannot be undone by a route by mistake).
type Options struct {
	// Allow, when not empty, is the only clients served on every path.
	Allow []netip.Prefix
	// Deny are clients refused on every path.
	Deny []netip.Prefix
	// Routes add rules under path prefixes.
	Routes []Route
	// Log receives the refusals (authz_fail). Nil: slog.Default().
	Log *seclog.Logger
}

// Route is rules for the paths under Prefix (a reqpath prefix: "/admin"
// covers /admin, /ADMIN/x, not /administrator).
type Route struct {
	Prefix string
	Allow  []netip.Prefix
	Deny   []netip.Prefix
}

// Filter is the compiled Options.
type Filter struct {
	global   rules
	prefixes []reqpath.Prefix
	routes   []rules
	log      *seclog.Logger
	sampler  *seclog.Sampler
}

type rules struct {
	allow, deny []netip.Prefix
}

// normalize masks p and folds an IPv4-mapped IPv6 prefix
// (::ffff:10.0.0.0/104) to its IPv4 form (10.0.0.0/8), so it matches the
// unmapped client addresses.
func normalize(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

func validatePrefixes(errs *field.Errors, path string, ps []netip.Prefix) {
	for i, p := range ps {
		switch {
		case !p.IsValid():
			errs.Errorf(field.Index(path, i), "write an address or a CIDR prefix: 10.0.0.0/8, 2001:db8::/32", "is not a valid prefix")
		case p.Addr().Zone() != "":
			errs.Errorf(field.Index(path, i), "remove the %zone", "a prefix has no zone")
		case p.Addr().Is4In6() && p.Bits() < 96:
			errs.Errorf(field.Index(path, i), "write the IPv4 prefix (10.0.0.0/8)", "an IPv4-mapped prefix shorter than /96 is not an IPv4 prefix")
		}
	}
}

// Validate reports what is wrong with o by Go field path.
func (o Options) Validate() field.Errors {
	var errs field.Errors
	validatePrefixes(&errs, "Allow", o.Allow)
	validatePrefixes(&errs, "Deny", o.Deny)
	seen := map[string]bool{}
	for i, r := range o.Routes {
		path := field.Index("Routes", i)
		p, err := reqpath.ParsePrefix(r.Prefix)
		if err != nil {
			errs.Errorf(path+".Prefix", "", "%v", err)
		} else if seen[p.String()] {
			errs.Errorf(path+".Prefix", "merge the two routes", "%s is the prefix of an earlier route", p)
		} else {
			seen[p.String()] = true
		}
		validatePrefixes(&errs, path+".Allow", r.Allow)
		validatePrefixes(&errs, path+".Deny", r.Deny)
		if len(r.Allow) == 0 && len(r.Deny) == 0 {
			errs.Warnf(path, "add allow or deny, or remove the route", "the route has no rule")
		}
	}
	return errs
}

func compile(allow, deny []netip.Prefix) rules {
	var r rules
	for _, p := range allow {
		r.allow = append(r.allow, normalize(p))
	}
	for _, p := range deny {
		r.deny = append(r.deny, normalize(p))
	}
	return r
}

// New compiles o; it refuses o when Validate finds an error.
func New(o Options) (*Filter, error) {
	if err := o.Validate().Err(); err != nil {
		return nil, err
	}
	f := &Filter{global: compile(o.Allow, o.Deny), log: o.Log,
		sampler: &seclog.Sampler{Burst: 1, Interval: 10 * time.Second, MaxKeys: 10000}}
	for _, r := range o.Routes {
		f.prefixes = append(f.prefixes, reqpath.MustParsePrefix(r.Prefix))
		f.routes = append(f.routes, compile(r.Allow, r.Deny))
	}
	return f, nil
}

// check returns "" when a is allowed by r, else the rule refusing it.
func (r *rules) check(a netip.Addr) string {
	for _, p := range r.deny {
		if p.Contains(a) {
			return "deny " + p.String()
		}
	}
	if len(r.allow) == 0 {
		return ""
	}
	for _, p := range r.allow {
		if p.Contains(a) {
			return ""
		}
	}
	return "not in allow list"
}

// Decision is why a request is refused: the rule and the route ("" for
// the global rules). The zero Decision allows.
type Decision struct {
	Rule  string
	Route string
}

// Allowed reports whether the request is allowed.
func (d Decision) Allowed() bool { return d.Rule == "" }

// Check decides r. A request without an IP client address (a Unix
// socket) is checked as an address no prefix contains: refused when an
// allow list applies. A path without a canonical form (which reqpath
// refuses in front anyway) is checked against every route.
func (f *Filter) Check(r *http.Request) Decision {
	a := clientip.FromRequest(r).Unmap().WithZone("")
	if rule := f.global.check(a); rule != "" {
		return Decision{Rule: rule}
	}
	if len(f.routes) == 0 {
		return Decision{}
	}
	path, err := reqpath.FromRequest(r)
	if err != nil {
		for i := range f.routes {
			if rule := f.routes[i].check(a); rule != "" {
				return Decision{Rule: rule, Route: f.prefixes[i].String()}
			}
		}
		return Decision{}
	}
	if i := reqpath.Longest(f.prefixes, path); i >= 0 {
		if rule := f.routes[i].check(a); rule != "" {
			return Decision{Rule: rule, Route: f.prefixes[i].String()}
		}
	}
	return Decision{}
}

// Handler refuses the requests Check refuses with 403 and an authz_fail
// event, and passes the others to next.
func (f *Filter) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := f.Check(r)
		if d.Allowed() {
			next.ServeHTTP(w, r)
			return
		}
		f.refuse(w, r, d)
	})
}

// refuse answers a request d refuses: 403, and a sampled security event.
// Out of Handler's closure, so that what it needs on the stack is not
// reserved for every request that passes.
//
//go:noinline
func (f *Filter) refuse(w http.ResponseWriter, r *http.Request, d Decision) {
	key := ""
	if a := clientip.FromRequest(r); a.IsValid() {
		key = clientip.Key(a).String()
	}
	if ok, suppressed := f.sampler.Allow(key); ok {
		attrs := []slog.Attr{slog.String("reason", "ip_rule"), slog.String("rule", d.Rule), slog.Int("status", http.StatusForbidden),
			slog.Int("suppressed", suppressed)}
		if d.Route != "" {
			attrs = append(attrs, slog.String("route", d.Route))
		}
		f.log.Event(r.Context(), r, slog.LevelWarn, seclog.AuthzFail,
			fmt.Sprintf("request refused by an IP rule (%s)", d.Rule), attrs...)
	}
	httperr.Write(w, r, http.StatusForbidden, "", requestid.FromRequest(r))
}

// ParsePrefix reads a rule as written in a configuration: a CIDR prefix
// ("10.0.0.0/8", "2001:db8::/32") or a single address ("192.0.2.7",
// "2001:db8::1", a prefix of its full length). Host bits are cleared and
// an IPv4-mapped IPv6 form is folded to IPv4. Zones are refused.
func ParsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q: an address in a rule has no zone", s)
		}
		a = a.Unmap()
		p = netip.PrefixFrom(a, a.BitLen())
	} else {
		p, err = netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or a CIDR prefix (10.0.0.0/8, 2001:db8::/32)", s)
		}
		if p.Addr().Is4In6() && p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix shorter than /96 is not an IPv4 prefix", s)
		}
	}
	return normalize(p), nil
}
