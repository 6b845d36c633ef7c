//go:build !unix

package websocket

import "net"

// newRawReader returns nil: the buffer is kept for the connection's life.
func newRawReader(nc net.Conn, cr *connReader) rawReader { return nil }

// haveReadv says scatter reads are made (see connReader.arm).
const haveReadv = false
