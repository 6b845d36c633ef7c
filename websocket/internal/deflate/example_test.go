package deflate_test

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"strings"

	"github.com/wsdeck/wsdeck/websocket/internal/deflate"
)

// Compress messages as permessage-deflate does with context takeover and
// a 512-byte window: Flush after each message and drop the 00 00 ff ff
// that ends the output. The second message refers back to the first.
func Example() {
	var out bytes.Buffer
	w, err := deflate.NewWriter(&out, deflate.BestSpeed, 9)
	if err != nil {
		panic(err)
	}
	var stream bytes.Buffer // what a receiver inflates, marker restored
	for _, msg := range []string{`{"type":"hello","user":"alice"}`, `{"type":"hello","user":"bob"}`} {
		out.Reset()
		w.Write([]byte(msg))
		if err := w.Flush(); err != nil {
			panic(err)
		}
		payload := bytes.TrimSuffix(out.Bytes(), []byte{0, 0, 0xff, 0xff})
		fmt.Printf("%d bytes for %d\n", len(payload), len(msg))
		stream.Write(payload)
		stream.WriteString("\x00\x00\xff\xff")
	}

	// Whole messages come out of one inflater for the connection; here,
	// the stream is ended with a final empty block and read at once.
	stream.WriteString("\x01\x00\x00\xff\xff")
	text, err := io.ReadAll(flate.NewReader(&stream))
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.ReplaceAll(string(text), "}{", "}\n{"))
	// Output:
	// 33 bytes for 31
	// 9 bytes for 29
	// {"type":"hello","user":"alice"}
	// {"type":"hello","user":"bob"}
}
