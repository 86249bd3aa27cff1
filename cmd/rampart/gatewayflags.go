package main

import (
	"errors"
	"flag"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/rampart-dev/rampart/internal/config"
)

// defaultConfig is the file `rampart serve` and `rampart config check`
// read when --config is not given and it exists in the working directory.
// Both resolve it the same way, so the check checks what serve runs.
// `rampart demo` never reads it: the demo is zero-config, and a half-done
// rampart.yaml in the directory must not change or break it.
const defaultConfig = "rampart.yaml"

// gatewayFlags are the flags serve and config check share.
type gatewayFlags struct {
	src   config.Source
	hosts stringList
}

func (g *gatewayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.src.Path, "config", "", "configuration `file` (YAML); flags override it (default ./"+defaultConfig+" when it exists)")
	fs.Var(optString{&g.src.Flags.Listen}, "listen", "HTTPS listen `address` (default :443)")
	fs.Var(optString{&g.src.Flags.HTTPListen}, "http-listen", "redirect listener `address`, or off (default :80)")
	fs.Var(optString{&g.src.Flags.Upstream}, "upstream", "the application's `URL`, e.g. http://127.0.0.1:5000")
	fs.Var(optString{&g.src.Flags.CertFile}, "cert", "certificate chain PEM `file`")
	fs.Var(optString{&g.src.Flags.KeyFile}, "key", "private key PEM `file`")
	fs.Var(optString{&g.src.Flags.StateDir}, "state-dir", "state `directory` (default /var/lib/rampart)")
	fs.Var(&g.hosts, "host", "public host `name` served (repeatable)")
	fs.Var(optString{&g.src.Flags.AdminListen}, "admin-listen", "admin listener `address` (metrics, health), or off (default 127.0.0.1:9180)")
}

// source returns the configuration the flags describe, with the default
// file resolved. note says which file that is when --config was not given
// ("" when it was), for the caller to show.
func (g *gatewayFlags) source(fs *flag.FlagSet) (src config.Source, note string) {
	src = g.src
	src.Flags.Hosts = g.hosts
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "config" })
	if given {
		return src, ""
	}
	if _, err := os.Stat(defaultConfig); err == nil || !errors.Is(err, os.ErrNotExist) {
		src.Path = defaultConfig
		return src, "reading ./" + defaultConfig + " (no --config given)"
	}
	return src, "no --config given and no ./" + defaultConfig + " here: the command line and the environment only"
}

// checkCommand is the `rampart config check` command line that checks
// exactly what serve runs with src: the same file and the same flags. A
// password in the upstream URL is masked (the check refuses it all the
// same).
func checkCommand(src config.Source) string {
	args := []string{"rampart", "config", "check"}
	if src.Path != "" {
		args = append(args, "--config", shellQuote(src.Path))
	}
	fl := src.Flags
	for _, f := range []struct {
		name string
		v    *string
	}{{"listen", fl.Listen}, {"http-listen", fl.HTTPListen}, {"upstream", fl.Upstream},
		{"cert", fl.CertFile}, {"key", fl.KeyFile}, {"state-dir", fl.StateDir}, {"admin-listen", fl.AdminListen}} {
		if f.v == nil {
			continue
		}
		v := *f.v
		if f.name == "upstream" {
			if u, err := url.Parse(v); err == nil && u.User != nil {
				v = u.Redacted()
			}
		}
		args = append(args, "--"+f.name, shellQuote(v))
	}
	for _, h := range fl.Hosts {
		args = append(args, "--host", shellQuote(h))
	}
	return strings.Join(args, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,\[\]-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
