package auth

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxTokenFile bounds what ReadTokenFile reads: a token is a line.
const maxTokenFile = 4 << 10

// ReadTokenFile reads a token from the file at name, surrounding white
// space trimmed, so that it stays out of the process list (a --token
// argument does not). As OpenSSH does with private keys, it refuses a file
// that its group or others may read or write, and an empty or oversized
// one.
func ReadTokenFile(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s: not a regular file", name)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("token file %s: others may read or write it (mode %04o): chmod 600 it", name, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("token file %s: larger than %d bytes: a token is one line", name, maxTokenFile)
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return "", fmt.Errorf("token file %s: empty", name)
	case strings.ContainsAny(tok, "\r\n"):
		return "", fmt.Errorf("token file %s: more than one line", name)
	}
	return tok, nil
}
