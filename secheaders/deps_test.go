package secheaders

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps secheaders a library: it may use the standard library,
// x/net/html and rampart's public packages, never the gateway's internals or
// heavy clients.
func TestImports(t *testing.T) {
	allowed := func(p string) bool {
		switch {
		case !strings.Contains(strings.Split(p, "/")[0], "."):
			return true // standard library
		case p == "golang.org/x/net/html":
			return true
		case strings.HasPrefix(p, "github.com/rampart-dev/rampart/"):
			return !strings.Contains(p, "/internal/") && !strings.HasSuffix(p, "/internal")
		}
		return false
	}
	files, _ := filepath.Glob("*.go")
	more, _ := filepath.Glob("csp/*.go")
	for _, f := range append(files, more...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !allowed(p) {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}
