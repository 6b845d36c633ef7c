package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestSharedRequest: callers that arrive while a request is in flight
// share the next one, sent after they called, never the one already on
// its way; a caller whose context ends leaves without the others losing
// their answer; and no key is kept once its requests are done.
func TestSharedRequest(t *testing.T) {
	var (
		mu    sync.Mutex
		sent  int
		gates = map[int]chan struct{}{1: make(chan struct{})}
	)
	s := &shared[string, string]{do: func(ctx context.Context, k string) (string, error) {
		mu.Lock()
		sent++
		n := sent
		gate := gates[n]
		mu.Unlock()
		if gate != nil {
			<-gate
		}
		return fmt.Sprint(k, "#", n), nil
	}}
	callers := func(k string) int {
		s.mu.Lock()
		defer s.mu.Unlock()
		if c := s.keys[k]; c != nil {
			return c.callers
		}
		return 0
	}

	first := make(chan string, 1)
	go func() {
		v, _ := s.get(context.Background(), "a")
		first <- v
	}()
	waitFor(t, "the first request sent", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return sent == 1
	})
	// 50 callers while it is in flight, one of which gives up.
	const n = 50
	answers := make(chan string, n)
	for range n {
		go func() {
			v, err := s.get(context.Background(), "a")
			if err != nil {
				v = err.Error()
			}
			answers <- v
		}()
	}
	ctx, cancel := context.WithCancel(context.Background())
	quitter := make(chan error, 1)
	go func() {
		_, err := s.get(ctx, "a")
		quitter <- err
	}()
	waitFor(t, "51 callers waiting for the next request", 5*time.Second, func() bool { return callers("a") == n+1 })
	cancel()
	if err := <-quitter; !errors.Is(err, context.Canceled) {
		t.Fatalf("a caller whose context ended got %v, want context.Canceled", err)
	}
	// Another key is not held up by a's requests.
	if v, err := s.get(context.Background(), "b"); err != nil || v != "b#2" {
		t.Fatalf("key b: %q, %v; want b#2 (sent at once, beside a's)", v, err)
	}
	mu.Lock()
	gates[3] = make(chan struct{}) // a's second request waits too, for the check below
	mu.Unlock()
	close(gates[1])
	if v := <-first; v != "a#1" {
		t.Fatalf("the first caller got %q, want a#1", v)
	}
	waitFor(t, "a's second request sent", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return sent == 3
	})
	mu.Lock()
	close(gates[3])
	mu.Unlock()
	for range n {
		if v := <-answers; v != "a#3" {
			t.Fatalf("a caller that came during the first request got %q, want a#3 (the request after it)", v)
		}
	}
	mu.Lock()
	total := sent
	mu.Unlock()
	if total != 3 {
		t.Fatalf("%d requests sent for 52 calls on a and one on b, want 3", total)
	}
	waitFor(t, "no key kept", 5*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.keys) == 0
	})
}

// TestInfoAfterPublish: concurrent Info and LastSeq calls on a stream
// each see every entry acknowledged before they were called.
func TestInfoAfterPublish(t *testing.T) {
	e := openEmbedded(t, t.TempDir())
	defer shutdown(t, e)
	s := mustStream(t, e, StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				seq := mustPublish(t, s, fmt.Sprint("t.", i), fmt.Sprint(j), "")
				in, err := s.Info(ctx)
				if err != nil || in.LastSeq < seq {
					t.Errorf("Info after publishing %d: last %d, %v", seq, in.LastSeq, err)
					return
				}
				last, err := s.LastSeq(ctx, fmt.Sprint("t.", i))
				if err != nil || last != seq {
					t.Errorf("LastSeq(t.%d) after publishing %d: %d, %v", i, seq, last, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
