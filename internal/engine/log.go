package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// serverLog adapts the embedded nats-server's logger to slog. The server
// calls it from many goroutines.
//
// The server's notices (its start-up banner, "Server is ready", shutdown
// steps) go to Debug: the engine logs its own summary lines at Info.
// Warnings and errors keep their levels.
//
// The server's Fatalf does not exit here: it is logged at Error and kept,
// so Open can report why the server did not come up (a listen address in
// use, JetStream that could not start).
type serverLog struct {
	log *slog.Logger

	mu    sync.Mutex
	fatal string // the first fatal message; guarded by mu
}

func newServerLog(l *slog.Logger) *serverLog {
	return &serverLog{log: l.With("component", "nats-server")}
}

// debug reports whether the logger wants the server's debug lines, so the
// server skips formatting them otherwise (notices are formatted anyway).
func (l *serverLog) debug() bool {
	return l.log.Enabled(context.Background(), slog.LevelDebug)
}

func (l *serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLog) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

// Tracef is never enabled (protocol traces carry message payloads), but
// the interface needs it.
func (l *serverLog) Tracef(format string, v ...any) {}

func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg, "fatal", true)
	l.mu.Lock()
	if l.fatal == "" {
		l.fatal = msg
	}
	l.mu.Unlock()
}

// fatalMsg returns the first fatal message the server logged, or "".
func (l *serverLog) fatalMsg() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}
