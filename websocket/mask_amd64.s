//go:build !purego

#include "textflag.h"

// Vector sizes of maskVec; the constants of mask_amd64.go.
#define vecAVX2 1
#define vecAVX512 2

// maxAVX512 is where maskVec goes back from AVX-512 to AVX2: the slice is
// larger than the L1 cache, and from L2, AVX2 masks faster (by some 15 % on
// a Sapphire Rapids).
#define maxAVX512 65536

// KEY64 sets R8 to the key in AX twice over.
#define KEY64 MOVL AX, R8; MOVQ R8, R9; SHLQ $32, R9; ORQ R9, R8

// func maskVec(key uint32, pos int, b []byte, vec int) int
//
// Throughout, AX holds the key rotated so that its low byte lines up with
// the byte at DI, R8 that key twice over (a 64-bit word), X0, Y0 and Z0
// that word broadcast to a vector, and DX counts the bytes left.
//
// Slices of fewer than 64 bytes go straight to the tail, which does 8-byte
// words and then 4, 2 and 1 bytes. Longer ones first do 1, 2, 4 and 8
// bytes, as needed to align DI to 16 bytes, rotating the key past the odd
// ones. SSE2 then does 64 bytes at a time, and 16. AVX2 does 16 bytes if
// needed to align DI to 32, then 256 bytes at a time, then 128, 64 and 32
// as needed. AVX-512, for slices of 256 bytes to 64 KiB (maxAVX512), uses
// 64-byte vectors (aligned to 64), 512 and then 256 bytes at a time, and
// leaves the rest to the AVX2 code. Vector loads
// and stores are aligned. Then comes the tail.
TEXT ·maskVec(SB), NOSPLIT, $0-56
	MOVL key+0(FP), AX
	MOVQ pos+8(FP), CX
	MOVQ b_base+16(FP), DI
	MOVQ b_len+24(FP), DX
	MOVQ vec+40(FP), R10
	LEAQ (CX)(DX*1), BX
	ANDQ $3, BX
	MOVQ BX, ret+48(FP)

	// Rotate the key by pos bytes.
	ANDQ $3, CX
	SHLQ $3, CX
	RORL CX, AX
	KEY64
	CMPQ DX, $64
	JB   words

	// Align DI to 16 bytes: CX = -DI mod 16 bytes, fewer than DX.
	MOVQ  DI, CX
	NEGQ  CX
	TESTQ $1, CX
	JZ    head2
	XORB  AL, (DI)
	INCQ  DI
	DECQ  DX
	RORL  $8, AX

head2:
	TESTQ $2, CX
	JZ    head4
	XORW  AX, (DI)
	ADDQ  $2, DI
	SUBQ  $2, DX
	RORL  $16, AX

head4:
	TESTQ $4, CX
	JZ    head8
	XORL  AX, (DI)
	ADDQ  $4, DI
	SUBQ  $4, DX

head8:
	KEY64
	TESTQ $8, CX
	JZ    aligned16
	XORQ  R8, (DI)
	ADDQ  $8, DI
	SUBQ  $8, DX

aligned16:
	// At least 49 bytes are left.
	MOVQ       R8, X0
	PUNPCKLQDQ X0, X0
	CMPQ       R10, $vecAVX2
	JAE        avx

sse64:
	CMPQ DX, $64
	JB   sse16
	MOVO (DI), X1
	MOVO 16(DI), X2
	MOVO 32(DI), X3
	MOVO 48(DI), X4
	PXOR X0, X1
	PXOR X0, X2
	PXOR X0, X3
	PXOR X0, X4
	MOVO X1, (DI)
	MOVO X2, 16(DI)
	MOVO X3, 32(DI)
	MOVO X4, 48(DI)
	ADDQ $64, DI
	SUBQ $64, DX
	JMP  sse64

sse16:
	CMPQ DX, $16
	JB   words
	MOVO (DI), X1
	PXOR X0, X1
	MOVO X1, (DI)
	ADDQ $16, DI
	SUBQ $16, DX
	JMP  sse16

avx:
	// Align DI to 32 bytes; at least 33 bytes are left.
	TESTQ   $16, DI
	JZ      aligned32
	VPXOR   (DI), X0, X1
	VMOVDQA X1, (DI)
	ADDQ    $16, DI
	SUBQ    $16, DX

aligned32:
	VPBROADCASTQ X0, Y0
	CMPQ         DX, $256
	JB           avxlast
	CMPQ         R10, $vecAVX512
	JB           avxblocks
	CMPQ         DX, $maxAVX512
	JB           avx512

avxblocks:
	// 256 bytes at a time.
	MOVQ DX, CX
	SHRQ $8, CX

avx256:
	VPXOR   (DI), Y0, Y1
	VPXOR   32(DI), Y0, Y2
	VPXOR   64(DI), Y0, Y3
	VPXOR   96(DI), Y0, Y4
	VPXOR   128(DI), Y0, Y5
	VPXOR   160(DI), Y0, Y6
	VPXOR   192(DI), Y0, Y7
	VPXOR   224(DI), Y0, Y8
	VMOVDQA Y1, (DI)
	VMOVDQA Y2, 32(DI)
	VMOVDQA Y3, 64(DI)
	VMOVDQA Y4, 96(DI)
	VMOVDQA Y5, 128(DI)
	VMOVDQA Y6, 160(DI)
	VMOVDQA Y7, 192(DI)
	VMOVDQA Y8, 224(DI)
	ADDQ    $256, DI
	DECQ    CX
	JNZ     avx256
	ANDQ    $255, DX

avxlast:
	// Fewer than 256 bytes: 128, 64 and 32 as needed.
	TESTQ   $128, DX
	JZ      avxlast64
	VPXOR   (DI), Y0, Y1
	VPXOR   32(DI), Y0, Y2
	VPXOR   64(DI), Y0, Y3
	VPXOR   96(DI), Y0, Y4
	VMOVDQA Y1, (DI)
	VMOVDQA Y2, 32(DI)
	VMOVDQA Y3, 64(DI)
	VMOVDQA Y4, 96(DI)
	ADDQ    $128, DI

avxlast64:
	TESTQ   $64, DX
	JZ      avxlast32
	VPXOR   (DI), Y0, Y1
	VPXOR   32(DI), Y0, Y2
	VMOVDQA Y1, (DI)
	VMOVDQA Y2, 32(DI)
	ADDQ    $64, DI

avxlast32:
	TESTQ   $32, DX
	JZ      avxdone
	VPXOR   (DI), Y0, Y1
	VMOVDQA Y1, (DI)
	ADDQ    $32, DI

avxdone:
	VZEROUPPER
	ANDQ $31, DX
	JMP  words

avx512:
	// Align DI to 64 bytes; at least 256 bytes are left.
	TESTQ   $32, DI
	JZ      aligned64
	VPXOR   (DI), Y0, Y1
	VMOVDQA Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $32, DX
	CMPQ    DX, $256
	JB      avxlast

aligned64:
	VPBROADCASTQ X0, Z0
	MOVQ         DX, CX
	SHRQ         $9, CX
	JZ           z256

z512:
	VPXORQ    (DI), Z0, Z1
	VPXORQ    64(DI), Z0, Z2
	VPXORQ    128(DI), Z0, Z3
	VPXORQ    192(DI), Z0, Z4
	VPXORQ    256(DI), Z0, Z5
	VPXORQ    320(DI), Z0, Z6
	VPXORQ    384(DI), Z0, Z7
	VPXORQ    448(DI), Z0, Z8
	VMOVDQA64 Z1, (DI)
	VMOVDQA64 Z2, 64(DI)
	VMOVDQA64 Z3, 128(DI)
	VMOVDQA64 Z4, 192(DI)
	VMOVDQA64 Z5, 256(DI)
	VMOVDQA64 Z6, 320(DI)
	VMOVDQA64 Z7, 384(DI)
	VMOVDQA64 Z8, 448(DI)
	ADDQ      $512, DI
	DECQ      CX
	JNZ       z512
	ANDQ      $511, DX

z256:
	CMPQ      DX, $256
	JB        avxlast
	VPXORQ    (DI), Z0, Z1
	VPXORQ    64(DI), Z0, Z2
	VPXORQ    128(DI), Z0, Z3
	VPXORQ    192(DI), Z0, Z4
	VMOVDQA64 Z1, (DI)
	VMOVDQA64 Z2, 64(DI)
	VMOVDQA64 Z3, 128(DI)
	VMOVDQA64 Z4, 192(DI)
	ADDQ      $256, DI
	SUBQ      $256, DX
	JMP       avxlast

words:
	CMPQ DX, $8
	JB   four
	XORQ R8, (DI)
	ADDQ $8, DI
	SUBQ $8, DX
	JMP  words

four:
	CMPQ DX, $4
	JB   two
	XORL AX, (DI)
	ADDQ $4, DI
	SUBQ $4, DX

two:
	CMPQ DX, $2
	JB   one
	XORW AX, (DI)
	ADDQ $2, DI
	SUBQ $2, DX
	RORL $16, AX

one:
	TESTQ DX, DX
	JZ    done
	XORB  AL, (DI)

done:
	RET

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET
