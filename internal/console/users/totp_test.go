package users

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTOTP: enrolment, codes across the clock's skew, each code accepted
// once (replays refused, on one node or several), and removal.
func TestTOTP(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.Add(ctx, "alice", Admin, "alice-password"); err != nil {
		t.Fatal(err)
	}
	u, _ := s.Get(ctx, "alice")
	if CheckTOTP(u, "000000", time.Now()) {
		t.Fatal("a user without a second factor accepted a code")
	}
	url, err := s.EnrolTOTP(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "otpauth://totp/wsdeck:alice?") {
		t.Errorf("enrol URL %q", url)
	}
	u, _ = s.Get(ctx, "alice")
	if u.TOTP == "" || !strings.Contains(url, "secret="+u.TOTP) {
		t.Fatalf("the stored secret is not the URL's")
	}
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	code := func(at time.Time) string {
		c, err := TOTPCode(u.TOTP, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name string
		code string
		want bool
	}{
		{"current", code(now), true},
		{"a step before (clock skew)", code(now.Add(-30 * time.Second)), true},
		{"a step after", code(now.Add(30 * time.Second)), true},
		{"two steps before", code(now.Add(-60 * time.Second)), false},
		{"an hour old", code(now.Add(-time.Hour)), false},
		{"empty", "", false},
		{"too long", code(now) + "0", false},
		{"letters", "abcdef", false},
	}
	for _, tc := range tests {
		if got := CheckTOTP(u, tc.code, now); got != tc.want {
			t.Errorf("%s: %q accepted %v, want %v", tc.name, tc.code, got, tc.want)
		}
	}
	// A code is accepted once: of 8 logins replaying it at once, one
	// gets in; and no code of an earlier step is accepted after it.
	var wg sync.WaitGroup
	var wins atomic.Int32
	for range 8 {
		wg.Go(func() {
			ok, err := s.UseTOTP(ctx, u, code(now), now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("a code was accepted %d times, want once", wins.Load())
	}
	u, _ = s.Get(ctx, "alice")
	if CheckTOTP(u, code(now.Add(-30*time.Second)), now) {
		t.Error("a code of the step before the one used is accepted")
	}
	if ok, err := s.UseTOTP(ctx, u, code(now.Add(30*time.Second)), now); err != nil || !ok {
		t.Errorf("the next step's code: %v, %v; want accepted", ok, err)
	}

	if err := s.RemoveTOTP(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	u, _ = s.Get(ctx, "alice")
	if u.TOTP != "" || CheckTOTP(u, code(now), now) {
		t.Error("a second factor taken away still accepts its codes")
	}
}
