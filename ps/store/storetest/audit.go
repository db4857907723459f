package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runAudit checks the audit trail (issue 14, migration 00024): events are
// listed newest first with their actor, target and detail, paged by id,
// an unknown actor kind is refused, and the retention purge deletes only
// older events.
func runAudit(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	at := time.Unix(1_800_000_000, 0).UTC()
	if list, err := st.AuditEvents(ctx, 0, 10); err != nil || len(list) != 0 {
		t.Fatalf("empty trail: %+v %v", list, err)
	}
	events := []audit.Event{
		{At: at, Actor: audit.Actor{Kind: audit.ActorCLI}, Action: "person.create", Target: "person:alice", Detail: map[string]any{"admin": true}},
		{At: at.Add(time.Hour), Actor: audit.Actor{Kind: audit.ActorAdmin, ID: "p1"}, Action: "person.disable", Target: "person:bob"},
		{At: at.Add(2 * time.Hour), Actor: audit.Actor{Kind: audit.ActorAPIToken, ID: "tok1"}, Action: "mission.suspend", Target: "mission:m1"},
	}
	for _, e := range events {
		if err := st.RecordAuditEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordAuditEvent(ctx, audit.Event{At: at, Actor: audit.Actor{Kind: "robot"}, Action: "x"}); err == nil {
		t.Fatal("an unknown actor kind was recorded")
	}
	list, err := st.AuditEvents(ctx, 0, 2)
	if err != nil || len(list) != 2 || list[0].Action != "mission.suspend" || list[0].Actor != events[2].Actor ||
		!list[0].At.Equal(events[2].At) || list[1].Target != "person:bob" || list[1].Detail != nil {
		t.Fatalf("first page: %+v %v", list, err)
	}
	next, err := st.AuditEvents(ctx, list[1].ID, 2)
	if err != nil || len(next) != 1 || next[0].Action != "person.create" || next[0].Actor.Kind != audit.ActorCLI ||
		next[0].Detail["admin"] != true {
		t.Fatalf("second page: %+v %v", next, err)
	}
	if n, err := st.PurgeAuditEvents(ctx, at.Add(90*time.Minute)); err != nil || n != 2 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if list, _ := st.AuditEvents(ctx, 0, 10); len(list) != 1 || list[0].Action != "mission.suspend" {
		t.Fatalf("after purge: %+v", list)
	}
}
