package chat

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/auth"
	"github.com/wsdeck/wsdeck/internal/console/socket"
	"github.com/wsdeck/wsdeck/internal/console/users"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
)

// withTestIdentity puts in req's context the identity its query names
// (test_user, test_method), as auth's middleware does for a logged-in
// user: the test server's stand-in for a login.
func withTestIdentity(req *http.Request) *http.Request {
	q := req.URL.Query()
	if !q.Has("test_user") {
		return req
	}
	id := auth.Identity{User: q.Get("test_user"), Method: q.Get("test_method"), Role: users.Viewer}
	return req.WithContext(auth.WithIdentity(req.Context(), id))
}

// TestNamesInTeamMode: a user logged in with a password is named by their
// login, whatever nick the page asks for, and a nick message is refused;
// in token mode the nickname is the page's choice, as before.
func TestNamesInTeamMode(t *testing.T) {
	t.Parallel()
	n := newNode(t, enginetest.Embedded(t), Options{}, socket.Options{})

	alice := n.dial(t, url.Values{"nick": {"bob"}, "test_user": {"alice"}, "test_method": {auth.MethodPassword}})
	if err := jsonInto(alice.read(t).Raw, &alice.welcome); err != nil || alice.welcome.Nick != "alice" || !alice.welcome.Fixed {
		t.Fatalf("welcome %+v (%v), want alice, fixed", alice.welcome, err)
	}
	if e := alice.event(t, "join"); e.Nick != "alice" {
		t.Fatalf("join as %q, want alice", e.Nick)
	}
	alice.send(t, map[string]string{"type": "nick", "nick": "bob"})
	if m := alice.error(t); m.Code != socket.CodeInvalid || !strings.Contains(m.Error, "your name is your login, alice") {
		t.Fatalf("rename: %+v, want it refused", m)
	}
	alice.say(t, "m1", "hello")
	if e := alice.event(t, "message"); e.Nick != "alice" {
		t.Fatalf("message from %q, want alice", e.Nick)
	}

	// Control and format characters never reach the name; a long one is cut.
	odd := n.dial(t, url.Values{"test_user": {"e\u202eve" + strings.Repeat("x", 40)}, "test_method": {auth.MethodOIDC}})
	var w Welcome
	if err := jsonInto(odd.read(t).Raw, &w); err != nil || w.Nick != "eve"+strings.Repeat("x", MaxNickRunes-3) || !w.Fixed {
		t.Fatalf("welcome nick %q (%v)", w.Nick, err)
	}

	// Token mode: the nickname asked for, and it may change.
	tok := n.dial(t, url.Values{"nick": {"bob"}, "test_user": {"admin"}, "test_method": {auth.MethodToken}})
	if err := jsonInto(tok.read(t).Raw, &tok.welcome); err != nil || tok.welcome.Nick != "bob" || tok.welcome.Fixed {
		t.Fatalf("token-mode welcome %+v (%v), want bob, not fixed", tok.welcome, err)
	}
	tok.send(t, map[string]string{"type": "nick", "nick": "robert"})
	if e := tok.event(t, "nick"); e.Nick != "robert" || e.Old != "bob" {
		t.Fatalf("token-mode rename: %+v", e)
	}
}

func jsonInto(b []byte, v any) error { return json.Unmarshal(b, v) }
