package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wsdeck/wsdeck/internal/console/auth"
)

// announce tells the user where the console is. The login URL holds the
// token: it is printed when the token was made at start (or when asked),
// never a token the user chose unasked, since a terminal's output is
// often kept (scrollback, logs, CI); and it is written to URLFile if set.
func (s *Server) announce() error {
	if s.cfg.URLFile != "" {
		if err := writeSecretFile(s.cfg.URLFile, []byte(s.LoginURL()+"\n")); err != nil {
			return fmt.Errorf("server: writing the login URL: %w", err)
		}
	}
	out := s.cfg.Out
	if out == nil {
		out = os.Stdout
	}
	print := s.cfg.PrintURL == PrintURLAlways || s.cfg.PrintURL == PrintURLAuto && !s.tokenOK
	switch {
	case s.guard.TeamMode():
		// The token opens nothing in team mode: people log in.
		fmt.Fprintf(out, "wsdeck console (team mode): log in at %s\n", strings.TrimSuffix(s.URL(), "/")+auth.LoginPath)
	case print:
		fmt.Fprintf(out, "wsdeck console: open %s\n", s.LoginURL())
	case s.cfg.URLFile != "":
		fmt.Fprintf(out, "wsdeck console: %s (login URL in %s)\n", s.URL(), s.cfg.URLFile)
	default:
		fmt.Fprintf(out, "wsdeck console: %s (log in with %s?token=YOUR_TOKEN; --print-url prints it)\n", s.URL(), s.URL())
	}
	return nil
}

// writeSecretFile replaces the file at name with b, readable by its owner
// only: it writes a new file of mode 0600 beside it and renames it over,
// so no other mode, and no half-written file, is ever seen at name.
func writeSecretFile(name string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
