package throttle

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a manual clock, safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time             { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration)    { c.ns.Add(int64(d)) }
func newLimiter(c *clock, max int) *Limiter { return New(Config{Now: c.Now, MaxEntries: max}) }

var (
	owner    = netip.MustParseAddr("198.51.100.7")
	attacker = netip.MustParseAddr("203.0.113.9")
)

func fail(l *Limiter, user string, addr netip.Addr, n int) {
	for range n {
		l.Failure(user, addr)
	}
}

func (l *Limiter) sizes() (pairs, addrs, users int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pairs.len(), l.addrs.len(), l.users.len()
}

func TestLimiter_Check_PairThresholds(t *testing.T) {
	tests := []struct {
		failures int
		want     Decision
	}{
		{0, Decision{}},
		{4, Decision{}},
		{5, Decision{Delay: 250 * time.Millisecond}},
		{6, Decision{Delay: 500 * time.Millisecond}},
		{7, Decision{Delay: time.Second}},
		{8, Decision{Delay: 2 * time.Second}},
		{9, Decision{Delay: 4 * time.Second}},
		{10, Decision{Block: true, RetryAfter: 90 * time.Second}},
		{50, Decision{Block: true, RetryAfter: 90 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.failures), func(t *testing.T) {
			l := newLimiter(newClock(), 0)
			fail(l, "alice", attacker, tt.failures)
			if got := l.Check("alice", attacker); throttled(got) != tt.want {
				t.Errorf("after %d failures Check = %+v, want %+v", tt.failures, got, tt.want)
			}
		})
	}
}

func TestLimiter_Check_Decay(t *testing.T) {
	c := newClock()
	l := newLimiter(c, 0)
	fail(l, "alice", attacker, 10)
	steps := []struct {
		advance time.Duration
		want    Decision
	}{
		{0, Decision{Block: true, RetryAfter: 90 * time.Second}},
		{60 * time.Second, Decision{Block: true, RetryAfter: 30 * time.Second}},
		{29*time.Second + 500*time.Millisecond, Decision{Block: true, RetryAfter: time.Second}}, // rounded up
		{500 * time.Millisecond, Decision{Delay: 4 * time.Second}},                              // 9 left
		{4 * 90 * time.Second, Decision{Delay: 250 * time.Millisecond}},                         // 5 left
		{90 * time.Second, Decision{}},                                                          // 4 left, free
		{4 * 90 * time.Second, Decision{}},                                                      // drained at 15 min
	}
	for i, s := range steps {
		c.Advance(s.advance)
		if got := l.Check("alice", attacker); throttled(got) != s.want {
			t.Errorf("step %d (+%v): Check = %+v, want %+v", i, s.advance, got, s.want)
		}
	}
	if p, a, u := l.sizes(); p+a+u != 0 {
		t.Errorf("drained entries kept: %d pairs, %d addrs, %d users", p, a, u)
	}
	// One attempt per Forget is the sustained rate once blocked.
	fail(l, "alice", attacker, 10)
	c.Advance(90 * time.Second)
	if d := l.Check("alice", attacker); d.Block {
		t.Fatalf("Check after one Forget = %+v, want an attempt allowed", d)
	}
	l.Failure("alice", attacker)
	if d := l.Check("alice", attacker); !d.Block || d.RetryAfter != 90*time.Second {
		t.Errorf("Check after the allowed attempt failed = %+v, want blocked 90s", d)
	}
}

func TestLimiter_Success(t *testing.T) {
	c := newClock()
	l := newLimiter(c, 0)
	fail(l, "alice", owner, 9)
	if d := l.Check("alice", owner); d.Delay == 0 {
		t.Fatalf("Check after 9 failures = %+v, want a delay", d)
	}
	l.Success("Alice", owner)
	if d := l.Check("alice", owner); throttled(d) != (Decision{}) {
		t.Errorf("Check after success = %+v, want no delay", d)
	}

	// The address's count survives a success: one valid account does not
	// clear an address that stuffs credentials.
	for i := range 30 {
		l.Failure(fmt.Sprintf("victim%d", i), attacker)
	}
	l.Success("mallory", attacker)
	if d := l.Check("mallory", attacker); d.Delay == 0 {
		t.Errorf("Check after stuffing and one success = %+v, want the address's delay", d)
	}
}

func TestLimiter_Check_AddressBlock(t *testing.T) {
	l := newLimiter(newClock(), 0)
	for i := range 99 {
		l.Failure(fmt.Sprintf("user%d", i), attacker)
	}
	if d := l.Check("someone", attacker); d.Block || d.Delay != 2*time.Second {
		t.Errorf("after 99 failures from one address Check = %+v, want delay 2s, no block", d)
	}
	l.Failure("user99", attacker)
	if d := l.Check("someone", attacker); !d.Block || d.RetryAfter != 9*time.Second {
		t.Errorf("after 100 failures from one address Check = %+v, want blocked 9s", d)
	}
	if d := l.Check("user1", owner); d != (Decision{}) {
		t.Errorf("another address for a stuffed username: Check = %+v, want nothing", d)
	}
}

func TestLimiter_Check_SprayDoesNotLockOutOwner(t *testing.T) {
	tests := []struct {
		name          string
		addrs, perAdr int
	}{
		{"one failure from each of 10000 addresses", 10000, 1},
		{"twenty failures from each of 500 addresses", 500, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			l := newLimiter(c, 0)
			for i := range tt.addrs {
				a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				fail(l, "alice", a, tt.perAdr)
			}
			d := l.Check("alice", owner)
			if d.Block {
				t.Fatalf("owner's address blocked: %+v", d)
			}
			if d.Delay != 2*time.Second {
				t.Errorf("owner's delay = %v, want 2s: the username is slowed down", d.Delay)
			}
			if tt.perAdr >= 10 {
				if d := l.Check("alice", netip.AddrFrom4([4]byte{10, 0, 0, 1})); !d.Block {
					t.Errorf("an attacking pair is not blocked: %+v", d)
				}
			}
			// The owner logs in: the username's delay is gone.
			l.Success("alice", owner)
			if d := l.Check("alice", owner); d != (Decision{}) {
				t.Errorf("after the owner's success Check = %+v, want nothing", d)
			}
			// Had the owner not logged in, the delay drains within minutes
			// of the spray's end.
			fail(l, "bob", attacker, 3)
			for i := range 1000 {
				l.Failure("bob", netip.AddrFrom4([4]byte{11, 0, byte(i >> 8), byte(i)}))
			}
			c.Advance(5 * time.Minute)
			if d := l.Check("bob", owner); d != (Decision{}) {
				t.Errorf("5 minutes after a spray Check = %+v, want nothing", d)
			}
		})
	}
}

func TestLimiter_IPv6Grouping(t *testing.T) {
	tests := []struct {
		name   string
		a, b   string
		shared bool
	}{
		{"same /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"zone ignored", "fe80::1%eth0", "fe80::2%eth1", true},
		{"next /64", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"IPv4-mapped is IPv4", "192.0.2.1", "::ffff:192.0.2.1", true},
		{"IPv4 neighbours", "192.0.2.1", "192.0.2.2", false},
		{"IPv4 and ::/64", "0.0.0.0", "::", false},
		{"IPv4-mapped range and its /64", "::ffff:192.0.2.1", "::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(newClock(), 0)
			a, b := netip.MustParseAddr(tt.a), netip.MustParseAddr(tt.b)
			fail(l, "alice", a, 10)
			if d := l.Check("alice", a); !d.Block {
				t.Fatalf("Check(%s) = %+v, want blocked", a, d)
			}
			if got := l.Check("alice", b).Block; got != tt.shared {
				t.Errorf("Check(%s) blocked = %v, want %v", b, got, tt.shared)
			}
		})
	}
	// Invalid addresses share one group of their own.
	l := newLimiter(newClock(), 0)
	fail(l, "alice", netip.Addr{}, 10)
	if !l.Check("alice", netip.Addr{}).Block || l.Check("alice", netip.MustParseAddr("::")).Block {
		t.Error("invalid address group wrong")
	}
}

func TestLimiter_UsernameCase(t *testing.T) {
	l := newLimiter(newClock(), 0)
	for _, u := range []string{"alice", "Alice", "ALICE", "aLiCe", "alicE", "ALice", "AlIce", "aliCE", "ALICe", "aLICE"} {
		l.Failure(u, attacker)
	}
	if d := l.Check("alice", attacker); !d.Block {
		t.Errorf("ten failures in mixed case: Check = %+v, want blocked", d)
	}
}

func TestLimiter_Bounded(t *testing.T) {
	const max = 1000
	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 250_000 // still 250 times the bound
	}
	c := newClock()
	l := newLimiter(c, max)
	r := rand.New(rand.NewPCG(1, 2))
	var name []byte
	for i := range n {
		x := r.Uint64()
		name = strconv.AppendUint(name[:0], x, 36)
		addr := netip.AddrFrom4([4]byte{byte(x), byte(x >> 8), byte(x >> 16), byte(x >> 24)})
		l.Failure(string(name), addr)
		if i%500 == 0 {
			// A client keeps failing from its address: its entries stay
			// recently used and survive the flood.
			l.Failure("steady", owner)
			c.Advance(time.Millisecond)
		}
	}
	p, a, u := l.sizes()
	if p > max || a > max || u > max {
		t.Errorf("after %d random usernames: %d pairs, %d addrs, %d users; want at most %d each", n, p, a, u, max)
	}
	if p != max || u != max {
		t.Errorf("tables not full: %d pairs, %d users, want %d", p, u, max)
	}
	if d := l.Check("steady", owner); !d.Block {
		t.Errorf("recently used pair was evicted: Check = %+v", d)
	}
	l.mu.Lock()
	nodes := len(l.pairs.nodes)
	l.mu.Unlock()
	if nodes > max {
		t.Errorf("pair table slots = %d, want at most %d", nodes, max)
	}
}

func TestLimiter_Check_AddsNothing(t *testing.T) {
	l := newLimiter(newClock(), 0)
	for i := range 1000 {
		l.Check(fmt.Sprint("user", i), netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		l.Success(fmt.Sprint("user", i), owner)
	}
	if p, a, u := l.sizes(); p+a+u != 0 {
		t.Errorf("Check and Success added entries: %d pairs, %d addrs, %d users", p, a, u)
	}
}

func TestLimiter_LRUEviction(t *testing.T) {
	c := newClock()
	l := newLimiter(c, 3)
	fail(l, "a", owner, 10)
	fail(l, "b", owner, 10)
	fail(l, "c", owner, 10)
	l.Check("a", owner) // a is now more recent than b
	fail(l, "d", owner, 1)
	if !l.Check("a", owner).Block {
		t.Error("recently checked pair a evicted")
	}
	if l.Check("b", owner).Block {
		t.Error("least recently used pair b kept")
	}
	if !l.Check("c", owner).Block {
		t.Error("pair c evicted before b")
	}
}

func TestLimiter_Concurrent(t *testing.T) {
	c := newClock()
	l := newLimiter(c, 500)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				user := fmt.Sprint("u", (g*7+i)%700)
				addr := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i % 300)})
				switch i % 5 {
				case 0:
					l.Success(user, addr)
				case 1:
					c.Advance(time.Second)
					l.Check(user, addr)
				default:
					l.Failure(user, addr)
				}
			}
		})
	}
	wg.Wait()
	p, a, u := l.sizes()
	if p > 500 || a > 500 || u > 500 {
		t.Errorf("sizes %d, %d, %d exceed 500", p, a, u)
	}
	// The linked list and the index agree.
	for _, tb := range []interface{ check() error }{l.pairs, l.addrs, l.users} {
		if err := tb.check(); err != nil {
			t.Error(err)
		}
	}
}

// check verifies the table's invariants.
func (t *table[K]) check() error {
	seen := 0
	prev := int32(-1)
	for i := t.head; i >= 0; i = t.nodes[i].next {
		n := t.nodes[i]
		if n.prev != prev {
			return fmt.Errorf("node %d: prev %d, want %d", i, n.prev, prev)
		}
		if j, ok := t.index[n.key]; !ok || j != i {
			return fmt.Errorf("node %d not indexed", i)
		}
		prev = i
		if seen++; seen > len(t.nodes) {
			return fmt.Errorf("cycle in the list")
		}
	}
	if prev != t.tail || seen != len(t.index) || seen+len(t.free) != len(t.nodes) {
		return fmt.Errorf("list of %d, index of %d, %d free of %d slots", seen, len(t.index), len(t.free), len(t.nodes))
	}
	return nil
}

func TestConfig_Validate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	bad := Config{
		MaxEntries: -1,
		Pair:       Rule{Free: 1, Block: 2},
		Addr:       Rule{Free: -1, Forget: time.Second},
		User:       Rule{Delay: time.Second, MaxDelay: time.Millisecond, Forget: time.Second},
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad Config: Validate = nil")
	}
	for _, want := range []string{"max entries", "pair rule: forget", "addr rule: free", "user rule: want 0 <= delay"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %q, want it to report %q", err, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New(bad) did not panic")
		}
	}()
	New(bad)
}

func TestRule_DelayNoOverflow(t *testing.T) {
	r := Rule{Free: 0, Delay: time.Hour, MaxDelay: 1000 * time.Hour, Forget: time.Second}
	tb := newTable[uint64](r, 10)
	for _, n := range []int64{0, 1, 9, 10, 40, 63, 64, 1 << 40} {
		if d := tb.delay(n * int64(time.Second)); d < 0 || d > r.MaxDelay {
			t.Errorf("delay(count %d) = %v, want within [0, %v]", n, d, r.MaxDelay)
		}
	}
}

func BenchmarkLimiter_CheckFailure(b *testing.B) {
	l := New(Config{})
	names := make([]string, 4096)
	for i := range names {
		names[i] = fmt.Sprint("user", i)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
			l.Check(names[i%len(names)], a)
			l.Failure(names[i%len(names)], a)
			i++
		}
	})
}

func TestLimiter_Suspect(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := New(Config{Now: func() time.Time { return now }})
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if l.Check("alice", a).Suspect {
		t.Fatal("suspect before any failure")
	}
	l.Failure("mallory", a)
	if !l.Check("alice", a).Suspect {
		t.Error("an address with a failure on record is not suspect")
	}
	if l.Check("alice", b).Suspect {
		t.Error("another address is suspect")
	}
	l.Failure("alice", b)
	l.Success("alice", b)
	if !l.Check("alice", b).Suspect {
		t.Error("success cleared the address's failures; only the user's and the pair's should go")
	}
	now = now.Add(time.Hour)
	if l.Check("alice", a).Suspect || l.Check("alice", b).Suspect {
		t.Error("still suspect after the failures were forgotten")
	}
}

// throttled is a Decision without its Suspect flag, which TestLimiter_Suspect
// covers.
func throttled(d Decision) Decision {
	d.Suspect = false
	return d
}

// TestLimiter_RuleOff: a table whose rule is Off never delays nor blocks
// and keeps no entries, as for client authentication, which is throttled
// per pair and per address only.
func TestLimiter_RuleOff(t *testing.T) {
	c := newClock()
	l := New(Config{Now: c.Now, User: Off})
	for i := range 1000 {
		l.Failure("app", netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	if _, _, users := l.sizes(); users != 0 {
		t.Errorf("the Off table holds %d entries, want 0", users)
	}
	if d := l.Check("app", owner); d != (Decision{}) {
		t.Errorf("after a spray from 1000 addresses Check from another = %+v, want nothing", d)
	}
	// The other tables still count.
	fail(l, "app", attacker, 10)
	if d := l.Check("app", attacker); !d.Block {
		t.Errorf("after 10 failures of one pair Check = %+v, want a block", d)
	}
}
