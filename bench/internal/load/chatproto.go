package load

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Proto is a chat server's client protocol, as far as a fan-out run needs
// it: how to join the room, how to tell that a connection has joined, how
// to publish a text, and how to answer the server's application-level
// pings. Every message is a JSON text message.
type Proto interface {
	// Name names the protocol in errors.
	Name() string
	// Path is the WebSocket URL path, with its query.
	Path() string
	// Header is extra handshake header lines, each ending in "\r\n".
	Header() string
	// Join is the messages a connection sends after the handshake.
	Join() [][]byte
	// Joined reports whether msg says the connection has joined the room,
	// or an error if it says it cannot.
	Joined(msg []byte) (bool, error)
	// Publish returns the message that publishes text; n, from 1, is
	// unique in the run (wsdeck stores a message id once).
	Publish(text string, n uint64) []byte
	// Reply returns the answer to msg, if msg is a ping of the
	// protocol's own (nil otherwise), and an error if msg reports one.
	Reply(msg []byte) ([]byte, error)
}

// WsdeckChat is the protocol of wsdeck's /ws/chat (docs/protocol.md): a
// bearer token in the handshake, the welcome as the first message, "send"
// to publish, and every event pushed as a message of its own.
type WsdeckChat struct {
	Token string
	Room  string // the room to join; "" is the default room
}

func (p WsdeckChat) Name() string { return "wsdeck chat" }

func (p WsdeckChat) Path() string {
	if p.Room != "" {
		return "/ws/chat?room=" + p.Room
	}
	return "/ws/chat"
}

func (p WsdeckChat) Header() string { return "Authorization: Bearer " + p.Token + "\r\n" }

func (p WsdeckChat) Join() [][]byte { return nil }

// ErrTryAgain wraps a refusal to join that the server says is passing
// (wsdeck's "unavailable": its engine could not be reached); a page
// reconnects, and so does the load generator.
var ErrTryAgain = errors.New("try again")

func (p WsdeckChat) Joined(msg []byte) (bool, error) {
	if bytes.Contains(msg, []byte(`"type":"error"`)) {
		if bytes.Contains(msg, []byte(`"code":"unavailable"`)) {
			return false, fmt.Errorf("wsdeck chat: %w: %s", ErrTryAgain, msg)
		}
		return false, fmt.Errorf("wsdeck chat: %s", msg)
	}
	return bytes.HasPrefix(msg, []byte(`{"type":"welcome"`)), nil
}

func (p WsdeckChat) Publish(text string, n uint64) []byte {
	b := []byte(`{"type":"send","text":`)
	b = strconv.AppendQuote(b, text)
	b = append(b, `,"id":"f`...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, `"}`...)
}

func (p WsdeckChat) Reply(msg []byte) ([]byte, error) {
	if bytes.HasPrefix(msg, []byte(`{"type":"error"`)) {
		return nil, fmt.Errorf("wsdeck chat: %s", msg)
	}
	return nil, nil // wsdeck pings with WebSocket ping frames
}

// Centrifugo is Centrifugo's JSON client protocol over WebSocket
// (github.com/centrifugal/protocol): a connect command, a subscribe
// command, then publications pushed, several to a frame separated by
// newlines when they queue up. The server pings with an empty command,
// {}, which the client answers with {}.
type Centrifugo struct {
	Channel string
}

func (p Centrifugo) Name() string { return "centrifugo" }

func (p Centrifugo) Path() string { return "/connection/websocket" }

func (p Centrifugo) Header() string { return "" }

// The command ids of the join; publications use ids from 3 on.
const (
	cfConnectID   = 1
	cfSubscribeID = 2
)

func (p Centrifugo) Join() [][]byte {
	return [][]byte{
		fmt.Appendf(nil, `{"id":%d,"connect":{"name":"wsbench"}}`, cfConnectID),
		fmt.Appendf(nil, `{"id":%d,"subscribe":{"channel":%q}}`, cfSubscribeID, p.Channel),
	}
}

func (p Centrifugo) Joined(msg []byte) (bool, error) {
	for line := range bytes.SplitSeq(msg, []byte("\n")) {
		if bytes.Contains(line, []byte(`"error"`)) && !bytes.Contains(line, []byte(`"push"`)) {
			return false, fmt.Errorf("centrifugo: %s", line)
		}
		if bytes.HasPrefix(line, []byte(`{"id":2,`)) && bytes.Contains(line, []byte(`"subscribe"`)) {
			return true, nil
		}
	}
	return false, nil
}

func (p Centrifugo) Publish(text string, n uint64) []byte {
	b := fmt.Appendf(nil, `{"id":%d,"publish":{"channel":%q,"data":{"text":`, n+2, p.Channel)
	b = strconv.AppendQuote(b, text)
	return append(b, `}}}`...)
}

func (p Centrifugo) Reply(msg []byte) ([]byte, error) {
	var reply []byte
	for line := range bytes.SplitSeq(msg, []byte("\n")) {
		switch {
		case bytes.Equal(line, []byte("{}")):
			reply = []byte("{}")
		case bytes.Contains(line, []byte(`"error"`)) && !bytes.Contains(line, []byte(`"push"`)):
			return nil, fmt.Errorf("centrifugo: %s", line)
		}
	}
	return reply, nil
}

// stamp is the marker of a timed text: "#fo#SEQ#UNIXNANO#". It needs no
// JSON escaping, so it reaches the subscriber as it was sent, whatever
// the server wraps around it.
var stamp = []byte("#fo#")

// appendStamp appends the stamp of message seq, sent (as scheduled) at ns.
func appendStamp(b []byte, seq uint64, ns int64) []byte {
	b = append(b, stamp...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '#')
	b = strconv.AppendInt(b, ns, 10)
	return append(b, '#')
}

var errStamp = errors.New("malformed stamp")

// stamps calls f with every stamp in msg (a server may put several
// messages in one frame).
func stamps(msg []byte, f func(seq uint64, ns int64)) error {
	for {
		i := bytes.Index(msg, stamp)
		if i < 0 {
			return nil
		}
		msg = msg[i+len(stamp):]
		seq, rest, ok := number(msg)
		if !ok {
			return errStamp
		}
		ns, rest, ok := number(rest)
		if !ok {
			return errStamp
		}
		f(seq, int64(ns))
		msg = rest
	}
}

// number reads digits up to a '#'.
func number(b []byte) (uint64, []byte, bool) {
	var n uint64
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + uint64(c-'0')
		case c == '#' && i > 0:
			return n, b[i+1:], true
		default:
			return 0, nil, false
		}
	}
	return 0, nil, false
}
