package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at link time: go build -ldflags "-X main.version=v1.0.0 -X main.commit=abc123".
var (
	version = ""
	commit  = ""
)

func versionInfo() (v, c string) {
	v, c = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if c == "" {
		c = "unknown"
	}
	return v, c
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "Usage: rampart version") }
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	v, c := versionInfo()
	fmt.Fprintf(stdout, "rampart %s\ncommit %s\ngo %s %s/%s\n", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

// flagExit maps a flag parse error to an exit code: 0 for -h, 2 otherwise.
func flagExit(err error) int {
	if err == flag.ErrHelp {
		return 0
	}
	return 2
}
