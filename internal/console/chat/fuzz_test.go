package chat

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"wsdeck/internal/console/socket"
)

// FuzzHandle feeds arbitrary messages to the hub, from a member, and checks
// that it never panics, that a refusal is an *socket.Error, and that what
// it accepts reaches the other members as one event with the next number.
func FuzzHandle(f *testing.F) {
	for _, s := range [][2]string{
		{"send", `{"type":"send","text":"hi"}`},
		{"send", `{"type":"send","text":""}`},
		{"send", `{"type":"send","text":5}`},
		{"send", `{"type":"send","text":"a\u202eb\u2066c\u0000"}`},
		{"nick", `{"type":"nick","nick":"zoë"}`},
		{"nick", `{"type":"nick","nick":"a\u0000b"}`},
		{"nick", `{"type":"nick"}`},
		{"dance", `{"type":"dance"}`},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		h := NewHub(Options{History: 4, MaxText: 64})
		from, other := &fake{}, &fake{}
		h.Join(from, "from", Since{})
		h.Join(other, "other", Since{})
		before := len(other.events(t))
		err := h.handle(from, socket.Message{Type: typ, Data: data})
		evs := other.events(t)
		if err != nil {
			var se *socket.Error
			if !errors.As(err, &se) || se.Code == "" {
				t.Fatalf("refusal %v is not a *socket.Error", err)
			}
			if len(evs) != before {
				t.Fatalf("a refused message published %d events", len(evs)-before)
			}
			return
		}
		if typ == "nick" && len(evs) == before {
			return // the same nickname again: nothing to announce
		}
		if len(evs) != before+1 {
			t.Fatalf("an accepted %q message published %d events, want 1", typ, len(evs)-before)
		}
		e := evs[len(evs)-1]
		want := map[string]string{"send": "message", "nick": "nick"}[typ]
		if e.Seq != evs[len(evs)-2].Seq+1 || e.Type != want {
			t.Fatalf("a %q message published %+v after %+v", typ, e, evs[len(evs)-2])
		}
		if typ == "send" {
			var req struct{ Text string }
			json.Unmarshal(data, &req)
			if e.Text != CleanText(req.Text) || e.Nick != "from" {
				t.Fatalf("message %q from %q published as %q from %q", req.Text, "from", e.Text, e.Nick)
			}
			if i := strings.IndexFunc(e.Text, removedFromText); i >= 0 {
				t.Fatalf("message %q published with %q", e.Text, []rune(e.Text[i:])[0])
			}
		}
	})
}
