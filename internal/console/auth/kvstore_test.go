package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
)

// openEngine opens an embedded engine on dir, shut down at the test's end.
func openEngine(t *testing.T, dir string) *engine.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := engine.Open(ctx, engine.Config{StateDir: dir})
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	t.Cleanup(func() { shutdownEngine(t, e) })
	return e
}

func shutdownEngine(t *testing.T, e *engine.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Errorf("engine shutdown: %v", err)
	}
}

func sessionsBucket(t *testing.T, e *engine.Engine) *engine.Bucket {
	t.Helper()
	b, err := e.Bucket(t.Context(), engine.BucketConfig{Name: "sessions", TTL: DefaultMax})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newStore returns a KVStore of max sessions over an embedded engine of
// the test's own.
func newStore(t *testing.T, max int) *KVStore {
	t.Helper()
	return NewKVStore(sessionsBucket(t, openEngine(t, t.TempDir())), max)
}

func storeLen(t *testing.T, s *KVStore) int {
	t.Helper()
	n, err := s.Len(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Two Guards on one bucket are two console nodes: each accepts the
// other's cookie, and a logout on one is refused on both.
func TestSessionSharedByNodes(t *testing.T) {
	t.Parallel()
	b := sessionsBucket(t, openEngine(t, t.TempDir()))
	g1 := newGuard(t, Options{Store: NewKVStore(b, 0)})
	g2 := newGuard(t, Options{Store: NewKVStore(b, 0)})
	c := login(t, g1.Middleware(ok, nil))
	if got := check(g2, c); got != ByCookie {
		t.Fatalf("node 2, node 1's cookie: %v, want cookie", got)
	}

	// Node 2 watches for ends; node 1 logs the session out.
	key := keyOf(c.Value)
	ends := make(chan string, 10)
	stop, err := g2.store.(*KVStore).WatchEnds(t.Context(), func(k string) { ends <- k })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	rec := logoutRec(g1, c)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", rec.Code)
	}
	for _, g := range []*Guard{g1, g2} {
		if got := check(g, c); got != Invalid {
			t.Errorf("after logout: %v, want invalid", got)
		}
	}
	select {
	case k := <-ends:
		if k != key {
			t.Errorf("WatchEnds told of %q, want the logged-out session", Session{Key: k}.ShortKey())
		}
	case <-time.After(10 * time.Second):
		t.Error("node 2 never heard of the logout")
	}
}

// A session outlives its engine's restart on the same state directory.
func TestSessionSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := openEngine(t, dir)
	g := newGuard(t, Options{Store: NewKVStore(sessionsBucket(t, e), 0)})
	c := login(t, g.Middleware(ok, nil))
	shutdownEngine(t, e)

	g = newGuard(t, Options{Store: NewKVStore(sessionsBucket(t, openEngine(t, dir)), 0)})
	if got := check(g, c); got != ByCookie {
		t.Errorf("after the restart: %v, want the cookie still valid", got)
	}
}

// Update never brings back a deleted session, even one deleted between
// its read and its write.
func TestKVStoreUpdateAfterDelete(t *testing.T) {
	t.Parallel()
	s := newStore(t, 0)
	ctx := t.Context()
	now := time.Now()
	sess := Session{Key: keyOf(newID()), Created: now, Seen: now, Expires: now.Add(time.Hour)}
	if err := s.Add(ctx, sess); err != nil {
		t.Fatal(err)
	}
	sess.Seen = now.Add(time.Minute)
	if err := s.Update(ctx, sess); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got, err := s.Get(ctx, sess.Key); err != nil || !got.Seen.Equal(sess.Seen) {
		t.Fatalf("Get after Update: %+v, %v", got, err)
	}
	if err := s.Delete(ctx, sess.Key); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, sess); !errors.Is(err, ErrNoSession) {
		t.Errorf("Update of a deleted session: %v, want ErrNoSession", err)
	}
	if _, err := s.Get(ctx, sess.Key); !errors.Is(err, ErrNoSession) {
		t.Errorf("Get of a deleted session: %v, want ErrNoSession", err)
	}
}

// logoutRec posts a logout with cookie from the console's own page.
func logoutRec(g *Guard, c *http.Cookie) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	g.Logout().ServeHTTP(rec, logoutRequest(c, map[string]string{"Sec-Fetch-Site": "same-origin"}))
	return rec
}
