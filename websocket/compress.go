package websocket

// CompressionOptions configure permessage-deflate (RFC 7692). The zero
// value means compression on, with context takeover, 15-bit windows, the
// default threshold and level.
type CompressionOptions struct {
	// Disabled turns compression off: a server declines every offer, a
	// client makes none.
	Disabled bool

	// NoContextTakeover compresses every message on its own, in both
	// directions: the negotiation asks the peer for it too. It saves the
	// per-connection compression state at the cost of ratio.
	NoContextTakeover bool

	// ServerMaxWindowBits and ClientMaxWindowBits bound the LZ77 window
	// of each side's compressor, 8 to 15; 0 means 15. A server uses at most
	// ServerMaxWindowBits itself and asks the client for at most
	// ClientMaxWindowBits; a client asks for and uses the same. Smaller
	// windows take less memory with context takeover.
	ServerMaxWindowBits int
	ClientMaxWindowBits int

	// Threshold is the size below which messages are sent uncompressed.
	// 0 means DefaultCompressionThreshold; negative compresses every
	// message.
	Threshold int

	// Level is the compression level, 1 (fastest) to 9 (smallest); 0
	// means DefaultCompressionLevel.
	Level int
}

// Defaults for CompressionOptions.
const (
	DefaultCompressionThreshold = 128
	DefaultCompressionLevel     = 1
)

func (o *CompressionOptions) serverWindowBits() int { return windowOrMax(o.ServerMaxWindowBits) }
func (o *CompressionOptions) clientWindowBits() int { return windowOrMax(o.ClientMaxWindowBits) }

func windowOrMax(bits int) int {
	if bits < 8 || bits > 15 {
		return 15
	}
	return bits
}
