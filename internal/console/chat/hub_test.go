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

	"wsdeck/internal/console/socket"
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
	// A hub that keeps 5 messages and 2 presence events, with events 1 to
	// 13: it keeps messages 5-8 and 12, presence events 11 and 13.
	//   1 join pub   2-8 messages   9 join a   10 leave a   11 join b
	//   12 message   13 nick b
	newHub := func(t *testing.T) *Hub {
		h := NewHub(Options{History: 5, PresenceHistory: 2})
		pub := &fake{}
		h.Join(pub, "pub", Since{})
		say := func(i int) {
			if _, err := h.Say(pub, fmt.Sprint("m", i)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 7 {
			say(i)
		}
		a, b := &fake{}, &fake{}
		h.Join(a, "a", Since{})
		h.Leave(a)
		h.Join(b, "b", Since{})
		say(7)
		if err := h.Rename(b, "bee"); err != nil {
			t.Fatal(err)
		}
		return h
	}
	kept := []uint64{5, 6, 7, 8, 11, 12, 13}
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
		{"no since: the whole history", none, 0, kept, false, false},
		{"missed two", same, 11, []uint64{12, 13}, false, false},
		{"missed none", same, 13, nil, false, false},
		{"missed presence events that are gone: no word", same, 8, []uint64{11, 12, 13}, false, false},
		{"missed from the oldest message kept", same, 4, kept, false, false},
		{"missed a message that is gone", same, 3, kept, false, true},
		{"since zero", same, 0, kept, false, true},
		{"another epoch (a restart)", other, 6, kept, true, false},
		{"from the future", same, 99, kept, true, false},
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
			if w.Epoch != h.Epoch() || w.Nick != "late" || w.Seq != 13 || w.MaxText != DefaultMaxText {
				t.Errorf("welcome %+v", w)
			}
			// The first live event, the member's own join, follows the
			// welcome's last.
			evs := m.events(t)
			if len(evs) != 1 || evs[0].Seq != 14 || evs[0].Type != "join" {
				t.Errorf("live events %+v, want the join numbered 14", evs)
			}
		})
	}
}

// TestPresenceDoesNotPushMessagesOut: members coming and going (a page
// reconnecting, over and over) leave the messages in the history.
func TestPresenceDoesNotPushMessagesOut(t *testing.T) {
	t.Parallel()
	h := NewHub(Options{History: 3, PresenceHistory: 4})
	pub := &fake{}
	h.Join(pub, "pub", Since{})
	var said []uint64
	for i := range 3 {
		seq, err := h.Say(pub, fmt.Sprint("m", i))
		if err != nil {
			t.Fatal(err)
		}
		said = append(said, seq)
	}
	for range 50 {
		m := &fake{}
		h.Join(m, "flaky", Since{})
		h.Leave(m)
	}
	last := h.seq // the welcome ends with it; late's own join comes after
	late := &fake{}
	h.Join(late, "late", Since{})
	var msgs, presence []uint64
	for _, raw := range late.welcome(t).History {
		var e Event
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		if e.Type == "message" {
			msgs = append(msgs, e.Seq)
		} else {
			presence = append(presence, e.Seq)
		}
	}
	if !slices.Equal(msgs, said) {
		t.Errorf("after 100 joins and leaves the history holds messages %v, want %v", msgs, said)
	}
	if want := seqRange(last-3, last); !slices.Equal(presence, want) {
		t.Errorf("presence events kept %v, want the last 4 %v", presence, want)
	}
}

// TestRingMerge checks the merge of two rings across wrap-arounds: every
// event kept above since, in order, whatever the interleaving.
func TestRingMerge(t *testing.T) {
	t.Parallel()
	for _, sizes := range [][2]int{{1, 1}, {1, 3}, {3, 1}, {4, 4}, {5, 2}} {
		for pattern := range 1 << 8 { // bit i: event i+1 goes to ring b
			a, b := newRing(sizes[0]), newRing(sizes[1])
			var inA, inB []uint64
			for i := range 8 {
				seq := uint64(i + 1)
				if pattern&(1<<i) != 0 {
					b.push(seq, []byte(fmt.Sprint(seq)))
					inB = append(inB, seq)
				} else {
					a.push(seq, []byte(fmt.Sprint(seq)))
					inA = append(inA, seq)
				}
			}
			keptA := inA[max(0, len(inA)-sizes[0]):]
			keptB := inB[max(0, len(inB)-sizes[1]):]
			for since := uint64(0); since <= 8; since++ {
				var want []uint64
				for _, s := range slices.Sorted(slices.Values(append(slices.Clone(keptA), keptB...))) {
					if s > since {
						want = append(want, s)
					}
				}
				var got []uint64
				for _, raw := range merge(&a, &b, since) {
					var s uint64
					fmt.Sscan(string(raw), &s)
					got = append(got, s)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("sizes %v, pattern %08b, since %d: merged %v, want %v", sizes, pattern, since, got, want)
				}
			}
		}
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

func TestCleanText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"hello", "hello"},
		{"two\nlines\tand a tab", "two\nlines\tand a tab"},
		{"fichier \u202etxt.exe", "fichier txt.exe"}, // right-to-left override
		{"\u202a\u202b\u202c\u202d\u202ex", "x"},     // embeddings, pop, overrides
		{"\u2066\u2067\u2068\u2069x", "x"},           // isolates
		{"a\x00b\rc\x1b[31md\u0085e\u009bf", "abc[31mdef"},
		{"שלום \u200fworld\u200e", "שלום \u200fworld\u200e"}, // RLM and LRM stay
		{"👩\u200d💻 co\u00adop", "👩\u200d💻 co\u00adop"},       // joiner, soft hyphen
		{"bad \xff byte", "bad \ufffd byte"},
	}
	for _, tt := range tests {
		if got := CleanText(tt.in); got != tt.want {
			t.Errorf("CleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSayNeutralisesBidi: a message cannot reverse what a reader sees.
func TestSayNeutralisesBidi(t *testing.T) {
	t.Parallel()
	h := NewHub(Options{})
	a, b := &fake{}, &fake{}
	h.Join(a, "ann", Since{})
	h.Join(b, "bob", Since{})
	if _, err := h.Say(a, "open report\u202efdp.exe"); err != nil {
		t.Fatal(err)
	}
	evs := b.events(t)
	if got := evs[len(evs)-1].Text; got != "open reportfdp.exe" {
		t.Errorf("bob got %q, want the text without its override", got)
	}
	var se *socket.Error
	if _, err := h.Say(a, "\u202e\u2066 "); !errors.As(err, &se) || se.Code != socket.CodeInvalid {
		t.Errorf("a message of bidi controls alone: %v, want it refused as empty", err)
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
