package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestAccessServersCommands (issue 11): access-servers trust and distrust
// record the operator's decision and release rule on both databases; list
// shows them; a non-identifier or an unreleasable claim (sub) is refused
// and changes nothing; the allow-list policy then admits only the trusted.
func TestAccessServersCommands(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		cli(t, db, "access-servers", "trust", "https://as.example", "--claims", "email name")
		cli(t, db, "access-servers", "distrust", "https://bad.example")
		var list []accessServerJSON
		cliJSON(t, db, &list, "access-servers", "list")
		if len(list) != 2 || list[0].Issuer != "https://as.example" || list[0].Status != "trusted" ||
			!slices.Equal(list[0].Claims, []string{"email", "name"}) || list[1].Status != "distrusted" || len(list[1].Claims) != 0 {
			t.Fatalf("access servers: %+v", list)
		}
		cli(t, db, "access-servers", "distrust", "https://as.example") // the release rule stays
		for _, bad := range [][]string{{"trust", "http://as.example/x"}, {"trust", "https://new.example", "--claims", "sub"}} {
			code, _, errOut := runCmd(t, nil, append(append([]string{"access-servers"}, bad...), cliConfig(db)...)...)
			if code != 1 || !(strings.Contains(errOut, "not an access server identifier") || strings.Contains(errOut, "cannot be released")) {
				t.Fatalf("%v: %d %s", bad, code, errOut)
			}
		}
		a := openApp(t, db)
		got, err := a.AccessServers.List(t.Context())
		if err != nil || len(got) != 2 || got[0].Status != federation.StatusDistrusted || !slices.Equal(got[0].Claims, []string{"email", "name"}) {
			t.Fatalf("after distrust and refused commands: %+v %v", got, err)
		}
		allowList := federation.NewTrust(a.Store, federation.AllowList, nil)
		if err := allowList.Admit(t.Context(), "https://as.example"); err == nil {
			t.Fatal("a distrusted access server was admitted")
		}
		cli(t, db, "access-servers", "trust", "https://as.example")
		if err := allowList.Admit(t.Context(), "https://as.example"); err != nil {
			t.Fatalf("a trusted access server was refused: %v", err)
		}
		if err := allowList.Admit(t.Context(), "https://unknown.example"); err == nil {
			t.Fatal("allow-list admitted an unknown access server")
		}
	})
}
