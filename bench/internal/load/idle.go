package load

import "context"

// Idle opens n connections to an echo server and leaves them idle, with no
// goroutine or buffer of the client's behind them. The caller closes them
// with CloseAll.
func Idle(ctx context.Context, addr string, n int) ([]*Conn, error) {
	d := &Dialer{Addr: addr}
	return d.DialMany(ctx, n, "/", 0, 128)
}
