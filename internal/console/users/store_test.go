package users

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsdeck/wsdeck/internal/engine"
	"github.com/wsdeck/wsdeck/internal/engine/enginetest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	b, err := enginetest.Embedded(t).Bucket(t.Context(), engine.BucketConfig{Name: BucketName})
	if err != nil {
		t.Fatal(err)
	}
	return New(b, &Options{Params: fast, SecretKey: testKey})
}

// testKey is the stores' secret key in tests.
var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestStoreLifecycle(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.Add(ctx, "Alice@example.com", Operator, "secret-one"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "alice@example.com", Admin, "secret-two"); !errors.Is(err, ErrExists) {
		t.Fatalf("Add twice (other case) = %v; want ErrExists", err)
	}
	if _, err := s.Add(ctx, "bob", Viewer, "secret-bob"); err != nil {
		t.Fatal(err)
	}
	all, err := s.List(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "alice@example.com" || all[1].Name != "bob" {
		t.Fatalf("List = %+v, %v", all, err)
	}
	if all[0].Role != Operator || all[0].Created.IsZero() || all[0].Disabled {
		t.Fatalf("alice = %+v", all[0])
	}

	if _, err := s.Verify(ctx, "ALICE@example.com", "secret-one"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := s.SetPassword(ctx, "alice@example.com", "secret-new"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, "alice@example.com", "secret-one"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("Verify(old password) = %v; want ErrBadLogin", err)
	}
	if err := s.SetRole(ctx, "alice@example.com", Admin); err != nil {
		t.Fatal(err)
	}
	u, err := s.Verify(ctx, "alice@example.com", "secret-new")
	if err != nil || u.Role != Admin {
		t.Fatalf("Verify = %+v, %v; want an admin", u, err)
	}

	if err := s.SetDisabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, "bob", "secret-bob"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("Verify(disabled) = %v; want ErrBadLogin", err)
	}
	if err := s.Remove(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "bob"); !errors.Is(err, ErrNoUser) {
		t.Fatalf("Remove twice = %v; want ErrNoUser", err)
	}
	if err := s.SetRole(ctx, "bob", Admin); !errors.Is(err, ErrNoUser) {
		t.Fatalf("SetRole(removed) = %v; want ErrNoUser", err)
	}
	if _, err := s.Add(ctx, "bob", Viewer, "secret-bob"); err != nil {
		t.Fatalf("Add after Remove: %v", err)
	}
}

func TestStoreRefuses(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	for _, tc := range []struct {
		name, user, pw string
		role           Role
	}{
		{"empty name", "", "long enough", Viewer},
		{"leading dot", ".alice", "long enough", Viewer},
		{"space", "al ice", "long enough", Viewer},
		{"long name", string(make([]byte, MaxName+1)), "long enough", Viewer},
		{"no role", "alice", "long enough", 0},
		{"bad role", "alice", "long enough", Admin + 1},
		{"short password", "alice", "short", Viewer},
		{"long password", "alice", string(make([]byte, MaxPassword+1)), Viewer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Add(t.Context(), tc.user, tc.role, tc.pw); err == nil {
				t.Fatal("Add succeeded")
			}
		})
	}
	if all, err := s.List(t.Context()); err != nil || len(all) != 0 {
		t.Fatalf("List = %v, %v; want none", all, err)
	}
}

// TestUpdateCompareAndSet: an update over a stale revision is refused, so
// two admins editing one user cannot silently undo each other.
func TestUpdateCompareAndSet(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.Add(ctx, "carol", Viewer, "password1"); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Get(ctx, "carol")
	b, _ := s.Get(ctx, "carol")
	a.Role = Operator
	if _, err := s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	b.Disabled = true
	if _, err := s.Update(ctx, b); !errors.Is(err, ErrConflict) {
		t.Fatalf("Update over a stale revision = %v; want ErrConflict", err)
	}
	got, _ := s.Get(ctx, "carol")
	if got.Role != Operator || got.Disabled {
		t.Fatalf("after the conflict: %+v", got)
	}
	if err := s.Remove(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, got); !errors.Is(err, ErrNoUser) {
		t.Fatalf("Update of a removed user = %v; want ErrNoUser", err)
	}
}

// TestVerifySameAnswerSameWork: an unknown user, a disabled one and a
// wrong password get one error and one argon2id check each, with the
// store's parameters, so neither the answer nor the time tells them apart.
func TestVerifySameAnswerSameWork(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	var checks atomic.Int32
	s.checked = func() { checks.Add(1) }
	ctx := t.Context()
	if _, err := s.Add(ctx, "dave", Operator, "dave's password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "erin", Operator, "erin's password"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, "erin", true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, user, pw string }{
		{"unknown user", "mallory", "dave's password"},
		{"wrong password", "dave", "erin's password"},
		{"disabled user", "erin", "erin's password"},
		{"malformed name", "../etc", "dave's password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checks.Store(0)
			_, err := s.Verify(ctx, tc.user, tc.pw)
			if err != ErrBadLogin {
				t.Fatalf("Verify = %v; want ErrBadLogin itself", err)
			}
			if n := checks.Load(); n != 1 {
				t.Fatalf("%d hashes checked; want 1", n)
			}
		})
	}
	d, _ := HashParams(s.dummy)
	if d != fast {
		t.Fatalf("the dummy hash's parameters are %+v; want the store's %+v", d, fast)
	}
}

// TestVerifyRehashes: a hash made under older parameters is replaced by
// one under the store's at a successful login.
func TestVerifyRehashes(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	u, err := s.Add(ctx, "frank", Viewer, "frank's password")
	if err != nil {
		t.Fatal(err)
	}
	old := fast
	old.Time = 2
	u.Hash, _ = Hash("frank's password", old)
	if _, err := s.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, "frank", "frank's password"); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, "frank")
	if p, _ := HashParams(got.Hash); p != fast {
		t.Fatalf("after login the hash's parameters are %+v; want %+v", p, fast)
	}
}

// TestHashingBounded: no more than MaxHashing hashes run at once, and a
// caller waiting for a slot gives up with its context.
func TestHashingBounded(t *testing.T) {
	t.Parallel()
	s := New(nil, &Options{Params: fast, MaxHashing: 1})
	s.slots <- struct{}{} // the one slot, taken
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.hash(ctx, "password"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hash with no free slot = %v; want the context's error", err)
	}
	<-s.slots
	if _, err := s.hash(t.Context(), "password"); err != nil {
		t.Fatal(err)
	}
}
