package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime/debug"
)

var versionCmd = &command{
	name:    "version",
	summary: "print wsdeck's version (also wsdeck --version)",
	doc: `Prints the version of this binary, from its build information: the module
version, else the revision and time of the commit it was built from (and
"modified" when the tree had uncommitted changes), and the Go version.`,
	example: `wsdeck version`,
	run: func(ctx context.Context, fs *flag.FlagSet, args []string) error {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			fs.Usage()
			return errors.New("no arguments expected")
		}
		bi, _ := debug.ReadBuildInfo()
		fmt.Println(version(bi))
		return nil
	},
}

// version describes the build bi (nil when the binary has none) in one line:
// "wsdeck VERSION, GOVERSION".
func version(bi *debug.BuildInfo) string {
	if bi == nil {
		return "wsdeck (unknown version: no build information)"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		setting := func(key string) string {
			for _, s := range bi.Settings {
				if s.Key == key {
					return s.Value
				}
			}
			return ""
		}
		v = "(devel)"
		if rev := setting("vcs.revision"); rev != "" {
			v = "revision " + rev
			if t := setting("vcs.time"); t != "" {
				v += " " + t
			}
			if setting("vcs.modified") == "true" {
				v += " modified"
			}
		}
	}
	return fmt.Sprintf("wsdeck %s, %s", v, bi.GoVersion)
}
