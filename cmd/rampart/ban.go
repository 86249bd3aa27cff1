package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/safe"
)

const banUsage = `usage: rampart ban <command> [flags] [ADDR]

Manages the bans of a running rampart through its admin listener:
  list                              list the bans in force
  add ADDR [--for 1h] [--reason R]  ban ADDR: an address (its client: an IPv4
                                    address, or the /64 of an IPv6 address) or a
                                    CIDR prefix; --for defaults to the jail's ban time
  remove ADDR                       lift the ban of ADDR

The admin listener is --admin (default http://127.0.0.1:9180). Its token,
when it has one, comes from the environment (RAMPART_ADMIN_TOKEN) or from
--token-file, never from the command line; it is sent as
"Authorization: Bearer TOKEN", and only over https:// or to a loopback
address. Flags may come before or after the command and the address.

flags:
`

// defaultAdminURL is the admin listener's default address.
const defaultAdminURL = "http://127.0.0.1:9180"

// runBan implements "rampart ban".
func runBan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ban", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, banUsage)
		fs.PrintDefaults()
	}
	admin := fs.String("admin", defaultAdminURL, "the admin listener's `URL`")
	tokenFile := fs.String("token-file", "", "read the admin token from `FILE` (default: $RAMPART_ADMIN_TOKEN)")
	dur := fs.Duration("for", 0, "add: how long the ban lasts (`DURATION`: 30m, 1h, 168h)")
	reason := fs.String("reason", "", "add: why, recorded with the ban")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) == 0 {
		fs.Usage()
		return 2
	}
	cmd, rest := pos[0], pos[1:]
	want := map[string]int{"list": 0, "add": 1, "remove": 1}
	n, ok := want[cmd]
	if !ok {
		errorf(stderr, "run 'rampart ban -h'", "unknown ban command %q (list, add or remove)", cmd)
		return 2
	}
	if len(rest) != n {
		if n == 0 {
			errorf(stderr, "", "ban %s takes no argument", cmd)
		} else {
			errorf(stderr, "rampart ban "+cmd+" 203.0.113.7, or a prefix: 203.0.113.0/24", "ban %s takes one address or prefix", cmd)
		}
		return 2
	}
	if cmd != "add" && (*dur != 0 || *reason != "") {
		errorf(stderr, "", "--for and --reason go with ban add")
		return 2
	}
	if *dur < 0 {
		errorf(stderr, "write a duration such as 30m, 1h or 168h", "--for must be positive")
		return 2
	}
	c, err := newAdminClient(*admin, *tokenFile)
	if err != nil {
		errorf(stderr, "", "%v", err)
		return 2
	}
	switch cmd {
	case "list":
		var list ban.ListResponse
		if err := c.do(http.MethodGet, ban.AdminPath, nil, &list); err != nil {
			return c.fail(stderr, err)
		}
		printBans(stdout, list.Bans)
	case "add":
		if _, err := ban.ParseTarget(rest[0]); err != nil {
			errorf(stderr, "write an address (203.0.113.7, 2001:db8::7) or a CIDR prefix (203.0.113.0/24)", "%v", err)
			return 2
		}
		req := ban.AddRequest{Address: rest[0], Reason: *reason}
		if *dur > 0 {
			req.For = dur.String()
		}
		var e ban.Entry
		if err := c.do(http.MethodPost, ban.AdminPath, req, &e); err != nil {
			return c.fail(stderr, err)
		}
		fmt.Fprintf(stdout, "banned %s until %s (%s)\n", e.Prefix, e.Until.UTC().Format(time.RFC3339), e.Until.Sub(e.Created).Round(time.Second))
	case "remove":
		if _, err := ban.ParseTarget(rest[0]); err != nil {
			errorf(stderr, "write an address (203.0.113.7, 2001:db8::7) or a CIDR prefix (203.0.113.0/24)", "%v", err)
			return 2
		}
		var res ban.RemoveResponse
		if err := c.do(http.MethodDelete, ban.AdminPath+"?address="+url.QueryEscape(rest[0]), nil, &res); err != nil {
			return c.fail(stderr, err)
		}
		if res.Removed {
			fmt.Fprintf(stdout, "ban of %s lifted\n", res.Prefix)
		} else {
			fmt.Fprintf(stdout, "%s was not banned\n", res.Prefix)
		}
	}
	return 0
}

func printBans(w io.Writer, list []ban.Entry) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no bans in force")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tUNTIL\tLEFT\tOFFENCE\tBY\tREASON")
	now := time.Now()
	for _, e := range list {
		by := "auto"
		if e.Manual {
			by = "operator"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", e.Prefix, e.Until.UTC().Format(time.RFC3339),
			e.Until.Sub(now).Round(time.Second), e.Offence, by, strings.Map(printable, e.Reason))
	}
	tw.Flush()
}

// printable drops control characters from what the server sent, so a
// reason cannot drive the terminal.
func printable(r rune) rune {
	if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
		return -1
	}
	return r
}

// adminClient talks to the admin listener.
type adminClient struct {
	base  *url.URL
	token string
	http  *http.Client
}

func newAdminClient(admin, tokenFile string) (*adminClient, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil {
		return nil, fmt.Errorf("--admin %q: write the admin listener's URL, such as %s", admin, defaultAdminURL)
	}
	token := os.Getenv("RAMPART_ADMIN_TOKEN")
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %v", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return nil, fmt.Errorf("--token-file %s is empty", tokenFile)
		}
	}
	if token != "" && u.Scheme == "http" && !safe.Loopback(u.Hostname()) {
		return nil, fmt.Errorf("--admin %s: the token would cross the network in clear; use https:// or a loopback address", admin)
	}
	return &adminClient{base: u, token: token, http: &http.Client{
		Timeout: 10 * time.Second,
		// The token goes to the admin listener, not wherever it redirects.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// apiError is an answer other than success from the admin listener.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func (c *adminClient) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := *c.base
	u.Path, u.RawQuery, _ = strings.Cut(path, "?")
	req, err := http.NewRequestWithContext(context.Background(), method, u.String(), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e ban.ErrorResponse
		msg := resp.Status
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &apiError{status: resp.StatusCode, msg: strings.Map(printable, msg)}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the admin listener's answer is not the ban API's: %v", err)
	}
	return nil
}

// fail reports err and returns the exit status.
func (c *adminClient) fail(stderr io.Writer, err error) int {
	var ae *apiError
	var ne net.Error
	switch {
	case errors.As(err, &ae) && (ae.status == http.StatusUnauthorized || ae.status == http.StatusForbidden):
		errorf(stderr, "set RAMPART_ADMIN_TOKEN or --token-file to the admin listener's token",
			"the admin listener at %s refused the request (%d): %s", c.base, ae.status, ae.msg)
	case errors.As(err, &ae) && ae.status == http.StatusNotFound:
		errorf(stderr, "the auto-ban is off in the configuration (ban.enabled: false), or --admin names another server",
			"the admin listener at %s has no ban API (%s)", c.base, ae.msg)
	case errors.As(err, &ae):
		errorf(stderr, "", "the admin listener at %s answered %d: %s", c.base, ae.status, ae.msg)
	case errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &ne):
		errorf(stderr, "is rampart running, with its admin listener on (admin.listen, not off)? check --admin",
			"cannot reach the admin listener at %s: %v", c.base, err)
	default:
		errorf(stderr, "", "%v", err)
	}
	return 1
}
