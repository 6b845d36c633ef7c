package websocket

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/websocket/internal/wstest"
)

// queued is the number of goroutines waiting for m.
func (m *ctxMutex) queued() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for w := m.head; w != nil; w = w.next {
		n++
	}
	return n
}

// waitQueued waits until n goroutines wait for m.
func waitQueued(t *testing.T, m *ctxMutex, n int) {
	t.Helper()
	wstest.WaitFor(t, 10*time.Second, func() bool { return m.queued() == n },
		"the goroutines waiting for the mutex never numbered %d", n)
}

// checkUnlocked checks that m is unlocked with nobody waiting.
func checkUnlocked(t *testing.T, m *ctxMutex) {
	t.Helper()
	if s := m.state.Load(); s != 0 {
		t.Fatalf("state = %#x once everyone is done, want 0", s)
	}
	if n := m.queued(); n != 0 {
		t.Fatalf("%d waiters once everyone is done", n)
	}
	if !m.tryLock() {
		t.Fatal("tryLock failed on an idle mutex")
	}
	m.unlock()
}

func TestCtxMutexBasic(t *testing.T) {
	t.Parallel()
	var m ctxMutex
	never := make(chan struct{})
	if err := m.lock(context.Background(), never); err != nil {
		t.Fatal(err)
	}
	if m.tryLock() {
		t.Fatal("tryLock succeeded on a locked mutex")
	}
	m.unlock()
	if !m.tryLock() {
		t.Fatal("tryLock failed on an unlocked mutex")
	}
	m.unlock()
	// As with the channel it replaces, a free mutex is taken even with a
	// done context: the fast path does not look at it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.lock(ctx, never); err != nil {
		t.Fatalf("lock of a free mutex with a done context: %v", err)
	}
	m.unlock()
	checkUnlocked(t, &m)
}

func TestCtxMutexUnlockUnlockedPanics(t *testing.T) {
	t.Parallel()
	var m ctxMutex
	defer func() {
		if recover() == nil {
			t.Fatal("unlock of an unlocked mutex did not panic")
		}
	}()
	m.unlock()
}

func TestCtxMutexCancelWhileWaiting(t *testing.T) {
	t.Parallel()
	var m ctxMutex
	m.lock(context.Background(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.lock(ctx, nil) }()
	waitQueued(t, &m, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("lock = %v, want %v", err, context.Canceled)
	}
	if n := m.queued(); n != 0 {
		t.Fatalf("%d waiters after the cancelled one left", n)
	}
	m.unlock()
	checkUnlocked(t, &m)
}

func TestCtxMutexDeadlineWhileWaiting(t *testing.T) {
	t.Parallel()
	var m ctxMutex
	m.lock(context.Background(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := m.lock(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock = %v, want %v", err, context.DeadlineExceeded)
	}
	m.unlock()
	checkUnlocked(t, &m)
}

func TestCtxMutexClosedWhileWaiting(t *testing.T) {
	t.Parallel()
	var m ctxMutex
	m.lock(context.Background(), nil)
	closed := make(chan struct{})
	const n = 5
	errc := make(chan error, n)
	for range n {
		go func() { errc <- m.lock(context.Background(), closed) }()
	}
	waitQueued(t, &m, n)
	close(closed)
	for range n {
		if err := <-errc; err != errClosed {
			t.Fatalf("lock = %v, want %v", err, errClosed)
		}
	}
	m.unlock()
	checkUnlocked(t, &m)
}

func TestCtxMutexLockOr(t *testing.T) {
	t.Parallel()
	var m ctxMutex
	if r := m.lockOr(nil, nil, nil); r != lockAcquired {
		t.Fatalf("lockOr of a free mutex = %d", r)
	}
	stop1, stop2 := make(chan struct{}), make(chan struct{})
	close(stop2)
	if r := m.lockOr(stop1, stop2, nil); r != lockStop2 {
		t.Fatalf("lockOr with stop2 closed = %d, want %d", r, lockStop2)
	}
	timer := time.NewTimer(10 * time.Millisecond)
	defer timer.Stop()
	if r := m.lockOr(stop1, nil, timer.C); r != lockTimeout {
		t.Fatalf("lockOr with a timer = %d, want %d", r, lockTimeout)
	}
	done := make(chan int, 1)
	go func() { done <- m.lockOr(stop1, nil, nil) }()
	waitQueued(t, &m, 1)
	m.unlock()
	if r := <-done; r != lockAcquired {
		t.Fatalf("lockOr after unlock = %d, want %d", r, lockAcquired)
	}
	m.unlock()
	checkUnlocked(t, &m)
}

// TestCtxMutexFIFO checks that waiters get the mutex in the order they
// queued, also when one in the middle of the queue gives up, and that
// tryLock does not take it from them.
func TestCtxMutexFIFO(t *testing.T) {
	t.Parallel()
	var m ctxMutex
	m.lock(context.Background(), nil)
	const n = 6
	order := make(chan int, n)
	ctxs := make([]context.CancelFunc, n)
	var wg sync.WaitGroup
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		ctxs[i] = cancel
		wg.Go(func() {
			if err := m.lock(ctx, nil); err != nil {
				return
			}
			order <- i
			m.unlock()
		})
		waitQueued(t, &m, i+1)
	}
	ctxs[2]()
	waitQueued(t, &m, n-1)
	if m.tryLock() {
		t.Fatal("tryLock took a mutex with waiters")
	}
	m.unlock()
	wg.Wait()
	close(order)
	var got []int
	for i := range order {
		got = append(got, i)
	}
	want := []int{0, 1, 3, 4, 5}
	if len(got) != len(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
	for _, cancel := range ctxs {
		cancel()
	}
	checkUnlocked(t, &m)
}

// TestCtxMutexStress has many goroutines lock, try to lock, and give up
// waiting, checking mutual exclusion (also through the race detector, with
// a plain counter), that every waiter that is not cancelled gets the mutex
// (no lost wake-ups: the test would hang), and that the mutex ends idle.
func TestCtxMutexStress(t *testing.T) {
	t.Parallel()
	var m ctxMutex
	closed := make(chan struct{})
	var (
		holders  atomic.Int32
		counter  int // guarded by m
		acquired atomic.Int64
		gaveUp   atomic.Int64
	)
	const goroutines = 32
	iters := 2000
	if testing.Short() {
		iters = 200
	}
	critical := func() {
		if h := holders.Add(1); h != 1 {
			t.Errorf("%d holders of the mutex", h)
		}
		counter++
		holders.Add(-1)
		acquired.Add(1)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range iters {
				switch r.IntN(4) {
				case 0:
					if m.tryLock() {
						critical()
						m.unlock()
					}
				case 1:
					// A wait that may well be cut short.
					ctx, cancel := context.WithTimeout(context.Background(), time.Duration(r.IntN(50))*time.Microsecond)
					if err := m.lock(ctx, closed); err == nil {
						critical()
						m.unlock()
					} else if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("lock = %v", err)
					} else {
						gaveUp.Add(1)
					}
					cancel()
				default:
					if err := m.lock(context.Background(), closed); err != nil {
						t.Errorf("lock = %v", err)
						return
					}
					critical()
					if r.IntN(8) == 0 {
						time.Sleep(time.Duration(r.IntN(20)) * time.Microsecond)
					}
					m.unlock()
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("goroutines still waiting after 2 minutes: %d queued (lost wake-up?)", m.queued())
	}
	m.lock(context.Background(), nil)
	if int64(counter) != acquired.Load() {
		t.Errorf("counter %d, acquisitions %d", counter, acquired.Load())
	}
	m.unlock()
	checkUnlocked(t, &m)
	t.Logf("%d acquisitions, %d waits given up", acquired.Load(), gaveUp.Load())
}

// TestCtxMutexCloseStress closes the connection's channel while many
// goroutines wait: each either got the mutex or reports errClosed.
func TestCtxMutexCloseStress(t *testing.T) {
	t.Parallel()
	for range 50 {
		var m ctxMutex
		closed := make(chan struct{})
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for {
					err := m.lock(context.Background(), closed)
					if err == errClosed {
						return
					}
					if err != nil {
						t.Errorf("lock = %v", err)
						return
					}
					m.unlock()
					// The fast path does not look at closed: a
					// goroutine that keeps finding the mutex free
					// stops by itself.
					select {
					case <-closed:
						return
					default:
					}
				}
			})
		}
		time.Sleep(time.Millisecond)
		close(closed)
		wg.Wait()
		checkUnlocked(t, &m)
	}
}

func BenchmarkCtxMutex(b *testing.B) {
	ctx := context.Background()
	closed := make(chan struct{})
	b.Run("uncontended", func(b *testing.B) {
		var m ctxMutex
		b.ReportAllocs()
		for b.Loop() {
			if err := m.lock(ctx, closed); err != nil {
				b.Fatal(err)
			}
			m.unlock()
		}
	})
	b.Run("contended", func(b *testing.B) {
		var m ctxMutex
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := m.lock(ctx, closed); err != nil {
					b.Error(err)
					return
				}
				m.unlock()
			}
		})
	})
}
