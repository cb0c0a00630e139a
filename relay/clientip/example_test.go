package clientip_test

import (
	"fmt"
	"net/http"

	"github.com/wasmhole/wasmhole/relay/clientip"
)

func ExampleResolver() {
	r := clientip.Resolver{Header: "X-Forwarded-For", Trusted: clientip.Loopback}
	req, _ := http.NewRequest("GET", "http://relay.example/v1", nil)
	req.RemoteAddr = "127.0.0.1:50000" // the proxy on this host
	// The client wrote "127.0.0.1"; the proxy appended the real peer.
	req.Header.Set("X-Forwarded-For", "127.0.0.1, 203.0.113.5")
	a := r.Client(req)
	fmt.Println(a, a.FromHeader, a.LoopbackExempt())
	// Output: 203.0.113.5 true false
}
