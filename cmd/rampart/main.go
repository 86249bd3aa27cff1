// Command rampart is a TLS-terminating security gateway: it puts HTTPS,
// security headers, rate limits and an audit log in front of any web
// application, with every protection on by default.
//
// Usage:
//
//	rampart demo                       zero-config demo on https://127.0.0.1:8443
//	rampart serve [flags]              run the gateway
//	rampart config check [--config F]  validate what serve would run (same file, same flags)
//	rampart check URL                  audit a live deployment
//	rampart user add|passwd|… NAME     manage a users file
//	rampart ban list|add|remove [ADDR] manage bans through the admin listener
//	rampart version                    print version information
package main

import (
	"fmt"
	"io"
	"os"
)

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"demo", "run rampart in front of a built-in demo application (zero config)", runDemo},
		{"serve", "run the gateway from a configuration file and flags", runServe},
		{"config", "configuration tools: config check", runConfig},
		{"check", "audit a live deployment's TLS, redirects and headers", runCheck},
		{"user", "manage a users file: add, passwd, disable, enable, list, totp", runUser},
		{"ban", "list, add and remove bans through the admin listener", runBan},
		{"reload", "reload a running rampart's configuration through the admin listener", runReload},
		{"version", "print version, commit and Go toolchain", runVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return run([]string{args[1], "-h"}, stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "rampart: unknown command %q\n", args[0])
	fmt.Fprintf(stderr, "rampart: hint: run 'rampart help' for the list of commands\n")
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "rampart: a security gateway for web applications")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: rampart <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'rampart <command> -h' for a command's flags.")
}

// errorf prints an error line and, if hint is not empty, a hint line.
func errorf(w io.Writer, hint, format string, args ...any) {
	fmt.Fprintf(w, "rampart: error: "+format+"\n", args...)
	if hint != "" {
		fmt.Fprintf(w, "rampart: hint: %s\n", hint)
	}
}
