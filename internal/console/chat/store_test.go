package chat

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
)

// openEngine opens an embedded engine on dir; the caller shuts it down.
func openEngine(t *testing.T, dir string) *engine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	e, err := engine.Open(ctx, engine.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func shutdownEngine(t *testing.T, e *engine.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSinceAcrossEngineRestart: the sequences a page holds stay good when
// the console restarts on the same state dir (it gets exactly what it
// missed), and are void on a state dir made anew (a reset).
func TestSinceAcrossEngineRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var seen *Since
	func() {
		e := openEngine(t, dir)
		defer shutdownEngine(t, e)
		n := newNode(t, e, Options{}, socket.Options{})
		ann := n.join(t, "ann", "", nil)
		seq := ann.say(t, "a1", "before the restart")
		seen = ann.since(seq, ann.event(t, "join").Seq)
		bob := n.join(t, "bob", "", nil)
		bob.say(t, "b1", "missed, before the restart")
		n.hub.Shutdown(context.Background())
	}()

	e := openEngine(t, dir)
	defer shutdownEngine(t, e)
	n := newNode(t, e, Options{}, socket.Options{})
	cy := n.join(t, "cy", "", nil)
	cy.say(t, "c1", "missed, after the restart")
	ann := n.join(t, "ann", "", seen)
	if ann.welcome.Reset || ann.welcome.Truncated || ann.welcome.Epoch != seen.Epoch {
		t.Errorf("welcome after the restart: epoch %s (was %s), reset %v, truncated %v; want the same epoch, no reset",
			ann.welcome.Epoch, seen.Epoch, ann.welcome.Reset, ann.welcome.Truncated)
	}
	if got := strings.Join(messages(t, ann.welcome), "|"); got != "missed, before the restart|missed, after the restart" {
		t.Errorf("catch-up after the restart: %q, want the two messages ann missed", got)
	}

	// A console on a new state dir has new streams: the same since is
	// void.
	fresh := newNode(t, enginetest.Embedded(t), Options{}, socket.Options{})
	if w := fresh.join(t, "ann", "", seen).welcome; !w.Reset || w.Epoch == seen.Epoch || len(messages(t, w)) != 0 {
		t.Errorf("on new streams: epoch %s (was %s), reset %v, %d messages; want another epoch, a reset, none",
			w.Epoch, seen.Epoch, w.Reset, len(messages(t, w)))
	}
}

// TestMessageIDStoredOnce: a message resent with its id (a page after a
// reconnect) is stored and delivered once, and acknowledged with the
// first one's sequence.
func TestMessageIDStoredOnce(t *testing.T) {
	t.Parallel()
	n := newNode(t, enginetest.Embedded(t), Options{}, socket.Options{})
	ann := n.join(t, "ann", "", nil)
	first := ann.say(t, "p1-0001", "once")
	again := ann.say(t, "p1-0001", "once") // the ack was lost, say
	ann.ws.CloseNow()
	ann = n.join(t, "ann", "", nil) // a reconnect, then the page's resend
	third := ann.say(t, "p1-0001", "once")
	if again != first || third != first {
		t.Errorf("resends acknowledged with %d and %d, want %d, the first's", again, third, first)
	}
	other := ann.say(t, "p1-0002", "once") // the same text, another message
	if other == first {
		t.Error("another id got the same sequence")
	}
	// bob joins: the messages stored by now reach him once each, in his
	// welcome or, for one the node's subscription had not delivered yet,
	// live just after it (the welcome's seq says which).
	bob := n.join(t, "bob", "", nil)
	got := messages(t, bob.welcome)
	if bob.welcome.Seq < other {
		got = append(got, bob.event(t, "message").Text)
	}
	if len(got) != 2 || got[0] != "once" || got[1] != "once" {
		t.Errorf("bob got %q, want the message once and the other once", got)
	}
}

// TestHistoryLimits: the streams keep what the limits allow, and the
// oldest go first.
func TestHistoryLimits(t *testing.T) {
	t.Parallel()
	t.Run("count", func(t *testing.T) {
		t.Parallel()
		n := newNode(t, enginetest.Embedded(t), Options{History: 3, PresenceHistory: 2}, socket.Options{})
		ann := n.join(t, "ann", "", nil)
		for i := range 5 {
			ann.say(t, fmt.Sprint(i), fmt.Sprint("m", i))
		}
		for range 3 {
			n.join(t, "flaky", "", nil).ws.CloseNow()
		}
		w := n.join(t, "late", "", nil).welcome
		if got := strings.Join(messages(t, w), " "); got != "m2 m3 m4" {
			t.Errorf("history %q, want the newest 3", got)
		}
		if p := len(w.History) - len(messages(t, w)); p != 2 {
			t.Errorf("%d presence events kept, want 2", p)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		t.Parallel()
		const limit = 8 << 10
		n := newNode(t, enginetest.Embedded(t), Options{HistoryBytes: limit, MaxText: 2000}, socket.Options{Rate: -1})
		ann := n.join(t, "ann", "", nil)
		for i := range 20 { // ~20 KiB
			ann.say(t, fmt.Sprint(i), fmt.Sprintf("%02d %s", i, strings.Repeat("x", 1000)))
		}
		info, err := n.hub.msgs.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := messages(t, n.join(t, "late", "", nil).welcome)
		if info.Bytes > limit || len(got) == 0 || len(got) >= 20 {
			t.Fatalf("%d bytes kept in %d messages, want at most %d, some but not all", info.Bytes, len(got), limit)
		}
		for i, text := range got { // the newest, in order
			if want := fmt.Sprintf("%02d ", 20-len(got)+i); !strings.HasPrefix(text, want) {
				t.Errorf("message %d of the history is %.6q…, want %q…", i, text, want)
			}
		}
	})
	t.Run("age", func(t *testing.T) {
		t.Parallel()
		n := newNode(t, enginetest.Embedded(t), Options{HistoryAge: time.Second}, socket.Options{})
		ann := n.join(t, "ann", "", nil)
		ann.say(t, "1", "soon gone")
		waitFor(t, "the message to expire", func() bool {
			info, err := n.hub.msgs.Info(context.Background())
			return err == nil && info.Msgs == 0
		})
		if got := messages(t, n.join(t, "late", "", nil).welcome); len(got) != 0 {
			t.Errorf("history %q after the age limit, want none", got)
		}
	})
}
