package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
)

// FuzzHandle feeds arbitrary messages to the hub, from a member, and checks
// that it never panics, that a refusal is a *socket.Error that stored
// nothing, and that a message it accepts reaches another member, cleaned,
// with the sequence it was acknowledged with.
func FuzzHandle(f *testing.F) {
	for _, s := range [][2]string{
		{"send", `{"type":"send","text":"hi"}`},
		{"send", `{"type":"send","text":""}`},
		{"send", `{"type":"send","text":5}`},
		{"send", `{"type":"send","text":"a\u202eb\u2066c\u0000"}`},
		{"nick", `{"type":"nick","nick":"zoë"}`},
		{"nick", `{"type":"nick","nick":"a\u0000b"}`},
		{"nick", `{"type":"nick"}`},
		{"create", `{"type":"create","room":"a.b"}`},
		{"create", `{"type":"create","room":"ops"}`},
		{"dance", `{"type":"dance"}`},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	e := enginetest.Embedded(f)
	ctx := context.Background()
	h, err := New(ctx, e, Options{History: 4, MaxText: 64, MaxRooms: 4})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Shutdown(ctx)
	from, other := &fakePeer{}, &fakePeer{}
	fm, _, err := h.Join(ctx, from, DefaultRoom, "from", Since{})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Leave(fm)
	om, _, err := h.Join(ctx, other, DefaultRoom, "other", Since{})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Leave(om)
	n := 0
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		n++
		id := fmt.Sprint("x", n) // a resend would be acknowledged, not stored
		defer fm.setNick("from")
		before, err := h.msgs.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		from.mu.Lock()
		sent := len(from.frames)
		from.mu.Unlock()
		err = h.handle(ctx, fm, socket.Message{Type: typ, ID: id, Data: data})
		if err != nil {
			var se *socket.Error
			if !errors.As(err, &se) || se.Code == "" || se.Code == socket.CodeInternal || se.Code == CodeUnavailable {
				t.Fatalf("refusal %v is not a client error", err)
			}
			if after, _ := h.msgs.Info(ctx); after.LastSeq != before.LastSeq {
				t.Fatalf("a refused message stored %d entries", after.LastSeq-before.LastSeq)
			}
			return
		}
		if typ != "send" {
			return
		}
		from.mu.Lock()
		var ack Sent
		for _, b := range from.frames[sent:] {
			if json.Unmarshal(b, &ack); ack.Type == "sent" {
				break
			}
		}
		from.mu.Unlock()
		if ack.Type != "sent" || ack.ID != id || ack.Seq == 0 {
			t.Fatalf("an accepted message was not acknowledged: %+v", ack)
		}
		var got Event
		waitFor(t, "the message to reach the other member", func() bool {
			for _, e := range other.events() {
				if e.Type == "message" && e.Seq == ack.Seq {
					got = e
					return true
				}
			}
			return false
		})
		var req struct{ Text string }
		json.Unmarshal(data, &req)
		if got.Text != CleanText(req.Text) || got.Nick != "from" {
			t.Fatalf("message %q from %q published as %q from %q", req.Text, "from", got.Text, got.Nick)
		}
		if i := strings.IndexFunc(got.Text, removedFromText); i >= 0 {
			t.Fatalf("message %q published with %q", got.Text, []rune(got.Text[i:])[0])
		}
	})
}
