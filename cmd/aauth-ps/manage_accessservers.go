package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

type accessServerJSON struct {
	Issuer    string     `json:"issuer"`
	Status    string     `json:"status"`
	Claims    []string   `json:"claims"`
	BillingAt *time.Time `json:"billing_at,omitempty"`
	UpdatedBy string     `json:"updated_by,omitempty"`
}

func (m *manager) accessServersList(ctx context.Context) error {
	list, err := m.a.AccessServers.List(ctx)
	if err != nil {
		return err
	}
	out := []accessServerJSON{}
	var rows [][]string
	for _, a := range list {
		billing := "-"
		if a.BillingAt != nil {
			billing = ts(*a.BillingAt)
		}
		out = append(out, accessServerJSON{a.Issuer, string(a.Status), append([]string{}, a.Claims...), a.BillingAt, a.UpdatedBy})
		rows = append(rows, []string{a.Issuer, string(a.Status), orDash(strings.Join(a.Claims, " ")), billing})
	}
	if !m.json {
		fmt.Fprintf(m.out, "policy: %s\n", m.a.Config.AccessServerPolicy)
	}
	return m.print(out, "ISSUER\tSTATUS\tRELEASED CLAIMS\tBILLING SINCE", rows)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// accessServersSet records the operator's trust decision; --claims sets
// the release rule (kept when absent).
func (m *manager) accessServersSet(ctx context.Context, issuer string, status federation.Status, own manageFlags) error {
	if err := m.a.Interact.CheckIssuer(issuer); err != nil {
		return fmt.Errorf("%q is not an access server identifier (https://host): %w", issuer, err)
	}
	var claims []string
	if own.claimsSet {
		var err error
		if claims, err = federation.ParseClaims(own.claims); err != nil {
			return err
		}
	}
	rec := cliChange("access-server."+string(status), "access-server:"+issuer, "administrator decided on an access server", map[string]any{"status": string(status), "claims": claims})
	if err := m.audited(ctx, &rec, func(tx *store.Store) error {
		return m.a.AccessServers.WithStore(tx).Set(ctx, issuer, status, claims, "cli")
	}); err != nil {
		return err
	}
	return m.done(fmt.Sprintf("%s: %s", issuer, status), map[string]any{"issuer": issuer, "status": string(status)})
}
