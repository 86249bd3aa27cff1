package listen

import "net/http"

// Over HTTP/2, net/http runs each request in a goroutine of its own,
// which starts with a small stack (a few KiB: the average of all the
// process's goroutines, most of them idle connections). The pipeline is
// deeper than that, so every request's stack grew by doubling, each time
// copying what was on it: 15% of rampart's CPU over HTTP/2 went to
// runtime.copystack (bench/cmd/profile -proto h2). growStack makes the
// first call of the request take an 8 KiB frame, so the stack grows once,
// to 16 KiB, while it is still shallow, and the pipeline then runs
// without growing it: 104 µs of CPU a request became 86 (interleaved
// in-process runs, h2load -c16 -m10). HTTP/1 requests run on their
// connection's goroutine, whose stack stays grown from one request to the
// next; they are left alone. rampart's own HTTP/2 server runs its
// handlers on workers kept between requests (h2Workers), each primed
// once when it starts.

// stackFrame is the frame growStack takes.
const stackFrame = 8 << 10

//go:noinline
func growStack(i int) byte {
	var b [stackFrame]byte
	b[i&(stackFrame-1)] = 1 // kept, so the frame is not optimised away
	return b[(i+1)&(stackFrame-1)]
}

// primeStack grows the stack of a request of net/http's HTTP/2 server at
// once (see growStack).
func primeStack(r *http.Request) {
	if r.ProtoMajor == 2 {
		growStack(0)
	}
}
