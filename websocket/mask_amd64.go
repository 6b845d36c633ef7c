//go:build !purego

package websocket

// Vector sizes of maskVec (see mask_amd64.s).
const (
	vecSSE2   = iota // 16 bytes; SSE2 is part of amd64
	vecAVX2          // 32 bytes
	vecAVX512        // 64 bytes, for 256 bytes and more
)

// maskVecSize is the best vector size of maskVec that the CPU supports.
var maskVecSize = cpuVecSize()

func mask(key uint32, pos int, b []byte) int {
	return maskVec(key, pos, b, maskVecSize)
}

// maskVec is mask with SSE2, AVX2 or AVX-512 vectors (vecSSE2, vecAVX2,
// vecAVX512), which the CPU must support.
//
//go:noescape
func maskVec(key uint32, pos int, b []byte, vec int) int

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv returns the extended control register XCR0. The CPU must support
// XSAVE and the OS must have enabled it (OSXSAVE).
func xgetbv() (eax, edx uint32)

// cpuVecSize returns vecAVX512 if the CPU has AVX-512 Foundation, vecAVX2
// if it has AVX2, and the operating system saves the registers of either
// across context switches, or else vecSSE2. It is what golang.org/x/sys/cpu
// does, which this package cannot import.
func cpuVecSize() int {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return vecSSE2
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		osxsave = 1 << 27
		avx     = 1 << 28
	)
	if ecx1&osxsave == 0 || ecx1&avx == 0 {
		return vecSSE2
	}
	xcr0, _ := xgetbv()
	const (
		xcr0SSE    = 1 << 1
		xcr0AVX    = 1 << 2 // upper halves of YMM0-15
		xcr0Opmask = 1 << 5 // k0-k7
		xcr0ZMM    = 1 << 6 // upper halves of ZMM0-15
		xcr0HiZMM  = 1 << 7 // ZMM16-31
		xcr0YMM    = xcr0SSE | xcr0AVX
		xcr0ZMMAll = xcr0YMM | xcr0Opmask | xcr0ZMM | xcr0HiZMM
	)
	if xcr0&xcr0YMM != xcr0YMM {
		return vecSSE2
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const (
		avx2    = 1 << 5
		avx512f = 1 << 16
	)
	if ebx7&avx2 == 0 {
		return vecSSE2
	}
	if ebx7&avx512f != 0 && xcr0&xcr0ZMMAll == xcr0ZMMAll {
		return vecAVX512
	}
	return vecAVX2
}
