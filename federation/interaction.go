package federation

import (
	"errors"
	"net/url"
	"strings"
)

// checkInteraction admits an AS's requirement=interaction only as the
// draft shapes it (P§interaction-required): an https url without query or
// fragment and a code of printable ASCII, both bounded. The PS shows the
// url to the person or hands both to the agent, so anything else is an
// AS failure (as_unreachable), never passed on.
func checkInteraction(u, code string) error {
	p, err := url.Parse(u)
	switch {
	case u == "" || code == "":
		return errors.New("no url or code")
	case err != nil || p.Scheme != "https" || p.Host == "" || p.User != nil || p.RawQuery != "" || p.Fragment != "" || strings.HasSuffix(u, "?") || len(u) > 2048:
		return errors.New("the interaction url is not an https URL without query or fragment")
	case len(code) > 64 || strings.IndexFunc(code, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '"' || r == '\\' }) >= 0:
		return errors.New("the interaction code is not a short printable string")
	}
	return nil
}
