package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"wsdeck/internal/socket"
	"wsdeck/websocket"
)

// fake is a member that keeps what it is sent.
type fake struct {
	mu     sync.Mutex
	frames [][]byte
	shared []bool // whether each frame came through Send (a broadcast)
}

func (f *fake) Send(pm *websocket.PreparedMessage) bool { return f.add(pm.Payload(), true) }
func (f *fake) SendOwn(b []byte) bool                   { return f.add(b, false) }

func (f *fake) add(b []byte, shared bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frames = append(f.frames, b)
	f.shared = append(f.shared, shared)
	return true
}

// welcome decodes the first frame, which must be the welcome.
func (f *fake) welcome(t *testing.T) Welcome {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.frames) == 0 || f.shared[0] {
		t.Fatal("the first frame is not a welcome of the member's own")
	}
	var w Welcome
	if err := json.Unmarshal(f.frames[0], &w); err != nil || w.Type != "welcome" {
		t.Fatalf("first frame %s: not a welcome (%v)", f.frames[0], err)
	}
	return w
}

// events decodes every frame after the welcome.
func (f *fake) events(t *testing.T) []Event {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Event
	for _, b := range f.frames[1:] {
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("frame %s: %v", b, err)
		}
		out = append(out, e)
	}
	return out
}

func historySeqs(t *testing.T, w Welcome) []uint64 {
	t.Helper()
	var out []uint64
	for _, raw := range w.History {
		var e Event
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Seq)
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestBroadcastReachesEveryMemberEncodedOnce(t *testing.T) {
	t.Parallel()
	h := NewHub(Options{})
	members := []*fake{{}, {}, {}}
	for i, m := range members {
		h.Join(m, fmt.Sprintf("m%d", i), Since{})
	}
	seq, err := h.Say(members[1], "hello, all")
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for i, m := range members {
		evs := m.events(t)
		last := evs[len(evs)-1]
		if last.Type != "message" || last.Seq != seq || last.Nick != "m1" || last.Text != "hello, all" {
			t.Errorf("member %d: last event %+v, want m1's message %d", i, last, seq)
		}
		m.mu.Lock()
		frames = append(frames, m.frames[len(m.frames)-1])
		if !m.shared[len(m.shared)-1] {
			t.Errorf("member %d: the message came as a frame of its own, not a broadcast", i)
		}
		m.mu.Unlock()
	}
	// Encoded once: every member was given the very same bytes.
	for i, f := range frames[1:] {
		if unsafe.SliceData(f) != unsafe.SliceData(frames[0]) {
			t.Errorf("member %d got its own encoding of the message", i+1)
		}
	}
}

func TestJoinLeaveAndNickNotices(t *testing.T) {
	t.Parallel()
	h := NewHub(Options{})
	a, b := &fake{}, &fake{}
	h.Join(a, "ann", Since{})
	h.Join(b, "bob", Since{})
	if err := h.Rename(b, "  bobby "); err != nil {
		t.Fatal(err)
	}
	h.Leave(b)
	h.Leave(b) // not a member any more: no second notice
	got := a.events(t)
	want := []Event{
		{Type: "join", Seq: 1, Nick: "ann"},
		{Type: "join", Seq: 2, Nick: "bob"},
		{Type: "nick", Seq: 3, Nick: "bobby", Old: "bob"},
		{Type: "leave", Seq: 4, Nick: "bobby"},
	}
	if len(got) != len(want) {
		t.Fatalf("ann saw %d events %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		g := got[i]
		g.Time = want[i].Time
		if g != want[i] || got[i].Time.IsZero() {
			t.Errorf("event %d: %+v, want %+v with a time", i, got[i], want[i])
		}
	}
	if n := h.Members(); n != 1 {
		t.Errorf("%d members, want 1", n)
	}
}

func TestWelcomeHistoryAndSince(t *testing.T) {
	t.Parallel()
	// A hub that keeps 5 events, with events 1 (a join) to 8: it keeps 4 to 8.
	newHub := func(t *testing.T) *Hub {
		h := NewHub(Options{History: 5})
		pub := &fake{}
		h.Join(pub, "pub", Since{})
		for i := 0; i < 7; i++ {
			if _, err := h.Say(pub, fmt.Sprint("m", i)); err != nil {
				t.Fatal(err)
			}
		}
		return h
	}
	const (
		none = iota
		same
		other
	)
	tests := []struct {
		name         string
		epoch        int // of since
		seq          uint64
		want         []uint64
		reset, trunc bool
	}{
		{"no since: the whole history", none, 0, seqRange(4, 8), false, false},
		{"missed two", same, 6, seqRange(7, 8), false, false},
		{"missed none", same, 8, nil, false, false},
		{"missed from the oldest kept", same, 3, seqRange(4, 8), false, false},
		{"missed more than is kept", same, 1, seqRange(4, 8), false, true},
		{"since zero", same, 0, seqRange(4, 8), false, true},
		{"another epoch (a restart)", other, 6, seqRange(4, 8), true, false},
		{"from the future", same, 99, seqRange(4, 8), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHub(t)
			since := Since{Set: tt.epoch != none, Epoch: h.Epoch(), Seq: tt.seq}
			if tt.epoch == other {
				since.Epoch = "other"
			}
			m := &fake{}
			h.Join(m, "late", since)
			w := m.welcome(t)
			if got := historySeqs(t, w); !slices.Equal(got, tt.want) {
				t.Errorf("history %v, want %v", got, tt.want)
			}
			if w.Reset != tt.reset || w.Truncated != tt.trunc {
				t.Errorf("reset %v truncated %v, want %v %v", w.Reset, w.Truncated, tt.reset, tt.trunc)
			}
			if w.Epoch != h.Epoch() || w.Nick != "late" || w.Seq != 8 || w.MaxText != DefaultMaxText {
				t.Errorf("welcome %+v", w)
			}
			// The first live event, the member's own join, follows the
			// welcome's last.
			evs := m.events(t)
			if len(evs) != 1 || evs[0].Seq != 9 || evs[0].Type != "join" {
				t.Errorf("live events %+v, want the join numbered 9", evs)
			}
		})
	}
}

func TestEmptyHubWelcome(t *testing.T) {
	t.Parallel()
	h := NewHub(Options{})
	m := &fake{}
	h.Join(m, "first", Since{Set: true, Epoch: h.Epoch(), Seq: 0})
	w := m.welcome(t)
	if w.Seq != 0 || len(w.History) != 0 || w.Reset || w.Truncated {
		t.Errorf("welcome from an empty hub: %+v", w)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !strings.Contains(string(m.frames[0]), `"history":[]`) {
		t.Errorf("empty history not sent as []: %s", m.frames[0])
	}
}

func TestSayLimits(t *testing.T) {
	t.Parallel()
	h := NewHub(Options{MaxText: 10})
	m := &fake{}
	h.Join(m, "m", Since{})
	tests := []struct {
		text string
		code string // "" means accepted
	}{
		{"0123456789", ""},
		{"héllo", ""},
		{"01234567890", socket.CodeTooBig},
		{"ééééééé", socket.CodeTooBig}, // 7 characters, 14 bytes
		{"", socket.CodeInvalid},
		{"  \n\t", socket.CodeInvalid},
	}
	for _, tt := range tests {
		_, err := h.Say(m, tt.text)
		var se *socket.Error
		switch {
		case tt.code == "" && err != nil:
			t.Errorf("Say(%q) = %v, want it accepted", tt.text, err)
		case tt.code != "" && (!errors.As(err, &se) || se.Code != tt.code):
			t.Errorf("Say(%q) = %v, want code %s", tt.text, err, tt.code)
		}
	}
	if _, err := h.Say(&fake{}, "hi"); err == nil {
		t.Error("a stranger's message was accepted")
	}
}

func TestCleanNick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"ann", "ann", true},
		{"  ann  ", "ann", true},
		{"Zoë 🚀", "Zoë 🚀", true},
		{strings.Repeat("x", MaxNickRunes), strings.Repeat("x", MaxNickRunes), true},
		{strings.Repeat("é", MaxNickRunes), strings.Repeat("é", MaxNickRunes), true},
		{strings.Repeat("x", MaxNickRunes+1), "", false},
		{"", "", false},
		{"   ", "", false},
		{"a\nb", "", false},
		{"a\x00b", "", false},
		{"a\u202eb", "", false}, // right-to-left override
		{"\xff", "", false},
	}
	for _, tt := range tests {
		got, err := CleanNick(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CleanNick(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q       map[string][]string
		want    Since
		wantErr bool
	}{
		{map[string][]string{}, Since{}, false},
		{map[string][]string{"since": {"42"}, "epoch": {"e1"}}, Since{Set: true, Epoch: "e1", Seq: 42}, false},
		{map[string][]string{"since": {"0"}}, Since{Set: true, Seq: 0}, false},
		{map[string][]string{"since": {"-1"}}, Since{}, true},
		{map[string][]string{"since": {"x"}}, Since{}, true},
	}
	for _, tt := range tests {
		got, err := ParseSince(tt.q)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseSince(%v) = %+v, %v; want %+v, error %v", tt.q, got, err, tt.want, tt.wantErr)
		}
	}
}
