// Package throttle slows down and then refuses repeated failed logins
// (SPEC §2.1), without letting an attacker lock a user out.
//
// # Policy
//
// A Limiter counts failed logins in three tables, each with its own Rule:
//
//   - per (username, client address) pair: a few free failures, then a
//     growing delay, then a block (429 with Retry-After). This stops one
//     address from guessing one user's password.
//   - per client address, whatever the usernames: a larger allowance, then a
//     delay, then a block. This stops credential stuffing from one address.
//   - per username, from all addresses: a growing delay capped at a few
//     seconds, never a block by default. A spray against one username from
//     many addresses slows that username down, but its owner, from an address
//     whose own counts are low, is never refused.
//
// A successful login resets the username's and the pair's counts, not the
// address's: an attacker with one valid account cannot clear the counts of
// the address it stuffs credentials from.
//
// Counts decay as leaky buckets: a Rule forgets one failure every
// Rule.Forget, so a Rule with Block B and Forget F allows a sustained B
// failures per B×F. A count never grows beyond the point where its Rule
// reaches its limit (Block, or the count at which the delay reaches
// MaxDelay), so a count drains within minutes after an attack ends.
//
// An owner who shares an address with a credential stuffer (a large NAT)
// is refused with it; DefaultAddr's allowance of a hundred failures per 15
// minutes is meant to make that rare.
//
// Delays slow down an attacker who waits for each answer; one who sends
// many attempts in parallel is bounded by the blocks and, for the
// username's delay, by the bounded concurrency of password hashing.
//
// # Use
//
// Client authentication (SPEC §2.1) uses a Limiter of its own with the
// client id in place of the username and User: Off, so that it is
// throttled per (client id, address) pair and per address only: a client
// is a program that may send many requests, and a spray of wrong secrets
// from many addresses must not slow down every request of it.
//
// For each password-grant attempt, with the normalised username and the
// client address:
//
//	d := lim.Check(username, addr)
//	if d.Block {
//		// 429, Retry-After: d.RetryAfter in seconds
//	}
//	// sleep d.Delay, or stop when the request's context ends
//	// verify the password (VerifyDummy for unknown or disabled users)
//	// then lim.Success(username, addr) or lim.Failure(username, addr)
//
// Client addresses are grouped: an IPv4 address counts alone, an IPv6
// address with its /64 (one customer's network), and an IPv4-mapped IPv6
// address as IPv4. Usernames are compared lower-cased.
//
// # Memory
//
// Each table holds at most Config.MaxEntries entries; when full, a new entry
// replaces the least recently used one. An entry takes about 100 bytes with
// its index, so the default of 100 000 per table bounds a Limiter at about
// 30 MB, however many random usernames or addresses a flood brings. Check
// never adds entries; Failure adds at most one per table. Eviction forgets
// counts: an attacker would need fresh entries from enough addresses to get
// past the per-address block before it could push out the counts of one
// pair.
//
// A Limiter is safe for concurrent use.
package throttle

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Rule is the policy of one table.
type Rule struct {
	// Free is the number of failures with no delay.
	Free int
	// Delay is the delay once Free failures are counted; it doubles with
	// every further failure, up to MaxDelay.
	Delay, MaxDelay time.Duration
	// Block is the count at which Check refuses; 0 never refuses.
	Block int
	// Forget is how long the bucket takes to forget one failure.
	Forget time.Duration
}

// Default rules; see the package documentation.
var (
	// DefaultPair: five free failures, then 0.25s doubling to 4s, and a
	// block at ten: ten failures per 15 minutes for one user from one
	// address, and a user who mistyped ten times waits 90 seconds.
	DefaultPair = Rule{Free: 5, Delay: 250 * time.Millisecond, MaxDelay: 4 * time.Second, Block: 10, Forget: 90 * time.Second}
	// DefaultAddr: twenty free failures (a shared NAT), then 0.25s doubling
	// to 2s, and a block at a hundred: a hundred failures per 15 minutes
	// from one address or /64, whatever the usernames.
	DefaultAddr = Rule{Free: 20, Delay: 250 * time.Millisecond, MaxDelay: 2 * time.Second, Block: 100, Forget: 9 * time.Second}
	// DefaultUser: five free failures, then 0.25s doubling to 2s, never a
	// block; a spray stopped drains in about five minutes.
	DefaultUser = Rule{Free: 5, Delay: 250 * time.Millisecond, MaxDelay: 2 * time.Second, Forget: time.Minute}
	// Off never delays nor blocks, and its table keeps no entries. (A zero
	// Rule in a Config means the default rule, not this.)
	Off = Rule{Forget: time.Minute}
)

// DefaultMaxEntries bounds each table when Config.MaxEntries is zero.
const DefaultMaxEntries = 100_000

// Config configures a Limiter. Zero fields take defaults: time.Now,
// DefaultMaxEntries, and for a zero Rule the matching Default rule.
type Config struct {
	Now        func() time.Time
	MaxEntries int // per table
	Pair       Rule
	Addr       Rule
	// User should keep Block 0: a block per username lets anyone lock a
	// user out by failing logins from anywhere.
	User Rule
}

// Validate reports every problem of the configuration at once, after
// defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.MaxEntries < 1 {
		errs = append(errs, fmt.Errorf("throttle: max entries %d must be positive", c.MaxEntries))
	}
	for _, r := range []struct {
		name string
		Rule
	}{{"pair", c.Pair}, {"addr", c.Addr}, {"user", c.User}} {
		if r.Forget <= 0 {
			errs = append(errs, fmt.Errorf("throttle: %s rule: forget must be positive", r.name))
		}
		if r.Free < 0 || r.Block < 0 {
			errs = append(errs, fmt.Errorf("throttle: %s rule: free and block must not be negative", r.name))
		}
		if r.Delay < 0 || r.MaxDelay < r.Delay {
			errs = append(errs, fmt.Errorf("throttle: %s rule: want 0 <= delay <= max delay", r.name))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.Pair == (Rule{}) {
		c.Pair = DefaultPair
	}
	if c.Addr == (Rule{}) {
		c.Addr = DefaultAddr
	}
	if c.User == (Rule{}) {
		c.User = DefaultUser
	}
}

// Decision is what Check advises for a login attempt.
type Decision struct {
	// Delay is how long to wait before answering; the caller sleeps,
	// giving up when the request's context ends.
	Delay time.Duration
	// Block means refuse without checking the password: 429 with
	// Retry-After.
	Block bool
	// RetryAfter, when Block, is when a new attempt may succeed, rounded up
	// to whole seconds as the Retry-After header wants.
	RetryAfter time.Duration
	// Suspect means the address, or this user from this address, has
	// failures on record: the server lets such logins wait behind others
	// for a hashing slot, so that a flood of wrong passwords cannot crowd
	// out valid logins from elsewhere.
	Suspect bool
}

// Limiter counts failed logins. It is safe for concurrent use.
type Limiter struct {
	now  func() time.Time
	seed maphash.Seed

	mu    sync.Mutex
	pairs *table[pairKey]
	addrs *table[addrKey]
	users *table[uint64]
}

type addrKey [16]byte

type pairKey struct {
	user uint64
	addr addrKey
}

// New returns a Limiter. It panics if cfg is invalid (see Config.Validate),
// which is a programming error.
func New(cfg Config) *Limiter {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg.setDefaults()
	return &Limiter{
		now:   cfg.Now,
		seed:  maphash.MakeSeed(),
		pairs: newTable[pairKey](cfg.Pair, cfg.MaxEntries),
		addrs: newTable[addrKey](cfg.Addr, cfg.MaxEntries),
		users: newTable[uint64](cfg.User, cfg.MaxEntries),
	}
}

// keys maps a login attempt to table keys. Usernames are hashed with a
// per-Limiter random seed, so entries have a fixed size and collisions
// cannot be chosen.
func (l *Limiter) keys(username string, addr netip.Addr) (pairKey, addrKey, uint64) {
	u := maphash.String(l.seed, strings.ToLower(username))
	a := groupAddr(addr)
	return pairKey{u, a}, a, u
}

// groupAddr returns the key of addr's group: the IPv4 address, or the /64
// of an IPv6 address. Invalid addresses share one key of their own.
func groupAddr(addr netip.Addr) addrKey {
	addr = addr.Unmap()
	switch {
	case addr.Is4():
		return addr.As16() // ::ffff:a.b.c.d; no masked IPv6 key has 0xffff there
	case addr.Is6():
		k := addr.As16()
		clear(k[8:])
		return k
	default:
		var k addrKey
		for i := range k {
			k[i] = 0xff
		}
		return k
	}
}

// Check advises on a login attempt before its password is verified. It
// never adds entries.
func (l *Limiter) Check(username string, addr netip.Addr) Decision {
	pk, ak, uk := l.keys(username, addr)
	now := l.now().UnixNano()
	l.mu.Lock()
	p := l.pairs.level(pk, now)
	a := l.addrs.level(ak, now)
	u := l.users.level(uk, now)
	l.mu.Unlock()

	if retry := max(l.pairs.retryAfter(p), l.addrs.retryAfter(a)); retry > 0 {
		return Decision{Block: true, RetryAfter: roundUpSecond(retry)}
	}
	return Decision{Delay: max(l.pairs.delay(p), l.addrs.delay(a), l.users.delay(u)), Suspect: p > 0 || a > 0}
}

// Failure records a failed login: a wrong password, and equally an unknown
// or disabled user, so that throttling reveals nothing about which
// usernames exist.
func (l *Limiter) Failure(username string, addr netip.Addr) {
	pk, ak, uk := l.keys(username, addr)
	now := l.now().UnixNano()
	l.mu.Lock()
	l.pairs.fail(pk, now)
	l.addrs.fail(ak, now)
	l.users.fail(uk, now)
	l.mu.Unlock()
}

// Success records a successful login: it resets the counts of the username
// and of the pair, not of the address.
func (l *Limiter) Success(username string, addr netip.Addr) {
	pk, _, uk := l.keys(username, addr)
	l.mu.Lock()
	l.pairs.remove(pk)
	l.users.remove(uk)
	l.mu.Unlock()
}

func roundUpSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}

// table is one leaky-bucket counter per key, bounded to max entries with
// least-recently-used eviction. Entries live in a slice linked into a
// recency list by index, so an entry costs no allocation of its own. It is
// not safe for concurrent use; the Limiter's mutex guards it.
type table[K comparable] struct {
	rule   Rule
	forget int64 // Rule.Forget in nanoseconds
	limit  int64 // the highest count worth keeping
	max    int

	index      map[K]int32
	nodes      []node[K]
	free       []int32 // unused slots of nodes
	head, tail int32   // most and least recently used; -1 when empty
}

type node[K comparable] struct {
	key K
	// tat is when the bucket will be empty (Unix nanoseconds): each failure
	// pushes it Forget later, so the count is ceil((tat-now)/Forget).
	tat        int64
	prev, next int32
}

func newTable[K comparable](r Rule, max int) *table[K] {
	t := &table[K]{rule: r, forget: int64(r.Forget), max: max, index: make(map[K]int32), head: -1, tail: -1}
	t.limit = int64(r.Block)
	if r.Block == 0 {
		// The count at which the delay reaches MaxDelay; more would only
		// keep the username slow for longer after an attack ends.
		steps := 0
		if r.Delay > 0 {
			for d := r.Delay; d < r.MaxDelay; d *= 2 {
				steps++
			}
		}
		t.limit = int64(r.Free + steps)
	}
	return t
}

// level returns how long k's bucket takes to drain, in nanoseconds, and
// marks k recently used. Drained entries are removed.
func (t *table[K]) level(k K, now int64) int64 {
	i, ok := t.index[k]
	if !ok {
		return 0
	}
	left := t.nodes[i].tat - now
	if left <= 0 {
		t.removeAt(k, i)
		return 0
	}
	t.touch(i)
	return left
}

// count turns a level into a number of failures, rounding up: a failure
// counts until it is entirely forgotten.
func (t *table[K]) count(level int64) int64 {
	return (level + t.forget - 1) / t.forget
}

// fail adds one failure to k's count, evicting the least recently used
// entry when the table is full. A table whose rule neither delays nor
// blocks (Off) counts nothing.
func (t *table[K]) fail(k K, now int64) {
	if t.limit == 0 {
		return
	}
	i, ok := t.index[k]
	if !ok {
		i = t.insert(k, now)
	}
	n := &t.nodes[i]
	n.tat = min(max(n.tat, now)+t.forget, now+t.limit*t.forget)
	t.touch(i)
}

func (t *table[K]) remove(k K) {
	if i, ok := t.index[k]; ok {
		t.removeAt(k, i)
	}
}

func (t *table[K]) len() int { return len(t.index) }

// retryAfter returns how long until the count falls below Block, or 0 when
// it is below already or the rule never blocks.
func (t *table[K]) retryAfter(level int64) time.Duration {
	if t.rule.Block == 0 {
		return 0
	}
	// The count is below Block once level <= (Block-1)×Forget.
	return time.Duration(max(0, level-int64(t.rule.Block-1)*t.forget))
}

// delay returns the delay for a level.
func (t *table[K]) delay(level int64) time.Duration {
	r := t.rule
	count := t.count(level)
	if count < int64(r.Free) || r.Delay == 0 {
		return 0
	}
	steps := count - int64(r.Free)
	if steps >= 62 || bits.Len64(uint64(r.Delay))+int(steps) >= 63 {
		return r.MaxDelay
	}
	return min(r.Delay<<steps, r.MaxDelay)
}

func (t *table[K]) insert(k K, now int64) int32 {
	var i int32
	switch {
	case len(t.index) >= t.max:
		i = t.tail
		t.removeAt(t.nodes[i].key, i)
		t.free = t.free[:len(t.free)-1] // reuse slot i at once
	case len(t.free) > 0:
		i = t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
	default:
		t.nodes = append(t.nodes, node[K]{})
		i = int32(len(t.nodes) - 1)
	}
	t.nodes[i] = node[K]{key: k, tat: now, prev: -1, next: -1}
	t.index[k] = i
	t.pushFront(i)
	return i
}

func (t *table[K]) removeAt(k K, i int32) {
	t.unlink(i)
	delete(t.index, k)
	var zero node[K]
	t.nodes[i] = zero
	t.free = append(t.free, i)
}

func (t *table[K]) touch(i int32) {
	if t.head == i {
		return
	}
	t.unlink(i)
	t.pushFront(i)
}

func (t *table[K]) pushFront(i int32) {
	n := &t.nodes[i]
	n.prev, n.next = -1, t.head
	if t.head >= 0 {
		t.nodes[t.head].prev = i
	}
	t.head = i
	if t.tail < 0 {
		t.tail = i
	}
}

func (t *table[K]) unlink(i int32) {
	n := &t.nodes[i]
	if n.prev >= 0 {
		t.nodes[n.prev].next = n.next
	} else {
		t.head = n.next
	}
	if n.next >= 0 {
		t.nodes[n.next].prev = n.prev
	} else {
		t.tail = n.prev
	}
	n.prev, n.next = -1, -1
}
