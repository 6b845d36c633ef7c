package socket

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/wsdeck/wsdeck/websocket"
)

// FuzzParse: any message parses to a typed message or to an *Error for the
// client, never a panic; a typed message keeps its bytes and type.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"type":"send","text":"hi","id":"1"}`, `{"type":""}`, `{"type":5}`, `{"id":"x"}`,
		`[]`, `null`, `"type"`, `{"type":"a","type":"b"}`, `{"type":"\u0000"}`, "{\"type\":\"\xff\"}", ``,
	} {
		f.Add(true, []byte(s))
	}
	f.Add(false, []byte(`{"type":"send"}`))
	f.Fuzz(func(t *testing.T, text bool, p []byte) {
		typ := websocket.MessageBinary
		if text {
			typ = websocket.MessageText
		}
		m, err := Parse(typ, p)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" {
				t.Fatalf("error %v is not an *Error with a code and a message", err)
			}
			if m.Type != "" || m.Data != nil {
				t.Fatalf("a refused message has type %q", m.Type)
			}
			return
		}
		if !text || m.Type == "" || string(m.Data) != string(p) {
			t.Fatalf("accepted %q as %+v", p, m)
		}
		var env struct{ Type string }
		if json.Unmarshal(p, &env) != nil || env.Type != m.Type {
			t.Fatalf("type %q, but the JSON says %q", m.Type, env.Type)
		}
	})
}
