// Package ratelimit limits request rates with nginx's limit_req semantics,
// request for request: a leaky bucket per key counted in milli-requests,
// burst, nodelay or delay=N, several zones per rule (all checked, then all
// accounted; the longest delay wins), bounded zones with nginx's LRU
// eviction. A migration from
//
//	limit_req_zone $binary_remote_addr zone=api:10m rate=10r/s;
//	location /api/ { limit_req zone=api burst=20 nodelay; }
//
// is, in rampart's YAML,
//
//	ratelimit:
//	  zones:
//	    api: {key: client_ip, ipv6_prefix: 64, rate: 10r/s, size: 10m}
//	  rules:
//	    - {prefix: /api/, limits: [{zone: api, burst: 20, nodelay: true}]}
//
// and sees the same accept/reject decisions (nginx_parity_test.go replays
// schedules to a real nginx and compares). Differences, on purpose:
// rejections are 429 by default (nginx: 503) with Retry-After and the
// draft-ietf-httpapi-ratelimit-headers-10 fields; IPv6 clients are keyed by
// /64; rules match the cleaned, decoded path.
//
// # Deciding and responding
//
// Check decides and charges a request; Handler enforces the decision: a
// rejection gets the configured status and a generic body (httperr), a
// delayed request waits on a timer in its own goroutine and is dropped if
// its client leaves. Rejections are security events (excess_rate_limit_
// exceeded, sampled per zone and key); Stats gives per-zone counters.
//
// # Memory
//
// A zone of size S holds at most S/128 keys, nginx's count for the same
// size (10m: 81 920 keys). A state is a 32-byte entry (64-bit key hash
// under a per-zone random seed, last, excess, LRU links) in an array
// allocated up front, plus its slot in a map from hash to entry: about
// 67 bytes per key measured (BenchmarkZoneBytesPerKey), so a zone uses
// about half its configured size, and never more whatever the number of
// distinct keys. States are split over up to 64 shards, each with its own
// lock and LRU list, so contention stays low; eviction is nginx's but per
// shard (the oldest state of the shard, not of the zone, is forced out).
//
// # Shared zones
//
// A zone with a SharedStore (ratelimit/redis) keeps its states outside the
// process so that several instances enforce one limit; see Zone.Backend,
// Zone.Shared and Zone.OnBackendError. This package imports no store
// client.
//
// # Settings and findings
//
// Options hold typed values (a Rate, a Size in bytes, netip.Prefix
// networks); ParseRate and ParseSize read nginx's text forms. Validate
// reports every problem on the Go path of its field, with warnings for
// valid settings that weaken the limit; New makes the same checks.
//
// # Access logs
//
// This package writes no access records and imports no access log: set
// Options.OnDecision to put each decision in yours (rampart's gateway adds
// ratelimit, ratelimit_zone and ratelimit_delay_ms to its records so).
package ratelimit
