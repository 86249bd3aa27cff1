package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/rampart-dev/rampart/internal/config"
)

const configUsage = "Usage: rampart config check [--config rampart.yaml] [serve's flags]"

func runConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var g gatewayFlags
	g.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, configUsage)
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Validates the configuration with the environment and .env it would run with,")
		fmt.Fprintln(stderr, "and prints every finding with its severity and fix. Exit status 1 on any error.")
		fmt.Fprintln(stderr, "It takes serve's flags and reads the same file, so it checks exactly what")
		fmt.Fprintln(stderr, "'rampart serve' would run with them.")
		fs.PrintDefaults()
	}
	// The subcommand is a positional argument: flags may come before or
	// after it.
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExit(err)
	}
	switch {
	case len(pos) == 0:
		fmt.Fprintln(stderr, configUsage)
		return 2
	case pos[0] == "help":
		fs.Usage()
		return 0
	case pos[0] != "check":
		errorf(stderr, "the only config command is: rampart config check", "unknown config command %q", pos[0])
		return 2
	case len(pos) > 1:
		errorf(stderr, "name the file with --config FILE", "config check takes no arguments, got %q", pos[1])
		return 2
	}
	src, note := g.source(fs)
	if note != "" {
		fmt.Fprintln(stderr, "rampart: "+note)
	}
	_, findings := config.Load(src)
	if len(findings) == 0 {
		what := src.Path
		if what == "" {
			what = "command line and environment"
		}
		fmt.Fprintf(stdout, "%s: no findings\n", what)
		return 0
	}
	findings.Write(stdout)
	if findings.HasErrors() {
		return 1
	}
	return 0
}
