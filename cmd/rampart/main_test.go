package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The CLI is specified by transcripts in testdata/script: each runs rampart
// as a real command and compares what it prints.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"rampart": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
