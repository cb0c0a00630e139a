//go:build !linux

package transitnet

import "net"

// tcpBytesReceived is unavailable here; idle detection then relies on the
// relayed-chunk counters alone.
func tcpBytesReceived(*net.TCPConn) (uint64, bool) { return 0, false }
