package web_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsdeck/wsdeck/internal/console/web"
	"github.com/wsdeck/wsdeck/internal/testkit/testpeer"
)

// vendored is a line of vendor.txt.
type vendored struct {
	pkg, src, dst string
}

func readVendorList(t *testing.T) []vendored {
	t.Helper()
	f, err := os.Open("vendor.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vendored
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("vendor.txt: %q: want PACKAGE FILE DESTINATION", line)
		}
		out = append(out, vendored{fields[0], fields[1], fields[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVendoredFilesAreListedAndLicensed runs everywhere: every file under
// static/vendor is in vendor.txt and embedded, and every package vendored
// has its licence with it.
func TestVendoredFilesAreListedAndLicensed(t *testing.T) {
	t.Parallel()
	list := readVendorList(t)
	listed := map[string]bool{}
	licensed := map[string]bool{}
	for _, v := range list {
		listed[v.dst] = true
		if strings.Contains(strings.ToUpper(v.src), "LICENSE") {
			licensed[v.pkg] = true
		}
		if _, err := fs.Stat(web.FS(), "vendor/"+v.dst); err != nil {
			t.Errorf("%s is not embedded: %v (run vendor.sh)", v.dst, err)
		}
	}
	for _, v := range list {
		if !licensed[v.pkg] {
			t.Errorf("%s is vendored without its licence", v.pkg)
		}
	}
	fs.WalkDir(web.FS(), "vendor", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !listed[strings.TrimPrefix(p, "vendor/")] {
			t.Errorf("%s is not in vendor.txt", p)
		}
		return err
	})
}

// TestVendoredFilesMatchTheLock checks that the committed copies are byte
// for byte the files npm ci installs from package-lock.json. It needs
// node_modules at the module root (npm ci); without it the test skips,
// or fails where peers are required (CI).
func TestVendoredFilesMatchTheLock(t *testing.T) {
	t.Parallel()
	root, err := testpeer.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	modules := filepath.Join(root, "node_modules")
	if _, err := os.Stat(modules); err != nil {
		testpeer.Need(t, "node_modules", "run npm ci at the module root", err)
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join(root, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, v := range readVendorList(t) {
		if !checked[v.pkg] {
			checked[v.pkg] = true
			locked, ok := lock.Packages["node_modules/"+v.pkg]
			if !ok {
				t.Errorf("%s is not in package-lock.json", v.pkg)
				continue
			}
			var installed struct {
				Version string `json:"version"`
			}
			pb, err := os.ReadFile(filepath.Join(modules, v.pkg, "package.json"))
			if errors.Is(err, fs.ErrNotExist) {
				testpeer.Need(t, v.pkg+" in node_modules", "run npm ci at the module root", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(pb, &installed); err != nil {
				t.Fatal(err)
			}
			if installed.Version != locked.Version {
				t.Errorf("node_modules has %s %s, package-lock.json pins %s: run npm ci", v.pkg, installed.Version, locked.Version)
				continue
			}
			t.Logf("%s %s", v.pkg, locked.Version)
		}
		want, err := os.ReadFile(filepath.Join(modules, v.pkg, v.src))
		if err != nil {
			t.Errorf("%s: %v", v.pkg, err)
			continue
		}
		got, err := fs.ReadFile(web.FS(), "vendor/"+v.dst)
		if err != nil {
			t.Errorf("%s: %v", v.dst, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("static/vendor/%s differs from node_modules/%s/%s: run internal/web/vendor.sh and commit", v.dst, v.pkg, v.src)
		}
	}
}
