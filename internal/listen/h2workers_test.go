package listen

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// goroutineID is the running goroutine's number, from its stack's first
// line ("goroutine 42 [running]:").
func goroutineID() string {
	var buf [64]byte
	line := buf[:runtime.Stack(buf[:], false)]
	line, _, _ = bytes.Cut(bytes.TrimPrefix(line, []byte("goroutine ")), []byte(" "))
	return string(line)
}

func h2TestClient(client *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: client, ForceAttemptHTTP2: true}}
}

// Requests one after the other run on the same goroutine, a handler's
// panic included: its worker recovers and serves the next request.
func TestH2Workers_Reused(t *testing.T) {
	var (
		mu  sync.Mutex
		ids = map[string]int{}
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids[goroutineID()]++
		mu.Unlock()
		if r.URL.Path == "/panic" {
			panic("handler panic")
		}
		io.WriteString(w, "ok")
	})
	addr, client, _ := atkStart(t, h, Options{})
	c := h2TestClient(client)
	for i := range 20 {
		path := "/"
		if i == 5 {
			path = "/panic"
		}
		res, err := c.Get("https://" + addr + path)
		if path == "/panic" {
			if err == nil {
				res.Body.Close()
				t.Fatalf("GET /panic: %s; want the stream reset", res.Status)
			}
		} else {
			if err != nil {
				t.Fatalf("GET %d: %v", i, err)
			}
			if res.ProtoMajor != 2 || res.StatusCode != 200 {
				t.Fatalf("GET %d: %s over %s", i, res.Status, res.Proto)
			}
			res.Body.Close()
		}
		time.Sleep(5 * time.Millisecond) // for the worker to go back to idle
	}
	mu.Lock()
	n := len(ids)
	mu.Unlock()
	if n > 3 {
		t.Errorf("20 requests one after the other ran on %d goroutines; want the same few again", n)
	}
}

// Workers wait for the next job once done, the last done first; close
// ends the idle ones, and those done after it do not wait.
func TestH2Workers_IdleAndClose(t *testing.T) {
	ran := make(chan string)
	p := &h2Workers{serve: func(h2Job) { ran <- goroutineID() }}
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			p.mu.Lock()
			idle := len(p.idle)
			p.mu.Unlock()
			if idle == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d idle workers, want %d", idle, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	p.run(h2Job{})
	first := <-ran
	wait(1)
	p.run(h2Job{})
	if again := <-ran; again != first {
		t.Errorf("second job on goroutine %s, want the idle worker %s", again, first)
	}
	wait(1)
	p.mu.Lock()
	idle := append([]*h2Worker(nil), p.idle...)
	p.mu.Unlock()
	p.close()
	for _, wk := range idle {
		if _, ok := <-wk.jobs; ok {
			t.Error("an idle worker's channel still open after close")
		}
	}
	p.run(h2Job{}) // after close: a worker that ends after its job
	<-ran
	time.Sleep(10 * time.Millisecond)
	wait(0)
}

// Concurrent streams each get a worker of their own.
func TestH2Workers_ConcurrentStreams(t *testing.T) {
	const n = 20
	var arrived sync.WaitGroup
	arrived.Add(n)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		<-release
		io.WriteString(w, "ok")
	})
	addr, client, _ := atkStart(t, h, Options{})
	c := h2TestClient(client)
	errs := make(chan error, n)
	for range n {
		go func() {
			res, err := c.Get("https://" + addr + "/")
			if err == nil {
				res.Body.Close()
			}
			errs <- err
		}()
	}
	arrived.Wait() // all n handlers run at once
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
