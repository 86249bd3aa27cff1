package proxy

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestImports holds the import graph as a contract: the proxy is a public
// library package and imports only the standard library and rampart's
// public request-context and error packages, never the gateway's
// internals or a metrics or storage client.
func TestImports(t *testing.T) {
	allowed := map[string]bool{
		"github.com/rampart-dev/rampart/clientip":  true,
		"github.com/rampart-dev/rampart/httperr":   true,
		"github.com/rampart-dev/rampart/requestid": true,
		"github.com/rampart-dev/rampart/seclog":    true,
	}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if !strings.Contains(first, ".") {
				continue // standard library
			}
			if !allowed[path] {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
