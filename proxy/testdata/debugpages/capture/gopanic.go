// Captures what a Go server sends when a recovery middleware that prints
// the stack (negroni.Recovery's default, PrintStack true) catches a panic,
// and (with the argument "crash") what an unrecovered panic prints.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
)

func recovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if err := recover(); err != nil {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprintf(w, "PANIC: %s\n%s", err, debug.Stack())
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func main() {
	var zero int
	if len(os.Args) > 1 && os.Args[1] == "crash" {
		fmt.Println(1 / zero)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	http.Serve(ln, recovery(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]int
		m["boom"]++
	})))
}
