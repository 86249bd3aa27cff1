package ban_test

import (
	"fmt"
	"log"
	"log/slog"
	"net/http"

	"github.com/rampart-dev/rampart/ban"
	"github.com/rampart-dev/rampart/seclog"
)

// A Banner watching the security log, its probe detector, and the
// refusal of banned clients, in front of an application.
func Example() {
	sec := seclog.New(slog.Default())
	banner, err := ban.New(ban.Options{Log: sec}) // the default jail, in memory
	if err != nil {
		log.Fatal(err)
	}
	defer banner.Close()
	sec.Observe(banner.Observe)
	probe, err := ban.NewProbe(ban.ProbeOptions{Log: sec})
	if err != nil {
		log.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	h := banner.Handler(probe.Handler(app))
	_ = h // http.ListenAndServeTLS(":443", "cert.pem", "key.pem", h)
	fmt.Println(len(banner.List()), "bans")
	// Output: 0 bans
}
