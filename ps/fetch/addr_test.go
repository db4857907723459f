package fetch

import (
	"net/netip"
	"testing"
)

func TestDeniedAddr(t *testing.T) {
	cases := []struct {
		addr   string
		denied bool
	}{
		// Public.
		{"8.8.8.8", false},
		{"93.184.216.34", false},
		{"1.1.1.1", false},
		{"100.63.255.255", false},
		{"100.128.0.0", false},
		{"172.32.0.1", false},
		{"192.169.0.1", false},
		{"2606:4700::1111", false},
		{"2a00:1450:4001::200e", false},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::808:808", false}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", false},  // 6to4 of 8.8.8.8
		// Loopback.
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		// Private (RFC 1918, ULA).
		{"10.0.0.1", true},
		{"10.255.255.255", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"::ffff:10.1.2.3", true},
		{"::ffff:192.168.0.1", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		{"fd00:ec2::254", true}, // AWS IPv6 metadata
		// Link-local and metadata.
		{"169.254.0.1", true},
		{"169.254.169.254", true},
		{"::ffff:169.254.169.254", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		// Multicast.
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"ff02::1", true},
		{"ff05::2", true},
		{"ff01::1", true},
		// Unspecified, this-network, broadcast, reserved.
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"::", true},
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		// CGNAT (also Alibaba's 100.100.100.200 metadata).
		{"100.64.0.1", true},
		{"100.100.100.200", true},
		{"100.127.255.255", true},
		// Documentation, benchmarking, IETF.
		{"192.0.2.1", true},
		{"198.51.100.7", true},
		{"203.0.113.9", true},
		{"198.18.0.1", true},
		{"192.0.0.8", true},
		{"2001:db8::1", true},
		// Embedded forms.
		{"64:ff9b::7f00:1", true},    // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", true}, // NAT64 of 169.254.169.254
		{"2002:a00:1::1", true},      // 6to4 of 10.0.0.1
		{"64:ff9b:1::1", true},       // local-use NAT64
		{"::7f00:1", true},           // IPv4-compatible 127.0.0.1
		{"2001::1", true},            // Teredo
		{"fec0::1", true},            // site-local
		{"100::1", true},             // discard
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			reason, denied := DeniedAddr(a)
			if denied != tc.denied {
				t.Fatalf("DeniedAddr(%s) = %v (%q), want %v", tc.addr, denied, reason, tc.denied)
			}
			if denied && reason == "" {
				t.Fatalf("DeniedAddr(%s): denied without a reason", tc.addr)
			}
		})
	}
	if _, denied := DeniedAddr(netip.Addr{}); !denied {
		t.Fatal("the zero Addr must be denied")
	}
}

func TestCheckAddrAllowList(t *testing.T) {
	c, err := New(Config{EgressAllow: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("::ffff:10.9.0.0/112"), // IPv4-mapped form, normalised
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr, host string
		ok         bool
	}{
		{"127.0.0.1", "ap.test", true},
		{"::ffff:127.0.0.1", "ap.test", true},
		{"127.0.0.2", "ap.test", false},
		{"10.9.3.4", "ap.test", true},
		{"10.8.3.4", "ap.test", false},
		{"::1", "localhost", false}, // dev mode off
		{"8.8.8.8", "ap.test", true},
	} {
		err := c.checkAddr(netip.MustParseAddr(tc.addr), tc.host)
		if (err == nil) != tc.ok {
			t.Errorf("checkAddr(%s, %s) = %v, want ok=%v", tc.addr, tc.host, err, tc.ok)
		}
	}

	dev, err := New(Config{AllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr, host string
		ok         bool
	}{
		{"127.0.0.1", "localhost", true},
		{"::1", "localhost", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "ap.test", false}, // dev mode admits loopback only for the literal hosts
		{"10.0.0.1", "localhost", false},
	} {
		err := dev.checkAddr(netip.MustParseAddr(tc.addr), tc.host)
		if (err == nil) != tc.ok {
			t.Errorf("dev checkAddr(%s, %s) = %v, want ok=%v", tc.addr, tc.host, err, tc.ok)
		}
	}
}

func TestNewRejectsBadResolve(t *testing.T) {
	if _, err := New(Config{Resolve: map[string]string{"ap.test": "ap.other:443"}}); err == nil {
		t.Fatal("a Resolve target that is not ip:port must be refused")
	}
	if _, err := New(Config{Resolve: map[string]string{"ap.test": "127.0.0.1"}}); err == nil {
		t.Fatal("a Resolve target without a port must be refused")
	}
}
