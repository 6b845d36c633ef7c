package websocket

import (
	"syscall"
	"unsafe"
)

// haveReadv says scatter reads are made (see connReader.arm).
const haveReadv = true

// readv reads from fd into a, then b, with one system call. Both are
// non-empty.
func readv(fd int, a, b []byte) (int, error) {
	iov := [2]syscall.Iovec{{Base: &a[0]}, {Base: &b[0]}}
	iov[0].SetLen(len(a))
	iov[1].SetLen(len(b))
	n, _, errno := syscall.Syscall(syscall.SYS_READV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), 2)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
