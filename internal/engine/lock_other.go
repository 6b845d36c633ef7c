//go:build !unix

package engine

import "os"

// lockFile does nothing where there is no flock(2): one process per state
// directory is then up to the operator.
func lockFile(f *os.File) error { return nil }
