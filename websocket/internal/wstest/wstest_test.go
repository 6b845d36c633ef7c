package wstest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestAtLeast(t *testing.T) {
	for _, tt := range []struct {
		version string
		want    bool
	}{
		{"10.1", true}, {"10.10", true}, {"11.0", true}, {"15.0.1", true}, {"10.1rc1", true},
		{"10.0", false}, {"9.1", false}, {"9", false}, {"", false}, {"x.y", false},
	} {
		if got := atLeast(tt.version, 10, 1); got != tt.want {
			t.Errorf("atLeast(%q, 10, 1) = %v, want %v", tt.version, got, tt.want)
		}
	}
}

func TestWSPin(t *testing.T) {
	dir := t.TempDir()
	if _, err := wsPin(dir); err == nil {
		t.Error("wsPin of a directory without package.json: no error")
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"devDependencies": {"ws": "8.23.0"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if pin, err := wsPin(dir); pin != "8.23.0" || err != nil {
		t.Errorf("wsPin = %q, %v; want 8.23.0", pin, err)
	}
}

// TestFrame checks the encoder against frames written out by hand from
// RFC 6455 section 5.7.
func TestFrame(t *testing.T) {
	for _, tt := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"unmasked Hello", Frame(0x81, []byte("Hello"), nil), []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}},
		{"masked Hello", Frame(0x81, []byte("Hello"), []byte{0x37, 0xfa, 0x21, 0x3d}),
			[]byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}},
		{"256 bytes", Header(0x82, 256, nil), []byte{0x82, 0x7e, 0x01, 0x00}},
		{"64 KiB", Header(0x82, 65536, nil), []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s: % x, want % x", tt.name, tt.got, tt.want)
		}
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	WaitFor(t, time.Minute, func() bool { n++; return n == 3 }, "n never reached 3")
	if poll(time.Millisecond, func() bool { return false }) {
		t.Error("poll of a condition never true reported true")
	}
}
