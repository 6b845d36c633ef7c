package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/topic"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
)

// TestPresenceBurstIsBatched: members joining at once are each announced,
// once, to a member already in the room, in fewer entries than joins
// (those that came while a publish was under way went together).
func TestPresenceBurstIsBatched(t *testing.T) {
	t.Parallel()
	const joins = 300
	_, watcher := joinBurst(t, Options{}, joins)

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

// TestPresenceEntry: an entry lists at most maxPresenceBatch events and
// maxPresenceEntry bytes, as many as fit, in order, and always at least
// one.
func TestPresenceEntry(t *testing.T) {
	ev := func(n, nickLen int) []Event {
		out := make([]Event, n)
		for i := range out {
			nick := fmt.Sprintf("%03d%s", i, strings.Repeat("<", nickLen)) // 6 bytes a "<" in JSON
			out[i] = Event{Type: "nick", Nick: nick, Old: nick}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		pending []Event
		want    int // 0: as many as maxPresenceEntry holds, and fewer than pending
	}{
		{"one", ev(1, 10), 1},
		{"few", ev(5, 10), 5},
		{"nicknames that look like events", quoted(5), 5},
		{"count bound", joinsOf(1000), maxPresenceBatch},
		{"byte bound", ev(1000, 125), 0},
		{"one too big alone", ev(3, maxPresenceEntry), 1},
	} {
		entry, n := presenceEntry(tc.pending)
		if tc.want != 0 && n != tc.want {
			t.Errorf("%s: %d events in the entry, want %d", tc.name, n, tc.want)
		}
		if got := presenceEvents(entry); got != n {
			t.Errorf("%s: presenceEvents counts %d events in the entry, want %d", tc.name, got, n)
		}
		var e Event
		if err := json.Unmarshal(entry, &e); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if n == 1 {
			if e.Type != tc.pending[0].Type || e.Nick != tc.pending[0].Nick {
				t.Errorf("%s: entry %s, want the first event alone", tc.name, entry)
			}
			continue
		}
		if len(entry) > maxPresenceEntry {
			t.Errorf("%s: an entry of %d events is %d bytes, over %d", tc.name, n, len(entry), maxPresenceEntry)
		}
		if e.Type != "presence" || len(e.Events) != n {
			t.Fatalf("%s: entry of type %q lists %d events, want presence, %d", tc.name, e.Type, len(e.Events), n)
		}
		for i, p := range e.Events {
			if p.Nick != tc.pending[i].Nick {
				t.Errorf("%s: event %d is %q, want %q", tc.name, i, p.Nick, tc.pending[i].Nick)
				break
			}
		}
		if tc.want == 0 {
			p := tc.pending[n]
			next, _ := json.Marshal(PresenceEvent{p.Type, p.Nick, p.Old})
			if n >= len(tc.pending) || len(entry)+1+len(next) <= maxPresenceEntry {
				t.Errorf("%s: %d events in %d bytes, and the next (%d bytes) would fit", tc.name, n, len(entry), len(next))
			}
		}
	}
}

// quoted returns n join events whose nicknames hold what opens an event
// in an entry.
func quoted(n int) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{Type: "join", Nick: fmt.Sprintf(`{"type":%d`, i)}
	}
	return out
}

// joinsOf returns n join events of short nicknames.
func joinsOf(n int) []Event {
	out := make([]Event, n)
	for i := range out {
		out[i] = Event{Type: "join", Nick: fmt.Sprintf("%03d", i)}
	}
	return out
}

// TestNewestEvents: a presence backlog is cut to its newest entries that
// list at most the limit's events, whole, and never to nothing.
func TestNewestEvents(t *testing.T) {
	entry := func(k int) []byte {
		if k == 1 {
			return stored(Event{Type: "join", Nick: "a"})
		}
		b, _ := presenceEntry(make([]Event, k))
		return b
	}
	for _, tc := range []struct {
		sizes []int // events per entry, oldest first
		limit int
		want  int // entries kept, the newest
	}{
		{nil, 10, 0},
		{[]int{1, 1, 1}, 10, 3},
		{[]int{1, 1, 1}, 2, 2},
		{[]int{64, 64, 64}, 100, 1},
		{[]int{64, 30, 5, 1}, 100, 4},
		{[]int{64, 30, 5, 1}, 99, 3},
		{[]int{64, 30, 5, 1}, 36, 3},
		{[]int{64, 30, 5, 1}, 35, 2},
		{[]int{200}, 100, 1},
	} {
		var b topic.Backlog
		for i, k := range tc.sizes {
			b.Msgs = append(b.Msgs, engine.Msg{Seq: uint64(i + 1), Data: entry(k)})
			b.Frames = append(b.Frames, []byte(fmt.Sprint(i+1)))
		}
		got := newestEvents(b, tc.limit)
		if len(got.Msgs) != tc.want || len(got.Frames) != tc.want {
			t.Errorf("%v, limit %d: %d entries and %d frames kept, want %d", tc.sizes, tc.limit, len(got.Msgs), len(got.Frames), tc.want)
			continue
		}
		for i := range got.Msgs {
			if want := uint64(len(tc.sizes) - tc.want + i + 1); got.Msgs[i].Seq != want || string(got.Frames[i]) != fmt.Sprint(want) {
				t.Errorf("%v, limit %d: entry %d is %d (frame %s), want %d", tc.sizes, tc.limit, i, got.Msgs[i].Seq, got.Frames[i], want)
			}
		}
	}
}

// TestWelcomePresenceBound: after a burst of joins, announced in entries
// that list many events each, a page joining gets the room's last
// PresenceHistory presence events, not its last PresenceHistory entries.
func TestWelcomePresenceBound(t *testing.T) {
	t.Parallel()
	const joins, keep = 300, 20
	n, watcher := joinBurst(t, Options{PresenceHistory: keep}, joins)
	ctx := context.Background()
	var last uint64 // the newest presence entry
	entries := 0
	waitFor(t, "every join announced", func() bool {
		seen := 0
		entries = 0
		for _, e := range watcher.events() {
			switch e.Type {
			case "join":
				seen++
			case "presence":
				seen += len(e.Events)
			default:
				continue
			}
			entries++
			last = max(last, e.Seq)
		}
		return seen >= joins
	})
	if entries >= joins {
		t.Fatalf("%d joins in %d entries: none went together, so the welcome cannot show the bound", joins, entries)
	}

	late := &fakePeer{}
	m, _, err := n.hub.Join(ctx, late, DefaultRoom, "late", Since{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.hub.Leave(m)
	var welcome Welcome
	if err := json.Unmarshal(late.frames[0], &welcome); err != nil || welcome.Type != "welcome" {
		t.Fatalf("first frame %.80s: %v, want the welcome", late.frames[0], err)
	}
	events, kept, newest := 0, 0, uint64(0)
	for _, raw := range welcome.History {
		var e Event
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		switch e.Type {
		case "join", "leave", "nick":
			events++
		case "presence":
			events += len(e.Events)
		default:
			continue
		}
		kept++
		newest = max(newest, e.Seq)
	}
	if newest != last {
		t.Errorf("the welcome's newest presence entry is %d, want %d", newest, last)
	}
	if events > keep && kept > 1 {
		t.Errorf("the welcome lists %d presence events in %d entries, want at most %d", events, kept, keep)
	}
}

// TestPresenceSpaced: in a room whose gather is long, the events that come
// after an entry went wait for it to pass, and go together, in one entry,
// where each would have gone at once, alone; a hub shutting down
// publishes them without waiting.
func TestPresenceSpaced(t *testing.T) {
	t.Parallel()
	n := newNode(t, enginetest.Embedded(t), Options{}, socket.Options{})
	n.hub.gatherPer, n.hub.gatherMax = time.Hour, time.Hour // no member joined yet
	ctx := context.Background()
	subject := presenceSubject(DefaultRoom)
	entries := func() []Event {
		msgs, err := n.hub.pres.Last(ctx, subject, 100)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]Event, len(msgs))
		for i, m := range msgs {
			if err := json.Unmarshal(m.Data, &out[i]); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	announced := func(nick string) bool {
		for _, e := range entries() {
			if e.Nick == nick {
				return true
			}
			for _, p := range e.Events {
				if p.Nick == nick {
					return true
				}
			}
		}
		return false
	}
	held := func(nick string) bool {
		n.hub.mu.Lock()
		a := n.hub.announcers[DefaultRoom]
		n.hub.mu.Unlock()
		if a == nil {
			return false
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.waiting && slices.ContainsFunc(a.pending, func(e Event) bool { return e.Nick == nick })
	}

	if _, _, err := n.hub.Join(ctx, &fakePeer{}, DefaultRoom, "first", Since{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first join announced", func() bool { return announced("first") })
	var nicks []string
	for i := range 5 {
		nick := fmt.Sprint("later", i)
		nicks = append(nicks, nick)
		if _, _, err := n.hub.Join(ctx, &fakePeer{}, DefaultRoom, nick, Since{}); err != nil {
			t.Fatal(err)
		}
		// Published at once, or held for the gather: either way, the
		// next join comes after this one went as far as it goes.
		waitFor(t, nick+" announced or held", func() bool { return announced(nick) || held(nick) })
	}
	if err := n.hub.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := entries()
	if len(got) != 2 || got[0].Nick != "first" || got[1].Type != "presence" || len(got[1].Events) != len(nicks) {
		t.Fatalf("presence entries %+v, want the first join alone, then one listing %v", got, nicks)
	}
	for i, p := range got[1].Events {
		if p.Type != "join" || p.Nick != nicks[i] {
			t.Errorf("event %d of the second entry is %+v, want %s's join", i, p, nicks[i])
		}
	}
}

// joinBurst makes a node with opts and a watcher in its default room, then
// joins members m000, m001, ... all at once; they leave when the test
// ends.
func joinBurst(t *testing.T, opts Options, joins int) (*node, *fakePeer) {
	t.Helper()
	n := newNode(t, enginetest.Embedded(t), opts, socket.Options{})
	ctx := context.Background()
	watcher := &fakePeer{}
	w, _, err := n.hub.Join(ctx, watcher, DefaultRoom, "watcher", Since{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.hub.Leave(w) })
	var wg sync.WaitGroup
	for i := range joins {
		wg.Go(func() {
			m, _, err := n.hub.Join(ctx, &fakePeer{}, DefaultRoom, fmt.Sprintf("m%03d", i), Since{})
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { n.hub.Leave(m) })
		})
	}
	wg.Wait()
	return n, watcher
}
