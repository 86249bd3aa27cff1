package state

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"

	"github.com/rampart-dev/rampart/ban"
)

// Both stores keep the bans of package ban.
var (
	_ ban.Store = (*Embedded)(nil)
	_ ban.Store = (*Redis)(nil)
)

// bBans is the bucket of bans: prefix → banRecord.
var bBans = []byte("bans")

// tombstoneKeep is how long a lifted ban is remembered as lifted, so that
// a copy of it pushed again later (Redis replay) does not bring it back.
const tombstoneKeep = 24 * time.Hour

// banRecord is a ban as stored: the entry, or the record that it was
// lifted, and when (unix ms): of two records of a prefix, the later wins.
type banRecord struct {
	Entry   ban.Entry `json:"entry"`
	Removed bool      `json:"removed,omitempty"`
	At      int64     `json:"at"`
}

func (r banRecord) change() ban.Change { return ban.Change{Entry: r.Entry, Removed: r.Removed} }

func banKey(p netip.Prefix) []byte { return []byte(p.Masked().String()) }

// Ban records e and announces it to Bans subscribers (implements
// ban.Store).
func (e *Embedded) Ban(ctx context.Context, b ban.Entry) error {
	rec := banRecord{Entry: b, At: max(b.Created.UnixMilli(), time.Now().UnixMilli())}
	if err := e.putBan(rec); err != nil {
		return err
	}
	e.notifyBan(rec.change())
	return nil
}

// Unban lifts the ban of p and announces it (implements ban.Store). A
// record that it was lifted is kept for a day.
func (e *Embedded) Unban(ctx context.Context, p netip.Prefix) error {
	now := time.Now()
	rec := banRecord{Entry: ban.Entry{Prefix: p.Masked(), Forget: now.Add(tombstoneKeep)}, Removed: true, At: now.UnixMilli()}
	if err := e.putBan(rec); err != nil {
		return err
	}
	e.notifyBan(rec.change())
	return nil
}

// keepBan writes a record another instance made (read from Redis) into
// the file, unless the file holds a later one of the prefix, without
// announcing it: an instance restarted while Redis is down still
// enforces the bans the others made.
func (e *Embedded) keepBan(rec banRecord) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bBans)
		var cur banRecord
		if ok, err := getJSON(b, banKey(rec.Entry.Prefix), &cur); err != nil || ok && cur.At > rec.At {
			return err
		}
		return putJSON(b, banKey(rec.Entry.Prefix), rec)
	})
}

func (e *Embedded) putBan(rec banRecord) error {
	return e.db.Update(func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bBans), banKey(rec.Entry.Prefix), rec)
	})
}

// banRecords returns every record kept at now, lifted bans included.
func (e *Embedded) banRecords(now time.Time) ([]banRecord, error) {
	var out []banRecord
	err := e.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bBans).ForEach(func(k, v []byte) error {
			var r banRecord
			if json.Unmarshal(v, &r) == nil && r.Entry.Prefix.IsValid() && now.Before(r.Entry.Forget) {
				out = append(out, r)
			}
			return nil
		})
	})
	return out, err
}

// Bans returns the bans kept at now, then those made or lifted through e
// until ctx is done (implements ban.Store).
func (e *Embedded) Bans(ctx context.Context, now time.Time) ([]ban.Entry, <-chan ban.Change, error) {
	ch := make(chan ban.Change, 256)
	e.mu.Lock()
	e.banSubs[ch] = struct{}{}
	e.mu.Unlock()
	go func() {
		<-ctx.Done()
		e.mu.Lock()
		delete(e.banSubs, ch)
		e.mu.Unlock()
		close(ch)
	}()
	recs, err := e.banRecords(now)
	if err != nil {
		return nil, nil, err
	}
	var list []ban.Entry
	for _, r := range recs {
		if !r.Removed {
			list = append(list, r.Entry)
		}
	}
	return list, ch, nil
}

// notifyBan sends c to every Bans subscriber; one that does not keep up
// loses it (its channel is buffered well beyond a burst of bans).
func (e *Embedded) notifyBan(c ban.Change) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ch := range e.banSubs {
		select {
		case ch <- c:
		default:
		}
	}
}

// bansPendingMark is the local store's mark of bans not yet pushed to
// Redis (see Redis.Replay).
const bansPendingMark = "redis-bans-pending"

// putBanScript writes a ban record (ARGV[2], its prefix ARGV[1], its time
// ARGV[3]) into the hash KEYS[1] unless a later record of the prefix is
// there, and announces it on the channel of the same name.
var putBanScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, c = pcall(cjson.decode, cur)
  if ok and type(c) == 'table' and tonumber(c.at) and tonumber(c.at) > tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', KEYS[1], ARGV[2])
return 1
`)

// Ban records the ban locally, then in Redis, announced to every instance
// (implements ban.Store). While Redis cannot be reached the ban is in
// force here and pushed again by Replay; the error is not the caller's.
func (r *Redis) Ban(ctx context.Context, b ban.Entry) error {
	if err := r.local.Ban(ctx, b); err != nil {
		return err
	}
	r.pushBan(ctx, banRecord{Entry: b, At: max(b.Created.UnixMilli(), time.Now().UnixMilli())})
	return nil
}

// Unban lifts the ban locally, then in Redis, announced (implements
// ban.Store), pushed again like Ban while Redis is down.
func (r *Redis) Unban(ctx context.Context, p netip.Prefix) error {
	if err := r.local.Unban(ctx, p); err != nil {
		return err
	}
	now := time.Now()
	r.pushBan(ctx, banRecord{Entry: ban.Entry{Prefix: p.Masked(), Forget: now.Add(tombstoneKeep)}, Removed: true, At: now.UnixMilli()})
	return nil
}

func (r *Redis) pushBan(ctx context.Context, rec banRecord) {
	if err := r.writeBan(ctx, rec); err != nil {
		r.mu.Lock()
		r.bansPending = true
		r.banMisses++
		r.mu.Unlock()
		if err := r.local.setMark(bansPendingMark, true); err != nil {
			r.logger.Error("state: marking a ban to push again", "error", err)
		}
		r.logger.Warn("state: a ban could not reach Redis; it is enforced here and will be pushed again", "error", err)
	}
}

func (r *Redis) writeBan(ctx context.Context, rec banRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return r.call(ctx, func() error {
		return putBanScript.Run(ctx, r.c, []string{r.k("bans")}, rec.Entry.Prefix.String(), string(data), rec.At).Err()
	})
}

// replayBans pushes every local ban record again when an earlier push
// failed (Replay calls it).
func (r *Redis) replayBans(ctx context.Context, now time.Time) error {
	r.mu.Lock()
	pending, misses := r.bansPending, r.banMisses
	r.mu.Unlock()
	if !pending {
		return nil
	}
	recs, err := r.local.banRecords(now)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if err := r.writeBan(ctx, rec); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.banMisses == misses {
		if err := r.local.setMark(bansPendingMark, false); err != nil {
			return err
		}
		r.bansPending = false
	}
	r.logger.Info("state: bans pushed to Redis again", "count", len(recs))
	return nil
}

// remoteBans reads the ban records kept in Redis at now, removing those
// past their Forget time.
func (r *Redis) remoteBans(ctx context.Context, now time.Time) ([]banRecord, error) {
	var all map[string]string
	err := r.call(ctx, func() (err error) {
		all, err = r.c.HGetAll(ctx, r.k("bans")).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []banRecord
	var old []string
	for field, v := range all {
		var rec banRecord
		if json.Unmarshal([]byte(v), &rec) != nil || !rec.Entry.Prefix.IsValid() || !now.Before(rec.Entry.Forget) {
			old = append(old, field)
			continue
		}
		out = append(out, rec)
	}
	if len(old) > 0 {
		r.call(ctx, func() error { return r.c.HDel(ctx, r.k("bans"), old...).Err() })
	}
	return out, nil
}

// Bans returns the bans kept in Redis and locally at now (of two records
// of a prefix, the later), then every ban made or lifted by any instance
// (pub/sub) or this one (local, even while Redis is down), until ctx is
// done (implements ban.Store). As for revocations, each time the
// subscription is confirmed (the first time and after every reconnection)
// the bans are read again from Redis and sent on the channel, so none
// announced while this instance was cut off is missed.
func (r *Redis) Bans(ctx context.Context, now time.Time) ([]ban.Entry, <-chan ban.Change, error) {
	_, localCh, err := r.local.Bans(ctx, now)
	if err != nil {
		return nil, nil, err
	}
	recs, err := r.local.banRecords(now)
	if err != nil {
		return nil, nil, err
	}
	remote, err := r.remoteBans(ctx, now)
	if err != nil {
		r.logger.Warn("state: bans could not be read from Redis; the local ones are enforced", "error", err)
	}
	r.keepBans(remote)
	latest := map[netip.Prefix]banRecord{}
	for _, rec := range append(recs, remote...) {
		if cur, ok := latest[rec.Entry.Prefix]; !ok || rec.At >= cur.At {
			latest[rec.Entry.Prefix] = rec
		}
	}
	var list []ban.Entry
	for _, rec := range latest {
		if !rec.Removed {
			list = append(list, rec.Entry)
		}
	}
	out := follow(ctx, r, "bans", 256, localCh, func(ctx context.Context) ([]ban.Change, error) {
		recs, err := r.remoteBans(ctx, time.Now())
		r.keepBans(recs)
		changes := make([]ban.Change, len(recs))
		for i, rec := range recs {
			changes[i] = rec.change()
		}
		return changes, err
	}, func(payload string) (ban.Change, bool) {
		var rec banRecord
		if json.Unmarshal([]byte(payload), &rec) != nil || !rec.Entry.Prefix.IsValid() {
			return ban.Change{}, false
		}
		r.keepBans([]banRecord{rec})
		return rec.change(), true
	})
	return list, out, nil
}

// keepBans writes records read from Redis into the local file (see
// Embedded.keepBan).
func (r *Redis) keepBans(recs []banRecord) {
	for _, rec := range recs {
		if err := r.local.keepBan(rec); err != nil {
			r.logger.Warn("state: a ban from Redis could not be kept in the local file", "error", err)
			return
		}
	}
}
