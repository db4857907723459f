package fetch

import "net/netip"

// deniedRange is a special-purpose block that egress admission refuses.
type deniedRange struct {
	prefix netip.Prefix
	reason string
}

var deniedRanges = []deniedRange{
	// IPv4 (RFC 6890 and its updates).
	{netip.MustParsePrefix("169.254.169.254/32"), "cloud metadata service"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network (0.0.0.0/8)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation (TEST-NET-1)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation (TEST-NET-2)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation (TEST-NET-3)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (240.0.0.0/4)"},
	// IPv6.
	{netip.MustParsePrefix("::/96"), "IPv4-compatible IPv6 (deprecated)"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated IPv6"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001::/32"), "Teredo"},
	{netip.MustParsePrefix("2001:2::/48"), "benchmarking"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// DeniedAddr reports whether egress admission refuses a to-be-dialled
// address on its own (before any allow-list), and why. IPv4-mapped IPv6
// addresses are judged as the IPv4 address they carry; NAT64 (64:ff9b::/96)
// and 6to4 (2002::/16) addresses as their embedded IPv4 address.
func DeniedAddr(a netip.Addr) (reason string, denied bool) {
	if !a.IsValid() {
		return "invalid address", true
	}
	a = a.Unmap().WithZone("")
	switch {
	case a.IsUnspecified():
		return "unspecified", true
	case a.IsLoopback():
		return "loopback", true
	case a.Is4() && a == netip.AddrFrom4([4]byte{169, 254, 169, 254}):
		return "cloud metadata service", true
	case a.IsLinkLocalUnicast():
		return "link-local", true
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast", true
	case a.IsPrivate():
		return "private", true
	}
	for _, r := range deniedRanges {
		if r.prefix.Contains(a) {
			return r.reason, true
		}
	}
	if nat64Prefix.Contains(a) {
		b := a.As16()
		if reason, denied := DeniedAddr(netip.AddrFrom4([4]byte(b[12:16]))); denied {
			return "NAT64 form of " + reason, true
		}
	}
	if sixToFour.Contains(a) {
		b := a.As16()
		if reason, denied := DeniedAddr(netip.AddrFrom4([4]byte(b[2:6]))); denied {
			return "6to4 form of " + reason, true
		}
	}
	return "", false
}
