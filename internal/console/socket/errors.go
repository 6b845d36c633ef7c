package socket

import "fmt"

// Error codes of error messages, shared by every endpoint
// (docs/protocol.md lists them).
const (
	CodeBadJSON       = "bad_json"       // not a JSON object, or a field of the wrong type
	CodeBadMessage    = "bad_message"    // binary, or no type field
	CodeUnknownType   = "unknown_type"   // a type this endpoint does not take
	CodeInvalid       = "invalid"        // a known type with a field out of bounds (empty text, bad nickname)
	CodeTooBig        = "too_big"        // over an endpoint's own size limit
	CodeRateLimited   = "rate_limited"   // over the per-connection message rate
	CodeNotConfigured = "not_configured" // the endpoint is not set up on this server
	CodeInternal      = "internal"       // the server failed
)

// Error is an error sent back to the client as an error message.
type Error struct {
	Code    string // one of the Code constants
	Message string // for people
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// UnknownType is the error for a message type an endpoint does not take.
func UnknownType(typ string) *Error {
	return Errorf(CodeUnknownType, "unknown message type %q", typ)
}
