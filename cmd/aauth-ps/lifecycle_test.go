package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/app"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// composedMission approves a mission for alice the way the approval path
// does: derived Authority Set, anchors in the blob, the approval evidence.
func composedMission(t *testing.T, a *app.App, personID string) *mission.Record {
	t.Helper()
	ctx := t.Context()
	appr := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:one@ap.example", PersonID: personID,
		Description: "# Board packet", Resources: []string{"https://rs.example"}}
	x, err := (&composition.Config{}).Compose(composition.Intake{Agent: appr.AgentSub,
		Proposal: mission.Proposal{Description: appr.Description, Resources: appr.Resources}, ContentDigest: "sha-256=:x:",
		ReceivedAt: time.Now()}, &appr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Attach(&appr); err != nil {
		t.Fatal(err)
	}
	var m *mission.Record
	err = a.Store.InTx(ctx, func(tx *store.Store) error {
		var err error
		if m, err = a.Missions.WithStore(tx).Create(ctx, appr); err != nil {
			return err
		}
		return composition.RecordApproval(ctx, tx, m, x, composition.Approval{Issuer: a.Config.Issuer, ProposalChain: "prop-1",
			Agent: evidence.Actor{Kind: "agent", ID: appr.AgentSub}, Approver: evidence.Actor{Kind: "person", ID: personID}}, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMissionsLifecycleCommands (issue 10): missions suspend, resume and
// revoke act as an administrator through the lifecycle service (state,
// log, evidence, by=cli); what the lifecycle refuses exits 1 and changes
// nothing; evidence export writes a bundle that evidence verify accepts
// offline, and a tampered copy fails naming the record — on both
// databases.
func TestMissionsLifecycleCommands(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		a := openApp(t, db)
		alice, err := a.Accounts.CreatePerson(t.Context(), account.NewPerson{Username: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		m := composedMission(t, a, alice.ID)

		code, out, errOut := runCmd(t, nil, append([]string{"missions", "suspend", m.S256, "--hold", "30m"}, cliConfig(db)...)...)
		if code != 0 || !strings.Contains(out, "active → suspended; new requests held until") || !strings.Contains(errOut, `"by":"cli"`) {
			t.Fatalf("suspend: %d\n%s\n%s", code, out, errOut)
		}
		rec, _ := a.Missions.Get(t.Context(), m.S256)
		if rec.Hold == nil || rec.Hold.ByKind != "admin" || rec.Hold.Until.Sub(rec.Hold.Since) != 30*time.Minute {
			t.Fatalf("after suspend: %+v", rec.Hold)
		}
		if code, _, errOut := runCmd(t, nil, append([]string{"missions", "suspend", m.S256}, cliConfig(db)...)...); code != 1 || !strings.Contains(errOut, "not allowed") {
			t.Fatalf("suspend twice: %d %s", code, errOut)
		}
		// Issue 14: the suspension is in the audit trail once, by the CLI;
		// the refused second one is not.
		if trail, err := a.Store.AuditEvents(t.Context(), 0, 10); err != nil || len(trail) != 1 || trail[0].Action != "mission.suspended" ||
			trail[0].Actor.Kind != audit.ActorCLI || trail[0].Target != "mission:"+m.S256 {
			t.Fatalf("audit trail: %+v %v", trail, err)
		}
		if code, _, _ := runCmd(t, nil, append([]string{"missions", "suspend", m.S256, "--hold", "48h"}, cliConfig(db)...)...); code != 1 {
			t.Fatalf("a hold past 24h: %d", code)
		}
		var resumed map[string]any
		cliJSON(t, db, &resumed, "missions", "resume", m.S256)
		if resumed["ok"] != true || resumed["to"] != "active" || resumed["released"] != float64(0) {
			t.Fatalf("resume: %v", resumed)
		}
		out = cli(t, db, "missions", "revoke", m.S256)
		if !strings.Contains(out, "active → terminated (revoked)") {
			t.Fatalf("revoke: %s", out)
		}
		if code, _, _ := runCmd(t, nil, append([]string{"missions", "revoke", "nope"}, cliConfig(db)...)...); code != 1 {
			t.Fatalf("revoke an unknown mission: %d", code)
		}
		entries, _ := a.Missions.Entries(t.Context(), m.S256)
		var kinds []string
		for _, e := range entries {
			kinds = append(kinds, e.Kind+"/"+e.Actor)
		}
		if got := strings.Join(kinds, ","); got != "suspension/admin,resumption/admin,termination/admin" {
			t.Fatalf("mission log: %s", got)
		}

		bundle := filepath.Join(t.TempDir(), "bundle.json")
		if out := cli(t, db, "evidence", "export", "--mission", m.S256, "--out", bundle); !strings.Contains(out, "wrote "+bundle+": 7 records") {
			t.Fatalf("export: %s", out)
		}
		if code, _, _ := runCmd(t, nil, append([]string{"evidence", "export", "--mission", m.S256, "--out", bundle}, cliConfig(db)...)...); code != 1 {
			t.Fatalf("export over an existing file: %d", code)
		}
		code, out, errOut = runCmd(t, nil, "evidence", "verify", bundle)
		if code != 0 || !strings.HasPrefix(out, "OK: 7 records, 3 signed chain heads") {
			t.Fatalf("verify the export: %d\n%s\n%s", code, out, errOut)
		}
		raw, _ := os.ReadFile(bundle)
		var b evidence.Bundle
		if err := json.Unmarshal(raw, &b); err != nil || b.ProposalChainID != "prop-1" || len(b.ProposalChain) != 3 {
			t.Fatalf("bundle: %v %s %d", err, b.ProposalChainID, len(b.ProposalChain))
		}
		// The export is indented: the record reads "to": "active".
		tampered := strings.Replace(string(b.Records[3]), `"to": "active"`, `"to": "terminated"`, 1)
		if tampered == string(b.Records[3]) {
			t.Fatalf("record 3 is not the resumption: %s", b.Records[3])
		}
		b.Records[3] = json.RawMessage(tampered)
		code, out, _ = runCmd(t, nil, "evidence", "verify", writeBundle(t, b))
		if code != 1 || !strings.HasPrefix(out, "FAILED at mission chain record 3:") {
			t.Fatalf("a tampered export: %d %s", code, out)
		}
	})
}
