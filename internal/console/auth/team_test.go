package auth

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/users"
)

// startSession runs StartSession for id on a request with cookie (nil:
// none), and returns the new cookie.
func startSession(t *testing.T, g *Guard, id Identity, cookie *http.Cookie) *http.Cookie {
	t.Helper()
	req := httptest.NewRequest("POST", "/login", nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	if err := g.StartSession(rec, req, id); err != nil {
		t.Fatal(err)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != g.CookieName() || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("StartSession set %+v, want one HttpOnly SameSite=Strict session cookie", cs)
	}
	return cs[0]
}

func TestStartSessionRotatesAndCarriesTheIdentity(t *testing.T) {
	t.Parallel()
	var e ended
	g := newGuard(t, Options{OnEnd: e.OnEnd})
	alice := Identity{User: "alice", Role: users.Operator, Method: MethodPassword}
	planted := startSession(t, g, Identity{User: "mallory", Role: users.Viewer, Method: MethodPassword}, nil)
	fresh := startSession(t, g, alice, planted)
	if fresh.Value == planted.Value {
		t.Fatal("StartSession kept the id the browser sent")
	}
	if !e.has(keyOf(planted.Value)) {
		t.Error("the browser's old session was not ended")
	}
	if got := check(g, planted); got != Invalid {
		t.Errorf("the id from before: %v, want invalid", got)
	}
	var seen Identity
	h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen, _ = IdentityFrom(r.Context()) }), nil)
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(fresh)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if seen.User != "alice" || seen.Role != users.Operator || seen.Method != MethodPassword {
		t.Errorf("the request's identity: %+v, want alice", seen)
	}
}

func TestTeamModeRefusesTheToken(t *testing.T) {
	t.Parallel()
	g := newGuard(t, Options{})
	h := g.Middleware(ok, nil)
	tokenCookie := login(t, h)
	password := startSession(t, g, Identity{User: "alice", Role: users.Admin, Method: MethodPassword}, nil)
	g.SetTeamMode(true)

	do := func(target string, header http.Header, cookie *http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", target, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do("/?token="+token, nil, nil); rec.Code != http.StatusUnauthorized || len(rec.Result().Cookies()) != 0 {
		t.Errorf("the token's login URL in team mode: %d, want 401 and no cookie", rec.Code)
	}
	if rec := do("/", http.Header{"Authorization": {"Bearer " + token}}, nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("the bearer token in team mode: %d, want 401", rec.Code)
	}
	if rec := do("/ws/chat", nil, tokenCookie); rec.Code != http.StatusUnauthorized {
		t.Errorf("a session the token started, in team mode: %d, want 401", rec.Code)
	}
	if rec := do("/ws/chat", nil, password); rec.Code != http.StatusOK {
		t.Errorf("a password session in team mode: %d, want 200", rec.Code)
	}
	rec := do("/", http.Header{"Accept": {"text/html"}}, nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != LoginPath {
		t.Errorf("a browser without a session: %d to %q, want 303 to %s", rec.Code, rec.Header().Get("Location"), LoginPath)
	}
	if rec := do("/metrics", http.Header{"Accept": {"text/html"}}, nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("another path without a session: %d, want 401", rec.Code)
	}
	g.SetTeamMode(false)
	if rec := do("/", http.Header{"Authorization": {"Bearer " + token}}, nil); rec.Code != http.StatusOK {
		t.Errorf("the bearer token back in token mode: %d, want 200", rec.Code)
	}
}

func TestLogoutTellsOnLogout(t *testing.T) {
	t.Parallel()
	var got []Session
	var mu sync.Mutex
	g := newGuard(t, Options{OnLogout: func(r *http.Request, s Session) { mu.Lock(); got = append(got, s); mu.Unlock() }})
	c := startSession(t, g, Identity{User: "alice", Role: users.Viewer, Method: MethodPassword}, nil)
	rec := httptest.NewRecorder()
	g.Logout().ServeHTTP(rec, logoutRequest(c, nil))
	if rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", rec.Code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Identity.User != "alice" || got[0].Key != keyOf(c.Value) {
		t.Errorf("OnLogout heard %+v, want alice's session once", got)
	}
}

// Revoke: of many concurrent calls for one session (the nodes watching a
// user's change), one ends it; the session is gone from the store and its
// cookie refused.
func TestRevokeEndsOnce(t *testing.T) {
	t.Parallel()
	st := newStore(t, 0)
	g := newGuard(t, Options{Store: st})
	c := startSession(t, g, Identity{User: "bob", Role: users.Operator, Method: MethodPassword}, nil)
	key := keyOf(c.Value)
	const callers = 8
	var wg sync.WaitGroup
	wins := make(chan Session, callers)
	for range callers {
		wg.Go(func() {
			s, ended, err := st.Revoke(t.Context(), key)
			if err != nil {
				t.Error(err)
			}
			if ended {
				wins <- s
			}
		})
	}
	wg.Wait()
	close(wins)
	n := 0
	for s := range wins {
		n++
		if s.Identity.User != "bob" {
			t.Errorf("the revoked session: %+v", s)
		}
	}
	if n != 1 {
		t.Errorf("%d calls ended the session, want 1", n)
	}
	if got := check(g, c); got != Invalid {
		t.Errorf("the revoked session's cookie: %v, want invalid", got)
	}
	all, err := st.List(t.Context())
	if err != nil || len(all) != 0 {
		t.Errorf("sessions after the revoke: %v (%v), want none", all, err)
	}
}
