// Package loopback picks loopback addresses for servers that bind them
// later than the address is chosen: a child process, a server restarted
// on the address it had.
package loopback

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// span is how many ports below the ephemeral range are drawn from.
const span = 10000

// defaultEphemeralLow is Linux's default lower bound of the ephemeral range.
const defaultEphemeralLow = 32768

// FreeAddr returns "127.0.0.1:P" for a port P that nobody listens on now,
// drawn at random below the kernel's ephemeral range. A port from
// Listen(":0") goes back to that range when closed, where any outgoing
// connection on the machine may take it as its local port before the
// server binds it again; below the range only another FreeAddr can.
func FreeAddr() (string, error) {
	low := ephemeralLow()
	first := max(low-span, 1024)
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", first+rand.IntN(low-first))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken: draw again
		}
		if err := ln.Close(); err != nil {
			return "", err
		}
		return addr, nil
	}
	return "", errors.New("loopback: no free port below the ephemeral range")
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralLow
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil || low <= 1024+span/10 {
		return defaultEphemeralLow
	}
	return low
}
