package websocket

// DeflateParams is permessage-deflate as a connection agreed it, in the
// terms of RFC 7692's parameters: whether the server's and the client's
// compressors keep context between messages, and their window sizes.
type DeflateParams struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	ServerMaxWindowBits     int
	ClientMaxWindowBits     int
}

// DeflateAgreed reports whether c agreed permessage-deflate in its
// handshake, and with what parameters. It is for the interop tests of
// package websocket_test, which check it against what the peer says.
func DeflateAgreed(c *Conn) (DeflateParams, bool) {
	d := c.deflate
	if d == nil {
		return DeflateParams{}, false
	}
	a := d.agreed
	if c.client {
		return DeflateParams{
			ServerNoContextTakeover: a.readNoContextTakeover,
			ClientNoContextTakeover: a.writeNoContextTakeover,
			ServerMaxWindowBits:     a.readWindowBits,
			ClientMaxWindowBits:     a.writeWindowBits,
		}, true
	}
	return DeflateParams{
		ServerNoContextTakeover: a.writeNoContextTakeover,
		ClientNoContextTakeover: a.readNoContextTakeover,
		ServerMaxWindowBits:     a.writeWindowBits,
		ClientMaxWindowBits:     a.readWindowBits,
	}, true
}

// DefaultCompressionThreshold is CompressionOptions.Threshold's default,
// for the interop tests of package websocket_test.
const DefaultCompressionThreshold = defaultCompressionThreshold
