package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
)

// Stats is the Go runtime's view of a server process, after a GC.
type Stats struct {
	HeapInuse    uint64 // bytes in in-use heap spans
	HeapAlloc    uint64 // bytes of live heap objects
	StackInuse   uint64 // bytes of goroutine stacks
	Sys          uint64 // bytes obtained from the OS
	HeapReleased uint64 // bytes returned to the OS
	Goroutines   int
}

// Run is the main of a server subprocess. It listens on addr, writes
// "ready ADDR" on out, and serves the named library's server while it
// answers the harness's commands, one per line on in:
//
//	stats            a JSON Stats line, after runtime.GC and debug.FreeOSMemory
//	profile PATH     start a CPU profile into PATH; "ok"
//	stop-profile     stop it; "ok"
//	heap PATH        write a heap profile into PATH, after a GC; "ok"
//
// It returns when in reaches EOF, so a server never outlives its harness.
func Run(name, addr string, opts Options, in io.Reader, out io.Writer) error {
	serve, err := Lookup(name)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() { errc <- serve(ln, opts) }()
	fmt.Fprintf(out, "ready %s\n", ln.Addr())

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var prof *os.File
	defer func() {
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
	}()
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("%s server: %w", name, err)
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			cmd, arg, _ := strings.Cut(line, " ")
			switch cmd {
			case "stats":
				runtime.GC()
				debug.FreeOSMemory()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				b, _ := json.Marshal(Stats{
					HeapInuse:    ms.HeapInuse,
					HeapAlloc:    ms.HeapAlloc,
					StackInuse:   ms.StackInuse,
					Sys:          ms.Sys,
					HeapReleased: ms.HeapReleased,
					Goroutines:   runtime.NumGoroutine(),
				})
				fmt.Fprintf(out, "%s\n", b)
			case "profile":
				f, err := os.Create(arg)
				if err == nil {
					err = pprof.StartCPUProfile(f)
				}
				if err != nil {
					fmt.Fprintf(out, "error %v\n", err)
					continue
				}
				prof = f
				fmt.Fprintln(out, "ok")
			case "stop-profile":
				if prof != nil {
					pprof.StopCPUProfile()
					prof.Close()
					prof = nil
				}
				fmt.Fprintln(out, "ok")
			case "heap":
				runtime.GC()
				f, err := os.Create(arg)
				if err == nil {
					err = pprof.WriteHeapProfile(f)
					f.Close()
				}
				if err != nil {
					fmt.Fprintf(out, "error %v\n", err)
					continue
				}
				fmt.Fprintln(out, "ok")
			default:
				fmt.Fprintf(out, "error unknown command %q\n", cmd)
			}
		}
	}
}
