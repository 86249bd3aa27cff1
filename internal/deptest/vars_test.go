package deptest

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// embedded are the exported variables that exist only because go:embed
// needs a variable: a text the package ships, read by its tools.
var embedded = map[string]bool{
	"examples/seed/nginx.SeedConf": true,
	"internal/demo.Config":         true,
}

// TestNoExportedMutableDefaults: no package exports a variable but its
// error sentinels (Err...). A default exported as a variable (a slice, a
// map, a struct of settings) could be changed by any importer, weakening
// every user of the package in the process; defaults are constants, or
// functions that return a copy (proxy.DefaultStripRequestHeaders,
// ban.DefaultActions).
func TestNoExportedMutableDefaults(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Dir,GoFiles", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	files := 0
	for {
		var p struct {
			ImportPath, Dir string
			GoFiles         []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, mod)
		for _, f := range p.GoFiles {
			files++
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range file.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.VAR {
					continue
				}
				for _, s := range g.Specs {
					for _, n := range s.(*ast.ValueSpec).Names {
						if n.IsExported() && !strings.HasPrefix(n.Name, "Err") && !embedded[name+"."+n.Name] {
							t.Errorf("%s: exported variable %s.%s: make it a constant, or a function returning a copy", filepath.Join(name, f), name, n.Name)
						}
					}
				}
			}
		}
	}
	if files < 100 {
		t.Fatalf("only %d files read: go list found too little", files)
	}
}
