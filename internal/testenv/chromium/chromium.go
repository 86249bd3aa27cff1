// Package chromium starts Debian's Chromium for the browser tests, through
// chromedp, with the flags they all need: headless, a profile of its own,
// nothing fetched from the network by the browser itself (no QUIC, no
// background networking, no component updates, no sync). A test adds what
// is its own (host-resolver rules, window size, certificate errors
// ignored, the Reporting API's short delay). Without chromium the test
// skips, or fails when RAMPART_TEST_REQUIRE_ALL=1 (see testenv).
package chromium

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rampart-dev/rampart/internal/testenv"
)

// Allocator returns the context of a Chromium started for t, which ends
// (and the browser with it) at deadline or when t ends. Tabs are opened
// from it with chromedp.NewContext.
func Allocator(t testing.TB, deadline time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := testenv.LookPath(t, "chromium", "apt-get install chromium")
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	}, extra...)
	whole, cancel := context.WithTimeout(context.Background(), deadline)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(whole, opts...)
	t.Cleanup(acancel)
	return actx
}

// Console records every console message of the tabs it is given: the
// console API, exceptions, and the browser's own log, where CSP
// violations go. Its zero value is ready; it is safe for concurrent use.
type Console struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// Record records tab's messages from now until the tab ends.
func (c *Console) Record(tab context.Context) {
	msgs := chromedp.Console(tab)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
}

// Messages returns the messages recorded so far.
func (c *Console) Messages() []chromedp.ConsoleMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}
