package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// debugEnv names the address the console built by fleetbench serves its
// debug handlers on (net/http/pprof, and debugMem's figures), when set.
const debugEnv = "WSDECK_FLEETBENCH_DEBUG"

// debugSource is added to package main of cmd/wsdeck with go build
// -overlay when fleetbench builds the binary: the product has no debug
// endpoints, and the benchmark wants a heap profile, a goroutine dump and
// the live heap (after a GC) of the console it measures. It listens only
// when debugEnv is set.
const debugSource = `package main

import (
	"encoding/json"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"strconv"
)

func init() {
	addr := os.Getenv("` + debugEnv + `")
	if addr == "" {
		return
	}
	if r, err := strconv.Atoi(os.Getenv("` + debugEnv + `_MEMPROFILERATE")); err == nil && r > 0 {
		runtime.MemProfileRate = r
	}
	http.HandleFunc("/debug/fleetbench/mem", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		json.NewEncoder(w).Encode(map[string]uint64{
			"heap_alloc": m.HeapAlloc, "heap_inuse": m.HeapInuse, "stack_inuse": m.StackInuse,
			"goroutines": uint64(runtime.NumGoroutine()),
		})
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, nil)
}
`

// writeOverlay writes debugSource and the overlay file naming it as a
// file of the directory pkgDir; it returns the overlay's path.
func writeOverlay(dir, pkgDir string) (string, error) {
	src := filepath.Join(dir, "fleetbench_debug.go")
	if err := os.WriteFile(src, []byte(debugSource), 0o600); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(filepath.Join(pkgDir, "zz_fleetbench_debug.go"))
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(map[string]map[string]string{"Replace": {abs: src}})
	overlay := filepath.Join(dir, "overlay.json")
	return overlay, os.WriteFile(overlay, b, 0o600)
}

// freeAddr returns a loopback address with a port free just now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// debugMem is the console's memory after a forced GC.
type debugMem struct {
	HeapAlloc  int64 `json:"heap_alloc"` // the live heap, just after the GC
	HeapInuse  int64 `json:"heap_inuse"`
	StackInuse int64 `json:"stack_inuse"`
	Goroutines int64 `json:"goroutines"`
}

// mem forces a GC in the console and returns its figures; ok is false
// when the console has no debug handlers.
func (c *console) mem() (m debugMem, ok bool) {
	if c.debug == "" {
		return m, false
	}
	cl := http.Client{Timeout: 30 * time.Second}
	resp, err := cl.Get("http://" + c.debug + "/debug/fleetbench/mem")
	if err != nil {
		return m, false
	}
	defer resp.Body.Close()
	return m, json.NewDecoder(resp.Body).Decode(&m) == nil
}

// saveProfiles writes the console's heap profile (after a GC) and its
// goroutines (grouped by stack) to dir, named by the host count.
func (c *console) saveProfiles(dir string, n int) error {
	if c.debug == "" {
		return fmt.Errorf("the console has no debug handlers (-wsdeck given?)")
	}
	cl := http.Client{Timeout: 60 * time.Second}
	for name, path := range map[string]string{
		fmt.Sprintf("heap-%d.pprof", n):    "/debug/pprof/heap?gc=1",
		fmt.Sprintf("goroutine-%d.txt", n): "/debug/pprof/goroutine?debug=1",
	} {
		resp, err := cl.Get("http://" + c.debug + path)
		if err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			err = errors.Join(err, f.Close())
		}
		resp.Body.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
