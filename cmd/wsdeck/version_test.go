package main

import (
	"runtime/debug"
	"testing"
)

func TestVersion(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tt := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build information", nil, "wsdeck (unknown version: no build information)"},
		{"module version", &debug.BuildInfo{
			GoVersion: "go1.26.0",
			Main:      debug.Module{Path: "wsdeck", Version: "v1.2.3"},
			Settings:  vcs("vcs.revision", "0123abcd"),
		}, "wsdeck v1.2.3, go1.26.0"},
		{"revision, time and modified", &debug.BuildInfo{
			GoVersion: "go1.26.0",
			Main:      debug.Module{Path: "wsdeck", Version: "(devel)"},
			Settings:  vcs("vcs", "git", "vcs.revision", "0123abcd", "vcs.time", "2026-07-01T10:00:00Z", "vcs.modified", "true"),
		}, "wsdeck revision 0123abcd 2026-07-01T10:00:00Z modified, go1.26.0"},
		{"revision only", &debug.BuildInfo{
			GoVersion: "go1.26.0",
			Settings:  vcs("vcs.revision", "0123abcd", "vcs.modified", "false"),
		}, "wsdeck revision 0123abcd, go1.26.0"},
		{"nothing known", &debug.BuildInfo{
			GoVersion: "go1.26.0",
			Main:      debug.Module{Path: "wsdeck", Version: "(devel)"},
		}, "wsdeck (devel), go1.26.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := version(tt.bi); got != tt.want {
				t.Errorf("version() = %q, want %q", got, tt.want)
			}
		})
	}
}
