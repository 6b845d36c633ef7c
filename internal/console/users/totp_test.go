package users

import (
	"strings"
	"testing"
	"time"
)

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
	if err := s.RemoveTOTP(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	u, _ = s.Get(ctx, "alice")
	if u.TOTP != "" || CheckTOTP(u, code(now), now) {
		t.Error("a second factor taken away still accepts its codes")
	}
}
