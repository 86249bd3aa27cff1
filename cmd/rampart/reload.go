package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/rampart-dev/rampart/internal/gateway"
)

const reloadUsage = `usage: rampart reload [--admin URL] [--token-file FILE]

Asks a running rampart, through its admin listener, to read its
configuration again (as SIGHUP does) and waits for the outcome: the new
configuration is in force when this command says so; on any error the
running one stays, and rampart's log has each error with its file:line.
Without an admin listener, send SIGHUP instead: systemctl reload rampart.

flags:
`

// runReload implements "rampart reload".
func runReload(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, reloadUsage)
		fs.PrintDefaults()
	}
	admin := fs.String("admin", defaultAdminURL, "the admin listener's `URL`")
	tokenFile := fs.String("token-file", "", "read the admin token from `FILE` (default: $RAMPART_ADMIN_TOKEN)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 0 {
		errorf(stderr, "rampart reload --admin http://127.0.0.1:9180", "reload takes no arguments, got %q", pos[0])
		return 2
	}
	c, err := newAdminClient(*admin, *tokenFile)
	if err != nil {
		errorf(stderr, "", "%v", err)
		return 2
	}
	var res gateway.ReloadResult
	err = c.do(http.MethodPost, gateway.ReloadPath, struct{}{}, &res)
	var ae *apiError
	switch {
	case err == nil && res.Reloaded:
		fmt.Fprintln(stdout, "configuration reloaded")
		return 0
	case errors.As(err, &ae) && ae.status == http.StatusUnprocessableEntity:
		errorf(stderr, "rampart's log has each error with its file:line; fix them, confirm with 'rampart config check', then reload again",
			"configuration not reloaded, the running one stays: %s", ae.msg)
		return 1
	case errors.As(err, &ae) && ae.status == http.StatusNotFound:
		errorf(stderr, "--admin names another server, or this rampart is older than the reload API: send SIGHUP (systemctl reload rampart)",
			"the admin listener at %s has no reload API", c.base)
		return 1
	case err != nil:
		return c.fail(stderr, err)
	}
	errorf(stderr, "", "the admin listener at %s did not say the configuration was reloaded", c.base)
	return 1
}
