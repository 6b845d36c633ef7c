package hostexpr

import (
	"errors"
	"fmt"
	"strings"
)

// ErrTooManyHosts is wrapped by the error for an expression that names
// more hosts than the cap allows.
var ErrTooManyHosts = errors.New("too many hosts")

// ErrNoHosts is returned for an expression that names no host, or whose
// exclusions remove every host it names.
var ErrNoHosts = errors.New("host expression names no host")

// SyntaxError reports a malformed expression and where the bad part is.
type SyntaxError struct {
	Expr   string // the whole expression
	Offset int    // byte offset of the bad part in Expr
	Len    int    // its length in bytes (at least 1 unless Expr is empty)
	Msg    string // what is wrong
	Err    error  // ErrTooManyHosts for the cap, else nil
}

// Fragment returns the bad part of the expression.
func (e *SyntaxError) Fragment() string {
	lo := min(max(e.Offset, 0), len(e.Expr))
	hi := min(lo+max(e.Len, 0), len(e.Expr))
	return e.Expr[lo:hi]
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("host expression: %s at column %d: %q", e.Msg, e.Offset+1, e.Fragment())
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// Caret returns the expression and, under it, a line of carets marking the
// bad part, for a terminal.
func (e *SyntaxError) Caret() string {
	lo := min(max(e.Offset, 0), len(e.Expr))
	n := max(len(e.Fragment()), 1)
	return e.Expr + "\n" + strings.Repeat(" ", lo) + strings.Repeat("^", n)
}

// errAt returns a SyntaxError for expr[off:off+n].
func errAt(expr string, off, n int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Expr: expr, Offset: off, Len: n, Msg: fmt.Sprintf(format, args...)}
}
