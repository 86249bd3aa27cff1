package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/rampart-dev/rampart/internal/config"
)

func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, "Usage: rampart config check [--config rampart.yaml]")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "check" {
		errorf(stderr, "the only config command is: rampart config check", "unknown config command %q", args[0])
		return 2
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "rampart.yaml", "configuration `file` to check")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: rampart config check [--config rampart.yaml]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Validates the configuration with the environment and .env it would run with,")
		fmt.Fprintln(stderr, "and prints every finding with its severity and fix. Exit status 1 on any error.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return flagExit(err)
	}
	_, findings := config.Load(config.Source{Path: *path})
	if len(findings) == 0 {
		fmt.Fprintf(stdout, "%s: no findings\n", *path)
		return 0
	}
	findings.Write(stdout)
	if findings.HasErrors() {
		return 1
	}
	return 0
}
