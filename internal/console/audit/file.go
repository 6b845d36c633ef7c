package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wsdeck/wsdeck/internal/lockfile"
)

// File appends records to a file as JSON lines, each chained to the
// line before it (see Record). Each record is one write(2) to a file
// opened O_APPEND, followed by fsync: once Write returns, the record
// survives a crash of the process or the machine. One File writes a
// file at a time: OpenFile takes an exclusive lock on it (flock(2),
// where there is one), so a second console on the same file fails to
// start instead of forking the chain. Safe for concurrent use.
//
// The chain makes edits evident, not impossible: whoever can write the
// file can also rewrite every line after an edit with new hashes, or cut
// lines off its end. Head gives the last record's seq and hash, to be
// kept elsewhere (the console logs it) and compared with VerifyFile's.
type File struct {
	mu   sync.Mutex
	f    *os.File // guarded by mu; nil once closed
	seq  uint64   // guarded by mu: the last record's Seq
	head string   // guarded by mu: the SHA-256 of the file's last line, hex; "" for an empty file
}

// maxLine bounds the lines OpenFile and VerifyFile read. A
// record of wsdeck is far smaller: a few hundred KiB for 4096 hosts.
const maxLine = 16 << 20

// OpenFile opens (creating it, mode 0600, and its directory, mode 0700)
// the log file for appending,
// and takes its lock. The first record written continues the chain from
// the file's last line, so a restarted console carries on where it left
// off. A partial last line, left by a crash during a write (it has no
// newline, and its write never returned), is cut off first.
func OpenFile(path string) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if err := lockfile.Lock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w (another wsdeck serve?)", path, err)
	}
	l := &File{f: f}
	if err := l.loadTail(); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	return l, nil
}

// loadTail takes the chain's state from the file's last line, after
// cutting off a partial one.
func (l *File) loadTail() error {
	fi, err := l.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	nl, err := lastIndexByte(l.f, size, '\n')
	if err != nil {
		return err
	}
	end := nl + 1 // the end of the complete lines: 0 if there are none
	if end < size {
		if err := l.f.Truncate(end); err != nil {
			return fmt.Errorf("cutting off a partial last line: %w", err)
		}
	}
	if end == 0 {
		return nil
	}
	nl, err = lastIndexByte(l.f, end-1, '\n')
	if err != nil {
		return err
	}
	start, n := nl+1, end-1-(nl+1) // the last line, without its newline
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(l.f, start, n)); err != nil {
		return err
	}
	l.head = hex.EncodeToString(h.Sum(nil))
	if n <= maxLine {
		line := make([]byte, n)
		if _, err := l.f.ReadAt(line, start); err != nil {
			return err
		}
		// A line that is not a chained record (one written before records
		// were chained, or not a record at all) starts the count again;
		// VerifyFile tells which.
		var r struct {
			Seq uint64 `json:"seq"`
		}
		if json.Unmarshal(line, &r) == nil {
			l.seq = r.Seq
		}
	}
	return nil
}

// lastIndexByte returns the offset of the last c in f before pos, or -1.
func lastIndexByte(f *os.File, pos int64, c byte) (int64, error) {
	buf := make([]byte, 64<<10)
	for pos > 0 {
		n := min(pos, int64(len(buf)))
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return -1, err
		}
		if i := bytes.LastIndexByte(buf[:n], c); i >= 0 {
			return pos + int64(i), nil
		}
	}
	return -1, nil
}

// Write appends rec, with its Seq and Prev set to continue the chain, and
// syncs it to disk. A zero Time is set to now.
func (l *File) Write(rec Record) error {
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("audit log: %w", os.ErrClosed)
	}
	rec.Seq, rec.Prev = l.seq+1, l.head
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	// The line is in the file: chain the next one to it even if the
	// sync fails.
	l.seq, l.head = rec.Seq, hex.EncodeToString(sum[:])
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// Head returns the Seq of the last record written (or found at open) and
// the SHA-256 of the file's last line: what VerifyFile reports as the
// head of an intact log.
func (l *File) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.head
}

// Close closes the file, releasing its lock. Writes after Close fail with
// os.ErrClosed.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// ReadFile reads the records of the log at path, skipping a last line
// that a crash cut short (it is not valid JSON and has no newline).
func ReadFile(path string) ([]Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	var out []Record
	for len(b) > 0 {
		line, rest, complete := bytes.Cut(b, []byte("\n"))
		b = rest
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			if !complete {
				break // a partial last line
			}
			return out, fmt.Errorf("audit log: record %d: %w", len(out)+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
