package chat

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
)

// TestPresenceBurstIsBatched: members joining at once are each announced,
// once, to a member already in the room, in fewer entries than joins
// (those that came while a publish was under way went together).
func TestPresenceBurstIsBatched(t *testing.T) {
	t.Parallel()
	const joins = 300
	n := newNode(t, enginetest.Embedded(t), Options{}, socket.Options{})
	ctx := context.Background()
	watcher := &fakePeer{}
	w, _, err := n.hub.Join(ctx, watcher, DefaultRoom, "watcher", Since{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.hub.Leave(w)

	var wg sync.WaitGroup
	members := make(chan *member, joins)
	for i := range joins {
		wg.Go(func() {
			m, _, err := n.hub.Join(ctx, &fakePeer{}, DefaultRoom, fmt.Sprintf("m%03d", i), Since{})
			if err != nil {
				t.Error(err)
				return
			}
			members <- m
		})
	}
	wg.Wait()
	close(members)
	defer func() {
		for m := range members {
			n.hub.Leave(m)
		}
	}()

	seen := map[string]int{}
	entries := 0
	count := func() int {
		clear(seen)
		entries = 0
		for _, e := range watcher.events() {
			switch e.Type {
			case "join":
				entries++
				seen[e.Nick]++
			case "presence":
				entries++
				if len(e.Events) < 2 {
					t.Errorf("presence entry %d lists %d events, want several", e.Seq, len(e.Events))
				}
				for _, p := range e.Events {
					if p.Type == "join" {
						seen[p.Nick]++
					}
				}
			}
		}
		return len(seen)
	}
	waitFor(t, "every join announced", func() bool { return count() >= joins+1 })
	for nick, k := range seen {
		if k != 1 {
			t.Errorf("%s announced %d times, want once", nick, k)
		}
	}
	if entries >= joins {
		t.Errorf("%d joins in %d presence entries: none went together", joins, entries)
	}
	t.Logf("%d joins announced in %d entries", joins+1, entries)
}

// TestBatchLen: a batch takes at most maxPresenceBatch events and
// maxPresenceEntry bytes, and always at least one.
func TestBatchLen(t *testing.T) {
	ev := func(n, nickLen int) []Event {
		out := make([]Event, n)
		nick := strings.Repeat("<", nickLen) // 6 bytes each in JSON
		for i := range out {
			out[i] = Event{Type: "nick", Nick: nick, Old: nick}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		pending []Event
		want    int
	}{
		{"one", ev(1, 10), 1},
		{"few", ev(5, 10), 5},
		{"count bound", ev(1000, 1), maxPresenceBatch},
		{"byte bound", ev(1000, 128), (maxPresenceEntry - presenceOverhead) / (6*256 + presenceOverhead)},
		{"one too big alone", ev(3, maxPresenceEntry), 1},
	} {
		got := batchLen(tc.pending)
		if got != tc.want {
			t.Errorf("%s: batchLen = %d, want %d", tc.name, got, tc.want)
		}
		if got > 1 && len(storedPresence(tc.pending[:got])) > maxPresenceEntry {
			t.Errorf("%s: an entry of %d events is %d bytes, over %d", tc.name, got, len(storedPresence(tc.pending[:got])), maxPresenceEntry)
		}
	}
}
