package tlsconf

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"sync"
	"time"
)

// TicketKeyRotation is how often the HTTPS listener's session ticket key
// is replaced. Each key encrypts new tickets for one period and is then
// kept one more period only to decrypt them, so resumption works across a
// rotation, and no key exists for more than two periods: 24 hours.
//
// Why: a session ticket is the session's secret state encrypted under the
// server's ticket key, sent to the client, and handed back to resume.
// Whoever obtains a key (a memory dump, a core file) can decrypt every
// ticket it sealed while it existed. For TLS 1.2 a ticket carries the
// session's master secret, so recorded TLS 1.2 connections, the first
// and every resumption of it, can then be decrypted: forward secrecy
// lasts only as long as the key. (TLS 1.3 resumption in crypto/tls always
// mixes in a fresh ECDHE exchange, psk_dhe_ke, so a key exposes resumed
// TLS 1.3 traffic far less, but the same rotation covers both.)
// crypto/tls on its own makes a new key daily but keeps accepting each
// for 7 days; rampart's keys live at most 24 hours, which is what
// "rotated daily" is meant to buy.
//
// What a scanner still shows: crypto/tls writes a fixed lifetime hint of
// 604800 seconds (7 days) into every TLS 1.3 NewSessionTicket message, and
// it cannot be configured, so testssl still reports "Session Ticket RFC
// 5077 hint 604800 seconds" with its warning that forward secrecy requires
// keys rotated daily (TLS 1.2 tickets carry no hint). The hint only says
// how long a client may keep a ticket; whether a ticket can be used is the
// server's decision, and after at most 24 hours no key to open it exists.
const TicketKeyRotation = 12 * time.Hour

// ticketKeys holds the session ticket keys of a tls.Config and rotates
// them. Tickets are sealed and opened through the config's WrapSession
// and UnwrapSession hooks by a private config holding the keys
// (tls.Config.EncryptTicket and DecryptTicket), rather than with
// SetSessionTicketKeys on the listener's config itself: net/http serves
// a clone of the config it is given (http.Server.ServeTLS), and a clone
// keeps the keys the original had when it was cloned, but calls the same
// hooks.
type ticketKeys struct {
	seal *tls.Config // only its ticket keys are used

	mu   sync.Mutex
	keys [][32]byte // current first, then the previous one
}

// newTicketKeys returns ticket keys holding one fresh key.
func newTicketKeys() *ticketKeys {
	k := &ticketKeys{seal: &tls.Config{}}
	k.rotate()
	return k
}

// install makes c seal and open its session tickets with k's keys.
func (k *ticketKeys) install(c *tls.Config) {
	c.WrapSession = k.seal.EncryptTicket
	c.UnwrapSession = k.seal.DecryptTicket
}

// rotate makes a new key the one that seals tickets, keeps the current
// one to open the tickets it sealed, and forgets the one before: tickets
// sealed by it no longer resume (the client does a full handshake).
func (k *ticketKeys) rotate() {
	var key [32]byte
	rand.Read(key[:]) // never fails: crypto/rand crashes the program first
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.keys
	k.keys = [][32]byte{key}
	if len(old) > 0 {
		k.keys = append(k.keys, old[0])
	}
	k.seal.SetSessionTicketKeys(k.keys)
	// Wipe the copies this code held; crypto/tls keeps only the keys
	// it was just given.
	for i := range old {
		clear(old[i][:])
	}
	clear(key[:])
}

// current is the key sealing tickets now (for tests).
func (k *ticketKeys) current() [32]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[0]
}

// run rotates the keys every period until ctx is done.
func (k *ticketKeys) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.rotate()
		}
	}
}
