package accesslog_test

import (
	"log"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/rampart-dev/rampart/accesslog"
	"github.com/rampart-dev/rampart/clientip"
	"github.com/rampart-dev/rampart/logfile"
	"github.com/rampart-dev/rampart/requestid"
)

// The three stages in the gateway's order, outside an application: the
// request id first, then the client address, then the access log, so the
// record carries both.
func Example() {
	res, err := clientip.New(clientip.Options{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, // a local nginx
	})
	if err != nil {
		log.Fatal(err)
	}
	ids, err := requestid.New(requestid.Options{TrustIncoming: res.TrustedPeer})
	if err != nil {
		log.Fatal(err)
	}
	out, err := logfile.Open(logfile.Options{Path: "/var/log/app/access.log"})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Close()
	logs, err := accesslog.New(accesslog.Options{Writer: out, KeepQueryParams: []string{"page"}})
	if err != nil {
		log.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accesslog.AddAttrs(r, slog.String("user", "alice")) // once authenticated
		w.Write([]byte("hello"))
	})
	http.ListenAndServe("127.0.0.1:8080", ids.Handler(res.Handler(logs.Handler(app))))
}
