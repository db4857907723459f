package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runAgents checks the agents aggregate: bindings (one live binding per
// agent, exact identifiers, PS-255), providers and persons' blocks.
func runAgents(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1", "p2")
	at := time.Unix(1_800_000_000, 0).UTC()
	var _ agents.Store = st

	t.Run("bindings", func(t *testing.T) {
		// BoundPerson answers what LiveBinding then PersonByID answer, in
		// one query (issue 12), the person without its secrets.
		likeTwoReads := func(provider, agentID, wantPerson string) {
			t.Helper()
			b, p, err := st.BoundPerson(ctx, provider, agentID)
			lb, lerr := st.LiveBinding(ctx, provider, agentID)
			if wantPerson == "" {
				if !errors.Is(err, dberr.ErrNotFound) || !errors.Is(lerr, dberr.ErrNotFound) {
					t.Fatalf("BoundPerson(%s) = %+v, %v; want ErrNotFound", agentID, b, err)
				}
				return
			}
			want, perr := st.PersonByID(ctx, wantPerson)
			if err != nil || lerr != nil || perr != nil || !reflect.DeepEqual(b, lb) || !reflect.DeepEqual(p, &want.Person) {
				t.Fatalf("BoundPerson(%s) = %+v %+v, %v; want %+v %+v", agentID, b, p, err, lb, want)
			}
		}
		// Every column of the person is read: p1 has a value in each.
		if err := st.ExecSQL(ctx, `UPDATE persons SET email = 'p1@example.com', email_verified = ?, name = 'P One', tenant = 't1',
			groups_json = '["g"]', roles_json = '["r"]', is_admin = ?, inbox_channel = ?, password_hash = 'h', created_at = 5,
			updated_at = 6, disabled_at = 7 WHERE id = 'p1'`, true, true, true); err != nil {
			t.Fatal(err)
		}
		if p, _ := st.PersonByID(ctx, "p1"); p == nil || p.Email == "" || !p.Disabled || len(p.Roles) != 1 || !p.HasPassword {
			t.Fatalf("p1 = %+v", p)
		}
		b := agents.Binding{ID: "b1", Provider: "https://ap.example", AgentID: "aauth:A1@ap.example", PersonID: "p1",
			State: agents.BindingActive, Platform: "desktop", Device: "laptop", CreatedAt: at, LastSeenAt: at}
		if err := st.CreateBinding(ctx, b); err != nil {
			t.Fatal(err)
		}
		second := b
		second.ID, second.PersonID = "b2", "p2"
		if err := st.CreateBinding(ctx, second); !errors.Is(err, dberr.ErrConflict) {
			t.Fatalf("a second live binding of one agent: %v, want Conflict", err)
		}
		got, err := st.LiveBinding(ctx, b.Provider, b.AgentID)
		if err != nil || got.ID != "b1" || got.PersonID != "p1" || got.Platform != "desktop" || got.Device != "laptop" ||
			!got.CreatedAt.Equal(at) || got.State != agents.BindingActive || got.EndedAt != nil {
			t.Fatalf("LiveBinding = %+v, %v", got, err)
		}
		likeTwoReads(b.Provider, b.AgentID, "p1")
		likeTwoReads(b.Provider, "aauth:a1@ap.example", "")
		if _, err := st.LiveBinding(ctx, b.Provider, "aauth:a1@ap.example"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("case-folded identifier found a binding (PS-255): %v", err)
		}
		if _, err := st.PersonBinding(ctx, "p2", "b1"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("another person's binding: %v", err)
		}
		if err := st.TouchBinding(ctx, "b1", at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.PersonBinding(ctx, "p1", "b1"); got == nil || !got.LastSeenAt.Equal(at.Add(time.Hour)) {
			t.Fatalf("TouchBinding: %+v", got)
		}
		other := agents.Binding{ID: "b3", Provider: "https://ap.example", AgentID: "aauth:a1@ap.example", PersonID: "p1",
			State: agents.BindingActive, CreatedAt: at, LastSeenAt: at}
		if err := st.CreateBinding(ctx, other); err != nil {
			t.Fatal(err)
		}
		list, err := st.PersonBindings(ctx, "p1")
		if err != nil || len(list) != 2 || list[0].ID != "b1" {
			t.Fatalf("PersonBindings = %+v, %v (newest activity first)", list, err)
		}
		end := at.Add(2 * time.Hour)
		if err := st.EndBinding(ctx, "p2", "b1", agents.BindingRevoked, []agents.BindingState{agents.BindingActive}, end); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("another person ended the binding: %v", err)
		}
		if err := st.EndBinding(ctx, "p1", "b1", agents.BindingRevoked, []agents.BindingState{agents.BindingActive}, end); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.LiveBinding(ctx, b.Provider, b.AgentID); got == nil || got.State != agents.BindingRevoked || got.EndedAt == nil || !got.EndedAt.Equal(end) {
			t.Fatalf("revoked binding = %+v", got)
		}
		likeTwoReads(b.Provider, b.AgentID, "p1")
		if err := st.EndBinding(ctx, "p1", "b1", agents.BindingRevoked, []agents.BindingState{agents.BindingActive}, end); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("revoking twice: %v", err)
		}
		if err := st.EndBinding(ctx, "p1", "b1", agents.BindingUnbound, []agents.BindingState{agents.BindingActive, agents.BindingRevoked}, end); err != nil {
			t.Fatal(err)
		}
		if _, err := st.LiveBinding(ctx, b.Provider, b.AgentID); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("an unbound binding is still live: %v", err)
		}
		likeTwoReads(b.Provider, b.AgentID, "")
		if err := st.CreateBinding(ctx, second); err != nil {
			t.Fatalf("after unbinding, another person may bind the agent: %v", err)
		}
		likeTwoReads(b.Provider, b.AgentID, "p2")
	})

	t.Run("providers", func(t *testing.T) {
		if _, err := st.AgentProvider(ctx, "https://ap.example"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("unknown provider: %v", err)
		}
		if err := st.SawAgentProvider(ctx, "https://ap.example", agents.Display{Name: "AP"}, at); err != nil {
			t.Fatal(err)
		}
		if err := st.SetAgentProviderStatus(ctx, "https://ap.example", agents.ProviderBlocked, "p1", at); err != nil {
			t.Fatal(err)
		}
		// Seen again later: display values refresh, the operator's decision stays.
		if err := st.SawAgentProvider(ctx, "https://ap.example", agents.Display{Name: "AP 2", Description: "d", LogoURI: "https://ap.example/l.png"}, at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		p, err := st.AgentProvider(ctx, "https://ap.example")
		if err != nil || p.Status != agents.ProviderBlocked || p.Name != "AP 2" || p.LogoURI == "" || !p.FirstSeen.Equal(at) ||
			!p.LastSeen.Equal(at.Add(time.Minute)) {
			t.Fatalf("provider = %+v, %v", p, err)
		}
		if err := st.SetAgentProviderStatus(ctx, "https://pre.example", agents.ProviderAllowed, "p1", at); err != nil {
			t.Fatal(err)
		}
		ps, err := st.AgentProviders(ctx)
		if err != nil || len(ps) != 2 || ps[0].Issuer != "https://ap.example" {
			t.Fatalf("providers = %+v, %v", ps, err)
		}
	})

	t.Run("blocks", func(t *testing.T) {
		for range 2 { // idempotent
			if err := st.BlockProviderFor(ctx, "p1", "https://b.example", at); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.BlockProviderFor(ctx, "p1", "https://a.example", at); err != nil {
			t.Fatal(err)
		}
		if got, err := st.ProvidersBlockedBy(ctx, "p1"); err != nil || !slices.Equal(got, []string{"https://a.example", "https://b.example"}) {
			t.Fatalf("ProvidersBlockedBy = %v, %v", got, err)
		}
		if ok, _ := st.ProviderBlockedBy(ctx, "p2", "https://b.example"); ok {
			t.Fatal("a block leaked to another person")
		}
		if err := st.UnblockProviderFor(ctx, "p1", "https://b.example"); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.ProviderBlockedBy(ctx, "p1", "https://b.example"); ok || err != nil {
			t.Fatalf("unblocked provider still blocked: %v", err)
		}
		if ok, _ := st.ProviderBlockedBy(ctx, "p1", "https://a.example"); !ok {
			t.Fatal("block not recorded")
		}
	})
}
