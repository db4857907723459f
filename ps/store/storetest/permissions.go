package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/permission"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runPermissions checks the remembered answers of the permission endpoint
// (PS-214): absent until saved, one per person × agent × action, a later
// answer replacing the earlier one, counted and listed per person
// (newest first), removed only under the person's own key, and only
// granted or denied.
func runPermissions(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1", "p2")
	at := time.Unix(1_800_000_000, 0).UTC()
	key := permission.RuleKey{PersonID: "p1", AgentIss: "https://ap.example", AgentSub: "aauth:a@ap.example", Action: "SendEmail"}
	if _, err := st.PermissionRule(ctx, key); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("rule before saving: %v, want not found", err)
	}
	if err := st.SavePermissionRule(ctx, permission.Rule{RuleKey: key, Permission: permission.Granted, DecidedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.SavePermissionRule(ctx, permission.Rule{RuleKey: key, Permission: permission.Denied, DecidedAt: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	other := key
	other.Action = "sendemail" // actions compare exactly
	if err := st.SavePermissionRule(ctx, permission.Rule{RuleKey: other, Permission: permission.Granted, DecidedAt: at}); err != nil {
		t.Fatal(err)
	}
	got, err := st.PermissionRule(ctx, key)
	if err != nil || got.Permission != permission.Denied || !got.DecidedAt.Equal(at.Add(time.Minute)) || got.RuleKey != key {
		t.Fatalf("rule = %+v, %v; want the later answer (denied)", got, err)
	}
	p2 := key
	p2.PersonID = "p2"
	if _, err := st.PermissionRule(ctx, p2); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("another person's rule: %v, want not found", err)
	}
	if n, err := st.CountPermissionRules(ctx, "p1"); err != nil || n != 2 {
		t.Fatalf("count p1 = %d, %v; want 2", n, err)
	}
	if n, err := st.CountPermissionRules(ctx, "p2"); err != nil || n != 0 {
		t.Fatalf("count p2 = %d, %v; want 0", n, err)
	}
	rules, err := st.PermissionRules(ctx, "p1")
	if err != nil || len(rules) != 2 || rules[0].RuleKey != key || rules[0].Permission != permission.Denied ||
		rules[1].RuleKey != other || !rules[1].DecidedAt.Equal(at) {
		t.Fatalf("rules of p1 = %+v, %v; want the denied SendEmail first, then sendemail", rules, err)
	}
	if rules, err := st.PermissionRules(ctx, "p2"); err != nil || len(rules) != 0 {
		t.Fatalf("rules of p2 = %+v, %v", rules, err)
	}
	// Removal only under the person's own key.
	if err := st.RemovePermissionRule(ctx, p2); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("removing a rule p2 does not have: %v, want not found", err)
	}
	if err := st.RemovePermissionRule(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := st.RemovePermissionRule(ctx, other); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("removing twice: %v, want not found", err)
	}
	if n, _ := st.CountPermissionRules(ctx, "p1"); n != 1 {
		t.Fatalf("count after removal = %d, want 1", n)
	}
	bad := key
	if err := st.SavePermissionRule(ctx, permission.Rule{RuleKey: bad, Permission: "maybe", DecidedAt: at}); err == nil {
		t.Fatal("a permission other than granted or denied was stored")
	}
}
