package audit

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Kinds of Finding.
const (
	FindingEdited    = "edited"       // the line does not hash to the next record's Prev
	FindingGap       = "gap"          // records are missing: Seq jumps, or lines were cut from the start
	FindingOrder     = "out of order" // Seq goes back: a line moved or copied
	FindingNotRecord = "not a record" // not JSON, or a record without Seq inside the chain
)

// Finding is a sign of tampering that VerifyFile found.
type Finding struct {
	Line   int    // 1-based line number in the file as it is
	Kind   string // one of the Finding constants
	Detail string
}

func (f Finding) String() string {
	return "line " + strconv.Itoa(f.Line) + ": " + f.Kind + ": " + f.Detail
}

// Report is what VerifyFile found.
type Report struct {
	Lines     int    // complete lines read
	Records   int    // chained records among them
	Unchained int    // records before the chain begins, written before records had Seq
	Last      uint64 // the last record's Seq
	// Head is the SHA-256 of the last line, in hex: compare it with the
	// head the console logged (File.Head) to see the end of the log
	// is intact too, which the chain alone cannot show.
	Head string
	// Torn is set when the file ends in a partial line: a write cut
	// short by a crash. It is not a finding: the console cuts it off when
	// it next opens the log.
	Torn     bool
	Findings []Finding
}

// OK reports whether the log shows no sign of tampering.
func (r *Report) OK() bool { return len(r.Findings) == 0 }

// VerifyFile reads the audit log at path and checks its chain (see
// Record): every record's Prev is the hash of the line before it,
// and Seq counts up by one from 1. An edited line shows as FindingEdited
// at its line; removed lines as FindingGap at the line after them. The
// error is for a file that cannot be read; what the file holds is in the
// report.
//
// The chain cannot show lines cut off the end of the log, nor an edit of
// the last line, nor a forger who rewrote every line after an edit: for
// those, compare Last and Head with a copy kept elsewhere.
func VerifyFile(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer f.Close()
	return verifyAudit(f)
}

func verifyAudit(r io.Reader) (*Report, error) {
	rep := &Report{}
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		prevHash string // of the line before; "" at the start
		prevSeq  uint64 // of the last chained record; 0 before the chain
		chained  bool   // a chained record was seen
		skipSeq  bool   // the line before was not a record: its Seq is unknown
	)
	find := func(line int, kind, format string, args ...any) {
		rep.Findings = append(rep.Findings, Finding{Line: line, Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
	for n := 1; ; n++ {
		line, complete, err := readLine(br)
		if err != nil {
			return nil, fmt.Errorf("audit log: line %d: %w", n, err)
		}
		if !complete {
			rep.Torn = len(line) > 0
			break
		}
		rep.Lines++
		sum := sha256.Sum256(line)
		hash := hex.EncodeToString(sum[:])

		var rec struct {
			Seq  uint64  `json:"seq"`
			Prev *string `json:"prev"`
		}
		switch {
		case json.Unmarshal(line, &rec) != nil:
			find(n, FindingNotRecord, "not a JSON object")
			skipSeq = true
		case rec.Seq == 0 && chained:
			find(n, FindingNotRecord, "a record without seq after the chain began")
			skipSeq = true
		case rec.Seq == 0:
			rep.Unchained++
		default:
			rep.Records++
			prev := ""
			if rec.Prev != nil {
				prev = *rec.Prev
			}
			want := prevSeq + 1
			switch {
			case skipSeq:
			case rec.Seq > want && !chained:
				find(n, FindingGap, "the chain starts at record %d: %s removed", rec.Seq, span(1, rec.Seq-1))
			case rec.Seq > want:
				find(n, FindingGap, "%s removed before this line (seq %d follows %d)", span(want, rec.Seq-1), rec.Seq, prevSeq)
			case rec.Seq < want:
				find(n, FindingOrder, "seq %d follows %d", rec.Seq, prevSeq)
			case prev != prevHash && n == 1:
				find(n, FindingGap, "the first line chains from a line before it, which was removed")
			case prev != prevHash:
				find(n-1, FindingEdited, "its hash is not the prev of record %d on the next line", rec.Seq)
			}
			chained, prevSeq, skipSeq = true, rec.Seq, false
		}
		prevHash = hash
	}
	rep.Last, rep.Head = prevSeq, prevHash
	return rep, nil
}

// span names records lo..hi: "record 4" or "records 4-6".
func span(lo, hi uint64) string {
	if lo == hi {
		return "record " + strconv.FormatUint(lo, 10)
	}
	return fmt.Sprintf("records %d-%d", lo, hi)
}

// readLine reads a line without its newline, reporting whether it had
// one. A line over maxLine is an error.
func readLine(br *bufio.Reader) (line []byte, complete bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], true, nil
		case errors.Is(err, io.EOF):
			return line, false, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, false, err
		}
		if len(line) > maxLine {
			return nil, false, fmt.Errorf("over %d bytes: not a log of wsdeck", maxLine)
		}
	}
}
