package users

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
)

// memBucket is a Bucket in memory with the engine's compare-and-set
// semantics, for the backoff's table tests.
type memBucket struct {
	mu   sync.Mutex
	rev  uint64
	vals map[string]engine.Entry // guarded by mu
}

func newMemBucket() *memBucket { return &memBucket{vals: map[string]engine.Entry{}} }

func (m *memBucket) Get(_ context.Context, key string) (engine.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.vals[key]
	if !ok {
		return engine.Entry{}, engine.ErrNotFound
	}
	return e, nil
}

func (m *memBucket) put(key string, value []byte) uint64 {
	m.rev++
	m.vals[key] = engine.Entry{Key: key, Value: append([]byte(nil), value...), Revision: m.rev}
	return m.rev
}

func (m *memBucket) Create(_ context.Context, key string, value []byte) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.vals[key]; ok {
		return 0, engine.ErrExists
	}
	return m.put(key, value), nil
}

func (m *memBucket) Update(_ context.Context, key string, value []byte, rev uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vals[key].Revision != rev {
		return 0, engine.ErrRevision
	}
	return m.put(key, value), nil
}

func (m *memBucket) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.vals, key)
	return nil
}

func (m *memBucket) Keys(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.vals {
		keys = append(keys, k)
	}
	return keys, nil
}

// clock is a test's time, moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time // guarded by mu
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func fails(n int, user, addr string) []step {
	s := make([]step, n)
	for i := range s {
		s[i] = step{op: "fail", user: user, addr: addr}
	}
	return s
}

// step is one event of a backoff table case: fail, succeed, or check
// (want is what Check returns), or advance the clock by d.
type step struct {
	op         string
	user, addr string
	d          time.Duration // advance: by how much
	want       time.Duration // check: the wait expected
}

func check(user, addr string, want time.Duration) step {
	return step{op: "check", user: user, addr: addr, want: want}
}
func advance(d time.Duration) step { return step{op: "advance", d: d} }

func cat(parts ...[]step) []step {
	var all []step
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	const a1, a2 = "192.0.2.1", "192.0.2.2"
	small := &BackoffOptions{Base: time.Second, Max: 8 * time.Second, Forget: time.Hour, FreePair: 2, FreeUser: 4, FreeAddr: 6}
	for _, tc := range []struct {
		name  string
		opts  *BackoffOptions
		steps []step
	}{
		{"free failures cost nothing", nil, cat(
			fails(DefaultBackoffFreePair, "alice", a1),
			[]step{check("alice", a1, 0)},
		)},
		{"the delay doubles after the free ones", small, cat(
			fails(3, "alice", a1), []step{check("alice", a1, 1*time.Second), advance(time.Second)},
			fails(1, "alice", a1), []step{check("alice", a1, 2*time.Second), advance(2 * time.Second)},
			fails(1, "alice", a1), []step{check("alice", a1, 4*time.Second)},
		)},
		{"the delay counts down from the last failure", small, cat(
			fails(5, "alice", a1),
			[]step{check("alice", a1, 4*time.Second), advance(3 * time.Second), check("alice", a1, time.Second),
				advance(time.Second), check("alice", a1, 0)},
		)},
		{"the delay stops at its cap", small, cat(
			fails(40, "alice", a1),
			[]step{check("alice", a1, 8*time.Second), advance(8 * time.Second), check("alice", a1, 0)},
		)},
		{"the default cap is 15 minutes", nil, cat(
			fails(100, "alice", a1),
			[]step{check("alice", a1, 15*time.Minute), advance(15 * time.Minute), check("alice", a1, 0)},
		)},
		{"counters are forgotten", small, cat(
			fails(40, "alice", a1),
			[]step{advance(time.Hour), check("alice", a1, 0)},
			fails(1, "alice", a1), []step{check("alice", a1, 0)}, // counting from 1 again
		)},
		{"the pair does not slow the user elsewhere", small, cat(
			fails(3, "alice", a1),
			[]step{check("alice", a1, time.Second), check("alice", a2, 0), check("bob", a1, 0)},
		)},
		{"the user is slowed from every address", small, cat(
			fails(1, "alice", "198.51.100.1"), fails(1, "alice", "198.51.100.2"),
			fails(1, "alice", "198.51.100.3"), fails(1, "alice", "198.51.100.4"),
			[]step{check("alice", "198.51.100.9", 0)},
			fails(1, "alice", "198.51.100.5"),
			[]step{check("alice", "198.51.100.9", time.Second), check("bob", "198.51.100.9", 0)},
		)},
		{"the address is slowed for every user", small, cat(
			fails(1, "u1", a1), fails(1, "u2", a1), fails(1, "u3", a1),
			fails(1, "u4", a1), fails(1, "u5", a1), fails(1, "u6", a1),
			[]step{check("u7", a1, 0)},
			fails(1, "u7", a1),
			[]step{check("u8", a1, time.Second), check("u8", a2, 0)},
		)},
		{"success clears the pair and the user", small, cat(
			fails(5, "alice", a1),
			[]step{check("alice", a1, 4*time.Second), check("alice", a2, time.Second),
				{op: "succeed", user: "alice", addr: a1},
				check("alice", a1, 0), check("alice", a2, 0)},
		)},
		{"success keeps the address's counter", small, cat(
			fails(1, "u1", a1), fails(1, "u2", a1), fails(1, "u3", a1),
			fails(1, "u4", a1), fails(1, "u5", a1), fails(1, "u6", a1), fails(1, "u7", a1),
			[]step{{op: "succeed", user: "u7", addr: a1}, check("u8", a1, time.Second)},
		)},
		{"user names count without case", small, cat(
			fails(3, "Alice", a1), []step{check("alice", a1, time.Second)},
		)},
		{"the port does not count", small, cat(
			fails(3, "alice", "192.0.2.1:4000"), []step{check("alice", "192.0.2.1:5000", time.Second)},
		)},
		{"an IPv6 /64 is one address", small, cat(
			fails(3, "alice", "[2001:db8:1:2::1]:443"),
			[]step{check("alice", "2001:db8:1:2:ffff::9", time.Second), check("alice", "2001:db8:1:3::1", 0)},
		)},
		{"an IPv4-mapped address is the IPv4 address", small, cat(
			fails(3, "alice", "::ffff:192.0.2.1"), []step{check("alice", a1, time.Second)},
		)},
		{"no free failures", &BackoffOptions{FreePair: -1, FreeUser: -1, FreeAddr: -1}, cat(
			fails(1, "alice", a1), []step{check("alice", a1, DefaultBackoffBase)},
		)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			var o BackoffOptions
			if tc.opts != nil {
				o = *tc.opts
			}
			o.Now = clk.Now
			bo := NewBackoff(newMemBucket(), &o)
			ctx := t.Context()
			for i, s := range tc.steps {
				switch s.op {
				case "fail":
					if _, err := bo.Fail(ctx, s.user, s.addr); err != nil {
						t.Fatalf("step %d: Fail: %v", i, err)
					}
				case "succeed":
					if err := bo.Succeed(ctx, s.user, s.addr); err != nil {
						t.Fatalf("step %d: Succeed: %v", i, err)
					}
				case "advance":
					clk.Add(s.d)
				case "check":
					got, err := bo.Check(ctx, s.user, s.addr)
					if err != nil || got != s.want {
						t.Fatalf("step %d: Check(%s, %s) = %v, %v; want %v", i, s.user, s.addr, got, err, s.want)
					}
				}
			}
		})
	}
}

// TestBackoffFailReturnsWait: Fail says how long the next attempt waits,
// as Check then does.
func TestBackoffFailReturnsWait(t *testing.T) {
	t.Parallel()
	clk := newClock()
	bo := NewBackoff(newMemBucket(), &BackoffOptions{FreePair: 1, Now: clk.Now})
	ctx := t.Context()
	for i, want := range []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second} {
		got, err := bo.Fail(ctx, "alice", "192.0.2.1")
		if err != nil || got != want {
			t.Fatalf("failure %d: Fail = %v, %v; want %v", i+1, got, err, want)
		}
		if c, _ := bo.Check(ctx, "alice", "192.0.2.1"); c != want {
			t.Fatalf("failure %d: Check = %v; want %v", i+1, c, want)
		}
	}
}

// TestBackoffKeys: the bucket's keys are valid engine keys whatever the
// name and address, and hold neither in clear.
func TestBackoffKeys(t *testing.T) {
	t.Parallel()
	m := newMemBucket()
	bo := NewBackoff(m, nil)
	user, addr := "a.b@c d*>/"+strings.Repeat("x", 1000), "not an address\x00"
	if _, err := bo.Fail(t.Context(), user, addr); err != nil {
		t.Fatal(err)
	}
	keys, _ := m.Keys(t.Context())
	if len(keys) != 3 {
		t.Fatalf("%d keys, want 3: %q", len(keys), keys)
	}
	for _, k := range keys {
		kind, rest, _ := strings.Cut(k, ".")
		if !strings.Contains("pua", kind) || len(rest) != 43 || strings.Trim(rest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Errorf("key %q: want p., u. or a. and a base64url SHA-256", k)
		}
	}
}

// TestBackoffNodesAgree: two Backoff values on one engine's bucket, as two
// console nodes have, count every failure either makes, when failing at
// once (their compare-and-set retries), and see the same wait; a success
// on one clears the pair for the other.
func TestBackoffNodesAgree(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	e := enginetest.Embedded(t)
	clk := newClock()
	opts := &BackoffOptions{Base: time.Second, Max: time.Hour, FreePair: 1, FreeUser: 1000, FreeAddr: 1000, Now: clk.Now}
	var nodes [2]*Backoff
	for i := range nodes {
		bo, err := OpenBackoff(ctx, e, opts)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = bo
	}
	const perNode = 5
	var wg sync.WaitGroup
	errs := make(chan error, 2*perNode)
	for _, bo := range nodes {
		for range perNode {
			wg.Go(func() {
				if _, err := bo.Fail(ctx, "alice", "192.0.2.1"); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// 10 failures, 1 free: 2^8 s.
	want := 256 * time.Second
	for i, bo := range nodes {
		if got, err := bo.Check(ctx, "alice", "192.0.2.1"); err != nil || got != want {
			t.Fatalf("node %d: Check = %v, %v; want %v (every failure counted once)", i, got, err, want)
		}
	}
	if err := nodes[0].Succeed(ctx, "alice", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if got, err := nodes[1].Check(ctx, "alice", "192.0.2.1"); err != nil || got != 0 {
		t.Fatalf("node 1 after node 0's success: Check = %v, %v; want 0", got, err)
	}
}
