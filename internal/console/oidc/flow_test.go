package oidc

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFlowSealOpen(t *testing.T) {
	t.Parallel()
	s, err := newSealer([]byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newSealer([]byte("0123456789abcdeX"))
	now := time.Unix(1_800_000_000, 0)
	f := flow{State: random(), Nonce: random(), Verifier: "v", Expires: now.Add(time.Minute)}
	sealed, err := s.seal(f)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, f.State) || strings.Contains(sealed, f.Nonce) {
		t.Fatal("the sealed flow shows its state or nonce")
	}
	got, err := s.open(sealed, now)
	if err != nil || got.State != f.State || got.Nonce != f.Nonce || got.Verifier != f.Verifier || !got.Expires.Equal(f.Expires) {
		t.Fatalf("open = %+v, %v; want %+v", got, err, f)
	}
	flipped := []byte(sealed)
	flipped[len(flipped)/2] ^= 1
	for name, tc := range map[string]struct {
		s   *sealer
		v   string
		now time.Time
		why string
	}{
		"expired":     {s, sealed, now.Add(time.Minute), "too long"},
		"other key":   {other, sealed, now, "not sealed by this console"},
		"altered":     {s, string(flipped), now, ""},
		"not base64":  {s, "!!!", now, "malformed"},
		"too short":   {s, "AAAA", now, "malformed"},
		"empty value": {s, "", now, "malformed"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.s.open(tc.v, tc.now)
			if !errors.Is(err, errFlow) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("open = %v; want errFlow saying %q", err, tc.why)
			}
		})
	}
	if _, err := newSealer([]byte("short")); err == nil {
		t.Fatal("a 5-byte key was taken")
	}
}

func TestRandomIsFresh(t *testing.T) {
	t.Parallel()
	a, b := random(), random()
	if a == b || len(a) != 43 {
		t.Fatalf("random() = %q, %q: want two different 256-bit values", a, b)
	}
}
