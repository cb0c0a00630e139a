package transitnet

import (
	"net"

	"golang.org/x/sys/unix"
)

// tcpBytesReceived is the kernel's count of bytes received on c
// (tcpi_bytes_received, Linux ≥ 4.1), which moves even while a splice
// ReadFrom has not yet returned.
func tcpBytesReceived(c *net.TCPConn) (uint64, bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info *unix.TCPInfo
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || ierr != nil {
		return 0, false
	}
	return info.Bytes_received, true
}
