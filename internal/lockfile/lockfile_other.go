//go:build !unix

package lockfile

import "os"

// lock does nothing where there is no flock(2): one process per file is
// then up to the operator.
func lock(f *os.File) error { return nil }
