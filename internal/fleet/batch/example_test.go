package batch_test

import (
	"context"
	"fmt"

	"github.com/wsdeck/wsdeck/internal/fleet/batch"
	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

// Run reports each host through the handler; local runs the command here.
func ExampleRun() {
	hosts, _ := hostexpr.Parse("local", nil)
	var lines batch.LineSplitter
	sum, err := batch.Run(context.Background(), batch.Config{Targets: hosts, Command: "echo hello; exit 3"},
		func(ev batch.Event) {
			switch ev.Type {
			case batch.EventOutput:
				lines.Write(ev.Index, ev.Stream, ev.Data, func(line []byte) { fmt.Printf("%s: %s\n", ev.Host, line) })
			case batch.EventFinished:
				fmt.Printf("%s: %s %s\n", ev.Host, ev.Result.Status, ev.Result.Message())
			}
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sum.OK, sum.Failed, sum.FailedHosts)
	// Output:
	// local: hello
	// local: exit exit status 3
	// 0 1 local
}
