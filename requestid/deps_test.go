package requestid

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports holds the import graph as a contract: a library package
// imports the standard library and the listed packages only, never the
// gateway's internals, metrics or storage clients.
func TestImports(t *testing.T) {
	allowed := map[string]bool{}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			first := strings.SplitN(p, "/", 2)[0]
			if !strings.Contains(first, ".") || allowed[p] {
				continue // standard library, or allowed
			}
			t.Errorf("%s imports %s", f, p)
		}
	}
}
