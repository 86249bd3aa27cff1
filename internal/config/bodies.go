package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/rampart-dev/rampart/proxy"
)

const (
	defaultBodyMemoryBytes  = 64 << 10
	defaultBodyMemoryBudget = 32 << 20
	defaultBodyTempBudget   = 1 << 30
)

// compileBodyBuffering reads the request-buffering keys: how much of a
// body stays in memory, the memory all buffered bodies may hold at once,
// where the rest goes, and the escape hatch that streams bodies instead.
func (l *loader) compileBodyBuffering(f *File, p *Plan) {
	in := f.Limits
	p.BodyMemoryBytes, p.BodyMemoryBudget = defaultBodyMemoryBytes, defaultBodyMemoryBudget
	if in.BodyMemoryBytes.Set {
		if in.BodyMemoryBytes.N <= 0 {
			l.errorf("limits.body_memory_bytes", `remove the key for the default "64k"`, "must be > 0")
		} else {
			p.BodyMemoryBytes = in.BodyMemoryBytes.N
		}
	}
	if in.BodyMemoryBudget.Set {
		if in.BodyMemoryBudget.N <= 0 {
			l.errorf("limits.body_memory_budget", `remove the key for the default "32m"`, "must be > 0")
		} else {
			p.BodyMemoryBudget = in.BodyMemoryBudget.N
		}
	}
	p.BodyTempBudget = defaultBodyTempBudget
	if in.BodyTempBudget.Set {
		if in.BodyTempBudget.N <= 0 {
			l.errorf("limits.body_temp_budget", `remove the key for the default "1g"`, "must be > 0")
		} else {
			p.BodyTempBudget = in.BodyTempBudget.N
		}
	}
	if p.BodyTempBudget < p.MaxBodyBytes {
		l.warnf("limits.body_temp_budget", "make it at least limits.max_body_bytes",
			"%d bytes is less than limits.max_body_bytes (%d): bodies larger than it always get 503", p.BodyTempBudget, p.MaxBodyBytes)
	} else if share := p.BodyTempBudget / proxy.ClientBudgetShare; p.MaxBodyBytes > share {
		// One client may always hold one body of the largest size, so
		// here its share is more than the usual fraction. Reported on
		// whichever of the two keys the file sets.
		key := "limits.body_temp_budget"
		if !in.BodyTempBudget.Set {
			key = "limits.max_body_bytes"
		}
		l.warnf(key, fmt.Sprintf("raise limits.body_temp_budget to %d × limits.max_body_bytes (%d bytes), or lower limits.max_body_bytes", proxy.ClientBudgetShare, proxy.ClientBudgetShare*p.MaxBodyBytes),
			"one client may hold limits.max_body_bytes (%d) of the %d bytes of temporary files, more than 1/%d: fewer clients sending large bodies at once can make the others' bodies get 503",
			p.MaxBodyBytes, p.BodyTempBudget, proxy.ClientBudgetShare)
	}
	if p.BodyMemoryBudget < p.BodyMemoryBytes {
		l.warnf("limits.body_memory_budget", "make it at least limits.body_memory_bytes, or lower that",
			"%d bytes is less than limits.body_memory_bytes (%d): bodies larger than the budget always go to disk", p.BodyMemoryBudget, p.BodyMemoryBytes)
	}
	p.BodyTempDir = in.BodyTempDir
	if dir := in.BodyTempDir; dir != "" {
		st, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			l.errorf("limits.body_temp_dir", "create it (mkdir -m 700 "+dir+") or remove the key for the system temporary directory", "%q does not exist", dir)
		case err != nil:
			l.errorf("limits.body_temp_dir", "check the path and its permissions", "%q: %v", dir, errors.Unwrap(err))
		case !st.IsDir():
			l.errorf("limits.body_temp_dir", "point it at a directory", "%q is not a directory", dir)
		case st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0:
			l.warnf("limits.body_temp_dir", "chmod 700 "+dir+" (or chmod +t it, as /tmp is)",
				"%q is writable by other users and has no sticky bit: they can replace it or fill it", dir)
		}
	}
	p.Upstream.InsecureStreamRequestBodies = f.Upstream.InsecureStreamRequestBodies
	if p.Upstream.InsecureStreamRequestBodies {
		l.warnf("upstream.insecure_stream_request_bodies", "remove it unless the application serves slow uploads with async workers",
			"request bodies are streamed to the application as clients send them: a few clients sending slowly can hold every worker of a gunicorn or uWSGI application")
	}
	for i, path := range f.Upstream.InsecureStreamRequestBodyPaths {
		key := fmt.Sprintf("upstream.insecure_stream_request_body_paths[%d]", i)
		if !strings.HasPrefix(path, "/") {
			l.errorf(key, "write a path such as /upload", "%q must start with /", path)
			continue
		}
		p.Upstream.InsecureStreamRequestBodyPaths = append(p.Upstream.InsecureStreamRequestBodyPaths, path)
		l.warnf(key, "keep only the endpoints that must see uploads as they arrive, served by async workers",
			"request bodies under %q are streamed to the application as clients send them: a few clients sending slowly there can hold every worker", path)
	}
}
