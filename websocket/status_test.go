package websocket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// closeCodeCases are status codes of every class, with whether a close
// frame may carry them (RFC 6455 section 7.4 and the IANA registry).
var closeCodeCases = []struct {
	code  StatusCode
	valid bool
}{
	{0, false},
	{999, false},
	{1000, true},
	{1001, true},
	{1002, true},
	{1003, true},
	{1004, false}, // reserved
	{1005, false}, // no status: never sent
	{1006, false}, // abnormal closure: never sent
	{1007, true},
	{1008, true},
	{1009, true},
	{1010, true},
	{1011, true},
	{1012, true},
	{1013, true},
	{1014, true},
	{1015, false}, // TLS handshake: never sent
	{1016, false}, // unassigned
	{1999, false},
	{2000, false}, // reserved for extensions
	{2999, false},
	{3000, true}, // libraries and frameworks
	{3999, true},
	{4000, true}, // private use
	{4999, true},
	{5000, false},
	{65535, false},
}

// closePayloadCases are received close payloads and what they make: the
// CloseError, or the code the connection is failed with.
var closePayloadCases = []struct {
	name     string
	payload  []byte
	want     CloseError
	failCode StatusCode // 0: accepted
}{
	{"empty", nil, CloseError{Code: StatusNoStatusRcvd}, 0},
	{"one-byte", []byte{0x03}, CloseError{}, StatusProtocolError},
	{"code-only", rawClosePayload(1000, ""), CloseError{Code: 1000}, 0},
	{"reason", rawClosePayload(1001, "going away"), CloseError{1001, "going away"}, 0},
	{"utf8-reason", rawClosePayload(4000, "κόσμε 🙂"), CloseError{4000, "κόσμε 🙂"}, 0},
	{"max-reason", rawClosePayload(3000, strings.Repeat("r", maxCloseReason)), CloseError{3000, strings.Repeat("r", maxCloseReason)}, 0},
	{"invalid-utf8-reason", rawClosePayload(1000, "bad \xff"), CloseError{}, StatusInvalidFramePayload},
	{"surrogate-reason", rawClosePayload(1000, "\xed\xa0\x80"), CloseError{}, StatusInvalidFramePayload},
	{"truncated-utf8-reason", rawClosePayload(1000, "é"[:1]), CloseError{}, StatusInvalidFramePayload},
	{"code-1005", rawClosePayload(1005, ""), CloseError{}, StatusProtocolError},
	{"code-1006", rawClosePayload(1006, ""), CloseError{}, StatusProtocolError},
	{"code-999", rawClosePayload(999, ""), CloseError{}, StatusProtocolError},
	{"code-1004", rawClosePayload(1004, "x"), CloseError{}, StatusProtocolError},
	{"code-5000", rawClosePayload(5000, ""), CloseError{}, StatusProtocolError},
	{"invalid-code-and-reason", rawClosePayload(0, "\xff"), CloseError{}, StatusProtocolError},
}

func TestCloseCodeClasses(t *testing.T) {
	t.Parallel()
	for _, tt := range closeCodeCases {
		t.Run(fmt.Sprint(uint16(tt.code)), func(t *testing.T) {
			if got := tt.code.validReceived(); got != tt.valid {
				t.Errorf("validReceived() = %v, want %v", got, tt.valid)
			}

			// Receiving: the code alone, and with a reason.
			for _, reason := range []string{"", "why"} {
				ce, perr := parseClosePayload(rawClosePayload(uint16(tt.code), reason))
				if tt.valid {
					if perr != nil || ce != (CloseError{tt.code, reason}) {
						t.Errorf("parse %d %q = %v, %v; want it accepted", tt.code, reason, ce, perr)
					}
				} else if perr == nil || perr.Code != StatusProtocolError {
					t.Errorf("parse %d %q = %v, %v; want a protocol error 1002", tt.code, reason, ce, perr)
				}
			}

			// Sending.
			p, err := appendClosePayload(nil, tt.code, "why")
			switch {
			case tt.valid && (err != nil || !bytes.Equal(p, rawClosePayload(uint16(tt.code), "why"))):
				t.Errorf("append %d = % x, %v; want % x", tt.code, p, err, rawClosePayload(uint16(tt.code), "why"))
			case !tt.valid && err == nil:
				t.Errorf("append %d = % x; want an error, the code may not be sent", tt.code, p)
			}
		})
	}
}

func TestParseClosePayload(t *testing.T) {
	t.Parallel()
	for _, tt := range closePayloadCases {
		t.Run(tt.name, func(t *testing.T) {
			ce, perr := parseClosePayload(tt.payload)
			if tt.failCode != 0 {
				if perr == nil || perr.Code != tt.failCode {
					t.Fatalf("parse(% x) = %v, %v; want a protocol error %d", tt.payload, ce, perr, tt.failCode)
				}
				return
			}
			if perr != nil || ce != tt.want {
				t.Fatalf("parse(% x) = %#v, %v; want %#v", tt.payload, ce, perr, tt.want)
			}
			// What is accepted encodes back to the same bytes.
			p, err := appendClosePayload(nil, ce.Code, ce.Reason)
			if err != nil || !bytes.Equal(p, tt.payload) {
				t.Fatalf("append(%v) = % x, %v; want % x", ce, p, err, tt.payload)
			}
		})
	}
}

func TestAppendClosePayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		code    StatusCode
		reason  string
		want    []byte // nil: an error
		wantErr bool
	}{
		{"normal", 1000, "", rawClosePayload(1000, ""), false},
		{"reason-123", 1000, strings.Repeat("a", 123), rawClosePayload(1000, strings.Repeat("a", 123)), false},
		{"reason-124", 1000, strings.Repeat("a", 124), nil, true},
		{"reason-123-multibyte", 1000, strings.Repeat("€", 41), rawClosePayload(1000, strings.Repeat("€", 41)), false},
		{"reason-126-multibyte", 1000, strings.Repeat("€", 42), nil, true},
		{"invalid-utf8-reason", 1000, "a\xffb", nil, true},
		{"no-status", StatusNoStatusRcvd, "", []byte{}, false},
		{"no-status-with-reason", StatusNoStatusRcvd, "why", nil, true},
		{"abnormal", StatusAbnormalClosure, "", nil, true},
		{"tls", StatusTLSHandshake, "", nil, true},
		{"zero", 0, "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := appendClosePayload(prefix[:len(prefix):len(prefix)], tt.code, tt.reason)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("append(%d, %d-byte reason) = % x; want an error", tt.code, len(tt.reason), got)
				}
				if !bytes.Equal(got, prefix) {
					t.Fatalf("append changed dst on error: %q", got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, append(prefix, tt.want...)) {
				t.Fatalf("append(%d, %q) = % x, %v; want prefix + % x", tt.code, tt.reason, got, err, tt.want)
			}
			if len(got)-len(prefix) > maxControlPayload {
				t.Fatalf("payload of %d bytes does not fit a control frame", len(got)-len(prefix))
			}
		})
	}
}

// TestCloseReasonTooLong sends Close with a 124-byte reason: it fails
// before anything is sent and leaves the connection usable, and a 123-byte
// reason then goes through whole.
func TestCloseReasonTooLong(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p1, p2 := net.Pipe()
	client := newConn(p1, nil, true, "", ConnOptions{})
	server := newConn(p2, nil, false, "", ConnOptions{})
	defer client.CloseNow()
	defer server.CloseNow()

	if err := client.Close(StatusNormalClosure, strings.Repeat("x", 124)); err == nil {
		t.Fatal("Close with a 124-byte reason succeeded")
	}
	// Had a close frame gone out, the server would read it first.
	go client.Write(ctx, MessageText, []byte("still open"))
	if _, p, err := server.Read(ctx); err != nil || string(p) != "still open" {
		t.Fatalf("server Read after the refused Close = %q, %v; want the message", p, err)
	}

	reason := strings.Repeat("y", 123)
	closed := make(chan error, 1)
	go func() { closed <- client.Close(StatusGoingAway, reason) }()
	_, _, err := server.Read(ctx)
	if want := (CloseError{StatusGoingAway, reason}); !errors.Is(err, want) {
		t.Fatalf("server Read = %v, want %v", err, want)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close with a 123-byte reason: %v", err)
	}
}

func TestStatusCodeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code StatusCode
		want string
	}{
		{StatusNormalClosure, "NormalClosure(1000)"},
		{StatusMessageTooBig, "MessageTooBig(1009)"},
		{4000, "StatusCode(4000)"},
	}
	for _, tt := range tests {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("StatusCode(%d).String() = %q, want %q", uint16(tt.code), got, tt.want)
		}
	}
}

func TestCloseStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want StatusCode
	}{
		{"nil", nil, 0},
		{"other", errors.New("x"), 0},
		{"close", CloseError{Code: 4001}, 4001},
		{"wrapped", fmt.Errorf("ctx: %w", CloseError{Code: 1001, Reason: "bye"}), 1001},
		{"abnormal", &closedError{errors.New("reset")}, StatusAbnormalClosure},
		// A protocol error is ours, not the peer's close frame.
		{"protocol-error", ProtocolError{StatusProtocolError, "x"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CloseStatus(tt.err); got != tt.want {
				t.Errorf("CloseStatus(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestProtocolErrorIsMessageTooBig(t *testing.T) {
	t.Parallel()
	if !errors.Is(fmt.Errorf("read: %w", tooBig(10)), ErrMessageTooBig) {
		t.Error("a 1009 ProtocolError is not ErrMessageTooBig")
	}
	if errors.Is(ProtocolError{StatusProtocolError, "x"}, ErrMessageTooBig) {
		t.Error("a 1002 ProtocolError is ErrMessageTooBig")
	}
}

func TestTruncateUTF8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 2, "ab"},
		{"a€b", 3, "a"}, // € is 3 bytes: cutting it leaves "a"
		{"a€b", 4, "a€"},
		{"", 0, ""},
	}
	for _, tt := range tests {
		if got := truncateUTF8(tt.s, tt.n); got != tt.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}
