package secheaders

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/net/html"
)

// injector adds nonce="..." to the <script> and <style> start tags of an
// HTML response as it streams. The body is fed through an io.Pipe to a
// goroutine running one html.Tokenizer for the whole response, so tag and
// raw-text state (a "<script>" inside a script's string literal is text)
// carries across Write boundaries; each token is written back out byte for
// byte except for the added attribute.
type injector struct {
	pw   *io.PipeWriter
	done chan struct{}
	mu   sync.Mutex // serialises writes/flushes to the underlying writer
	w    http.ResponseWriter
	attr []byte
}

// newInjector returns an injector when the response is HTML that can be
// rewritten (not compressed, has a body), and nil otherwise. It removes
// Content-Length, since the body grows.
func newInjector(w http.ResponseWriter, h http.Header, code int, nonce string) *injector {
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil
	}
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil // compressed: skipped, never decompressed here
	}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "text/html" {
		return nil
	}
	h.Del("Content-Length")
	pr, pw := io.Pipe()
	in := &injector{pw: pw, done: make(chan struct{}), w: w, attr: []byte(` nonce="` + nonce + `"`)}
	go in.run(pr)
	return in
}

func (in *injector) run(pr *io.PipeReader) {
	defer close(in.done)
	z := html.NewTokenizer(pr)
	var tag []byte
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			// At EOF the tokenizer has returned everything it read;
			// flush what remains unconsumed (an unterminated tag).
			if z.Err() == io.EOF {
				in.write(z.Raw())
			} else {
				pr.CloseWithError(z.Err())
			}
			return
		}
		if err := in.write(in.token(z, tt, &tag)); err != nil {
			// The client is gone: fail the handler's next Write with
			// the same error, so it (and a reverse proxy copying an
			// upstream body) stops instead of producing a body into
			// the void.
			pr.CloseWithError(err)
			return
		}
	}
}

// token returns the bytes to send for the current token: its raw bytes,
// with the nonce attribute added to a <script> or <style> start tag that
// has none. tag is a reused buffer.
func (in *injector) token(z *html.Tokenizer, tt html.TokenType, tag *[]byte) []byte {
	raw := z.Raw()
	if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
		return raw
	}
	// TagName lower-cases the buffer in place: copy first.
	*tag = append((*tag)[:0], raw...)
	name, hasAttr := z.TagName()
	if string(name) != "script" && string(name) != "style" {
		return *tag
	}
	for hasAttr {
		var k []byte
		k, _, hasAttr = z.TagAttr()
		if string(k) == "nonce" {
			return *tag
		}
	}
	n := 1 + len(name)
	out := make([]byte, 0, len(*tag)+len(in.attr))
	out = append(out, (*tag)[:n]...)
	out = append(out, in.attr...)
	return append(out, (*tag)[n:]...)
}

func (in *injector) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	_, err := in.w.Write(b)
	return err
}

// Write feeds the tokenizer; it returns once the bytes are consumed.
func (in *injector) Write(p []byte) (int, error) {
	return in.pw.Write(p)
}

// flush sends what the tokenizer has emitted so far. Bytes of a token not yet
// complete (the middle of a tag) stay buffered until it is.
func (in *injector) flush() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return http.NewResponseController(in.w).Flush()
}

// close ends the body and waits for the tokenizer to write the rest.
func (in *injector) close() {
	in.pw.Close()
	<-in.done
}

// abort stops the tokenizer without writing more (the handler panicked);
// after a normal close it does nothing.
func (in *injector) abort() {
	in.pw.CloseWithError(errAborted)
	<-in.done
}

var errAborted = errors.New("secheaders: handler aborted")
