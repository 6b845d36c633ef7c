package hostexpr_test

import (
	"fmt"

	"github.com/wsdeck/wsdeck/internal/fleet/hostexpr"
)

func ExampleParse() {
	hosts, err := hostexpr.Parse("root@web[01-03]:2222,127.0.0.1-4,!127.0.0.2", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range hosts {
		fmt.Println(h.User, h.Name, h.Port)
	}
	// Output:
	// root web01 2222
	// root web02 2222
	// root web03 2222
	//  127.0.0.1 0
	//  127.0.0.3 0
	//  127.0.0.4 0
}

func ExampleParse_error() {
	_, err := hostexpr.Parse("web01,web:99999", nil)
	fmt.Println(err)
	fmt.Println(err.(*hostexpr.SyntaxError).Caret())
	// Output:
	// host expression: bad port (want 1-65535) at column 10: ":99999"
	// web01,web:99999
	//          ^^^^^^
}

func ExampleFold() {
	hosts, _ := hostexpr.Parse("127.0.0.1-5,127.0.0.7,web01,web02,web03", nil)
	fmt.Println(hostexpr.Fold(hosts))
	// Output: 127.0.0.[1-5,7],web[01-03]
}
