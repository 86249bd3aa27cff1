package ratelimit_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/rampart-dev/rampart/ratelimit"
)

// The seed guide's nginx limit: 10r/s with a burst of 20 on /api/.
func Example() {
	l, err := ratelimit.New(ratelimit.Options{
		Zones: map[string]ratelimit.Zone{"api": {Key: "client_ip", Rate: ratelimit.PerSecond(10), Size: 10 << 20}},
		Rules: []ratelimit.Rule{{Prefix: "/api/", Limits: []ratelimit.Limit{{Zone: "api", Burst: 20, NoDelay: true}}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))
	codes := map[int]int{}
	for i := 0; i < 25; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/api/items", nil))
		codes[w.Code]++
	}
	fmt.Println(codes[200], "passed,", codes[429], "rejected")
	// Output: 21 passed, 4 rejected
}
