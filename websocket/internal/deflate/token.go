package deflate

// A token is a piece of LZ77 output: a run of literal bytes (values below
// matchFlag: the run's length; the bytes themselves stay in the Writer's
// buffer), or a match, which packs length-3 into bits 15..22 and
// distance-1 into bits 0..14. Tokens grow with the number of matches, not
// with the input.
type token uint32

const (
	matchFlag = 1 << 30
	lenShift  = 15
	distMask  = 1<<15 - 1

	minMatch = 4   // the matchers hash 4 bytes; DEFLATE allows 3, which seldom pays
	maxMatch = 258 // longest match DEFLATE can express

	numLitSyms  = 286 // literals, end of block, 29 length codes
	numDistSyms = 30
	numCLSyms   = 19 // the code-length alphabet of a dynamic header
	endOfBlock  = 256
	firstLength = 257 // literal/length symbol of the shortest length code

	maxCodeBits   = 15 // longest literal/length or distance code
	maxCLCodeBits = 7  // longest code-length code
)

func matchToken(length int, dist int32) token {
	return matchFlag | token(length-3)<<lenShift | token(dist-1)
}

// The length and distance codes of RFC 1951 section 3.2.5, bases stored as
// length-3 and distance-1, the values a token carries. Length 258 has a
// code of its own (285) rather than 284 with all extra bits set.
var (
	lengthBase = [29]uint8{
		0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28,
		32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 255,
	}
	lengthExtra = [29]uint8{
		0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
		3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
	}
	distBase = [numDistSyms]uint16{
		0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192,
		256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144,
		8192, 12288, 16384, 24576,
	}
	distExtra = [numDistSyms]uint8{
		0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
		7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
	}

	lengthCode = makeLengthCode() // by length-3
	distCodes  = makeDistCodes()  // see distCode
)

func makeLengthCode() (t [256]uint8) {
	for c := range len(lengthBase) - 1 {
		for k := range 1 << lengthExtra[c] {
			t[int(lengthBase[c])+k] = uint8(c)
		}
	}
	t[255] = 28
	return t
}

func makeDistCodes() (t [512]uint8) {
	for c := range numDistSyms {
		for k := range 1 << distExtra[c] {
			if d := int(distBase[c]) + k; d < 256 {
				t[d] = uint8(c)
			} else {
				t[256+d>>7] = uint8(c)
			}
		}
	}
	return t
}

// distCode returns the code of d, a distance minus one. Codes 16 and up
// start at multiples of 128 and span at least 128, so a second table of
// 256 indexed by d>>7 covers them.
func distCode(d uint32) uint32 {
	if d < 256 {
		return uint32(distCodes[d])
	}
	return uint32(distCodes[256+(d>>7)&255])
}
