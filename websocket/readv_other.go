//go:build unix && !linux

package websocket

// haveReadv says scatter reads are made (see connReader.arm): only on
// Linux, where they are measured.
const haveReadv = false

func readv(fd int, a, b []byte) (int, error) { panic("websocket: readv without haveReadv") }
