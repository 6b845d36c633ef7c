// Package deflate is a raw DEFLATE (RFC 1951) compressor whose matches
// reach back at most 1<<windowBits bytes, for permessage-deflate (RFC
// 7692). A peer that offers server_max_window_bits or
// client_max_window_bits below 15 keeps a smaller window for inflating, so
// its compressor may not refer further back than that; compress/flate
// always uses 32 KiB and cannot honour such an offer.
//
// [NewWriter] takes a level and the window size. [Writer.Write] buffers
// input; [Writer.Flush] compresses it and ends with a sync marker (an
// empty stored block, 00 00 ff ff), byte-aligned, without ending the
// stream, which is what each permessage-deflate message needs. History
// carries over from one Flush to the next (context takeover);
// [Writer.Reset] drops it (no context takeover) and [Writer.ResetOutput]
// keeps it while changing the destination.
//
// Every match distance is at most 1<<windowBits: matches are only taken
// from positions no further back than that and never from before a
// Reset. Levels:
//
//   - 1 ([BestSpeed]): greedy, one hash table of the most recent
//     position per 4-byte hash, skipping ahead through input that does not
//     match (as compress/flate's level 1 and Snappy do), and trying the last
//     match distance first.
//   - 2, 3: greedy over hash chains of 8 and 32 candidates.
//   - 4 to 9: lazy matching over hash chains (zlib's deflate_slow and its
//     parameters), 16 to 4096 candidates. [DefaultCompression] is 6.
//   - 0 ([NoCompression]): stored blocks; [HuffmanOnly] (-2): literals only.
//
// Levels 2 to 9 also skip ahead, up to 32 bytes at a time, once 256 bytes
// have gone by without a match, so that incompressible input costs little
// at any level; text and JSON never go that long without one.
//
// Each block is written as whichever of stored, fixed Huffman and dynamic
// Huffman is smallest. Dynamic codes are length-limited to 15 bits (7 for
// the code-length code). A block covers at most the input part of the
// buffer (16 KiB less the window, or one window for windows of 16 and 32
// KiB), and ends early at a quarter as many tokens (a token is a match or
// a run of literals). Input is compressed when its buffer fills, so
// nothing is written before Flush until about max(16 KiB, 2<<windowBits)
// bytes have come in.
//
// Memory: a Writer allocates everything in NewWriter (measured with
// runtime.MemStats, levels 2 to 9 alike):
//
//	windowBits    8     9    10    11    12    13    14    15
//	level 1     45K   47K   51K   59K   72K  100K  125K  179K
//	levels 2-9  46K   48K   53K   63K   80K  116K  221K  307K
//	level 0     27K at any window; HuffmanOnly 45K
//
// That is the Writer itself (10 KiB, of which 4 KiB output buffer), a
// buffer of max(16 KiB, 2<<windowBits) for the window and pending input, a
// quarter of its input part in 4-byte tokens, and hash tables of
// 4<<min(windowBits+1, 14) bytes for level 1, or 4<<min(windowBits+1, 15)
// plus 2<<windowBits for the chains of levels 2 to 9. compress/flate
// allocates about 800 KiB (1.2 MiB at level 1) per Writer.
//
// After NewWriter, Write, Flush and Reset do not allocate.
//
// A Writer is not safe for concurrent use.
package deflate
