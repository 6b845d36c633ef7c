package websocket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// StatusCode is a close status code (RFC 6455 section 7.4).
type StatusCode uint16

// Close status codes registered with IANA.
const (
	StatusNormalClosure       StatusCode = 1000
	StatusGoingAway           StatusCode = 1001
	StatusProtocolError       StatusCode = 1002
	StatusUnsupportedData     StatusCode = 1003
	StatusNoStatusRcvd        StatusCode = 1005 // never sent; a close frame without a code
	StatusAbnormalClosure     StatusCode = 1006 // never sent; the connection dropped without a close frame
	StatusInvalidFramePayload StatusCode = 1007
	StatusPolicyViolation     StatusCode = 1008
	StatusMessageTooBig       StatusCode = 1009
	StatusMandatoryExtension  StatusCode = 1010
	StatusInternalError       StatusCode = 1011
	StatusServiceRestart      StatusCode = 1012
	StatusTryAgainLater       StatusCode = 1013
	StatusBadGateway          StatusCode = 1014
	StatusTLSHandshake        StatusCode = 1015 // never sent
)

// maxCloseReason is the longest close reason that fits in a control frame.
const maxCloseReason = 123

var statusNames = map[StatusCode]string{
	StatusNormalClosure:       "NormalClosure",
	StatusGoingAway:           "GoingAway",
	StatusProtocolError:       "ProtocolError",
	StatusUnsupportedData:     "UnsupportedData",
	StatusNoStatusRcvd:        "NoStatusRcvd",
	StatusAbnormalClosure:     "AbnormalClosure",
	StatusInvalidFramePayload: "InvalidFramePayload",
	StatusPolicyViolation:     "PolicyViolation",
	StatusMessageTooBig:       "MessageTooBig",
	StatusMandatoryExtension:  "MandatoryExtension",
	StatusInternalError:       "InternalError",
	StatusServiceRestart:      "ServiceRestart",
	StatusTryAgainLater:       "TryAgainLater",
	StatusBadGateway:          "BadGateway",
	StatusTLSHandshake:        "TLSHandshake",
}

// String returns the code's name and number, "NormalClosure(1000)",
// or StatusCode(n) for an unregistered one.
func (c StatusCode) String() string {
	if s, ok := statusNames[c]; ok {
		return s + "(" + strconv.Itoa(int(c)) + ")"
	}
	return "StatusCode(" + strconv.Itoa(int(c)) + ")"
}

// validReceived reports whether c may appear in a close frame (RFC 6455
// section 7.4.1 and the IANA registry): 1000-1003, 1007-1014 and 3000-4999.
// 1004 is reserved; 1005, 1006 and 1015 must never be sent.
func (c StatusCode) validReceived() bool {
	switch {
	case c >= 1000 && c <= 1003:
		return true
	case c >= 1007 && c <= 1014:
		return true
	case c >= 3000 && c <= 4999:
		return true
	}
	return false
}

// CloseError is the close frame the peer sent: its status code and reason.
// A connection whose peer closed it reports a CloseError from Read; use
// [CloseStatus] to get the code out of any error.
type CloseError struct {
	Code   StatusCode // StatusNoStatusRcvd for a close frame without one
	Reason string     // UTF-8, at most 123 bytes
}

// Error returns "websocket: closed by peer: " with the code and the
// reason, quoted, if there is one.
func (e CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("websocket: closed by peer: %v", e.Code)
	}
	return fmt.Sprintf("websocket: closed by peer: %v %q", e.Code, e.Reason)
}

// CloseStatus returns the status code of the close frame the peer sent if
// err is or wraps a [CloseError]; [StatusAbnormalClosure] if err reports a
// connection that ended without a close frame (what a browser's close event
// says then; no frame carried that code, and err wraps no CloseError); and
// 0 otherwise.
func CloseStatus(err error) StatusCode {
	var ce CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	var dropped *closedError
	if errors.As(err, &dropped) {
		return StatusAbnormalClosure
	}
	return 0
}

// ProtocolError reports that the connection was failed because the peer
// broke the protocol or a limit; Code is the status code sent to the peer in
// the close frame (1002, 1007, 1009 ...). Like [CloseError], it is a value:
// find it with errors.As(err, &pe) where pe is a ProtocolError.
type ProtocolError struct {
	Code   StatusCode // sent to the peer
	Reason string     // what the peer did, for people; also sent, cut to fit a close frame
}

// Error returns the reason and the code the connection was closed with.
func (e ProtocolError) Error() string {
	return fmt.Sprintf("websocket: %s (closed with %d)", e.Reason, e.Code)
}

// Is makes errors.Is(err, ErrMessageTooBig) true for a connection failed
// because a message was over the limit.
func (e ProtocolError) Is(target error) bool {
	return target == ErrMessageTooBig && e.Code == StatusMessageTooBig
}

// parseClosePayload validates the payload of a received close frame.
func parseClosePayload(p []byte) (CloseError, *ProtocolError) {
	switch {
	case len(p) == 0:
		return CloseError{Code: StatusNoStatusRcvd}, nil
	case len(p) == 1:
		return CloseError{}, &ProtocolError{StatusProtocolError, "close frame payload of 1 byte"}
	}
	code := StatusCode(binary.BigEndian.Uint16(p))
	if !code.validReceived() {
		return CloseError{}, &ProtocolError{StatusProtocolError, "invalid close code " + strconv.Itoa(int(code))}
	}
	reason := p[2:]
	if !utf8.Valid(reason) {
		return CloseError{}, &ProtocolError{StatusInvalidFramePayload, "close reason is not valid UTF-8"}
	}
	return CloseError{Code: code, Reason: string(reason)}, nil
}

// appendClosePayload appends the payload of a close frame with code and
// reason, checking that they may be sent. StatusNoStatusRcvd makes an empty
// payload.
func appendClosePayload(dst []byte, code StatusCode, reason string) ([]byte, error) {
	if code == StatusNoStatusRcvd {
		if reason != "" {
			return dst, errors.New("websocket: a close without a status code cannot have a reason")
		}
		return dst, nil
	}
	if !code.validReceived() {
		return dst, fmt.Errorf("websocket: status code %d may not be sent", code)
	}
	if len(reason) > maxCloseReason {
		return dst, fmt.Errorf("websocket: close reason of %d bytes is over the limit of %d", len(reason), maxCloseReason)
	}
	if !utf8.ValidString(reason) {
		return dst, errors.New("websocket: close reason is not valid UTF-8")
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...), nil
}
