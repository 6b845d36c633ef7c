package xconnect_test

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/wsdeck/wsdeck/websocket/xconnect"
)

// childEnv marks the test binary run by TestAdvertised without GODEBUG.
const childEnv = "XCONNECT_TEST_CHILD"

// TestAdvertised runs this test binary again with no GODEBUG in its
// environment, so that only the package's import can turn the setting on,
// and checks there that net/http's HTTP/2 server advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 in its first SETTINGS frame.
func TestAdvertised(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		if v, ok := connectSetting(t); !ok || v != 1 {
			t.Fatalf("SETTINGS_ENABLE_CONNECT_PROTOCOL = %d (sent: %v), want 1", v, ok)
		}
		return
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
	cmd := exec.Command(os.Args[0], "-test.run=^TestAdvertised$", "-test.v")
	cmd.Env = append(env, childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestAdvertised")) {
		t.Fatalf("the run without GODEBUG: %v\n%s", err, out)
	}
}

// connectSetting starts an HTTP/2 server, opens a connection to it and
// returns the value of SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8) in the
// server's first SETTINGS frame, and whether it was there.
func connectSetting(t *testing.T) (uint32, bool) {
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	cfg := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"h2"}
	nc, err := tls.Dial("tcp", ts.Listener.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if p := nc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN agreed %q, want h2", p)
	}
	// The client preface, then an empty SETTINGS frame.
	if _, err := io.WriteString(nc, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	var hdr [9]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		t.Fatal(err)
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if hdr[3] != 0x4 || n%6 != 0 {
		t.Fatalf("first frame: type %#x, length %d; want SETTINGS", hdr[3], n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(nc, payload); err != nil {
		t.Fatal(err)
	}
	for s := payload; len(s) >= 6; s = s[6:] {
		if binary.BigEndian.Uint16(s) == 0x8 {
			return binary.BigEndian.Uint32(s[2:]), true
		}
	}
	return 0, false
}
