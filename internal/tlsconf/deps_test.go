package tlsconf

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDependencies keeps the test CA and heavy clients out of the binary:
// tlsconf and listen may import the standard library, x/crypto, x/net,
// x/text and rampart's own packages, nothing else.
func TestDependencies(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", "-deps",
		"github.com/rampart-dev/rampart/internal/tlsconf",
		"github.com/rampart-dev/rampart/internal/listen").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(pkg, "/")
		switch {
		case !strings.Contains(first, "."): // standard library
		case strings.HasPrefix(pkg, "golang.org/x/crypto/"), strings.HasPrefix(pkg, "golang.org/x/net/"),
			strings.HasPrefix(pkg, "golang.org/x/text/"), strings.HasPrefix(pkg, "github.com/rampart-dev/rampart/"):
			if strings.Contains(pkg, "pebbletest") {
				t.Errorf("non-test import of %s", pkg)
			}
		default:
			t.Errorf("unexpected dependency %s", pkg)
		}
	}
}
