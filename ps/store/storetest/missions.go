package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runMissions checks the missions aggregate: the stored bytes are the
// hashed bytes, approved_at is unique, the owner probe,
// one-way termination logged with it, and an ordered log under
// concurrent appends.
func runMissions(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1", "p2")
	at := time.UnixMilli(1_800_000_000_123).UTC()
	exp := at.Add(time.Hour).Truncate(time.Second)
	newRecord := func(agentSub, personID string, approvedAt time.Time) *mission.Record {
		a := mission.Approval{AgentIss: "https://ap.example", AgentSub: agentSub, PersonID: personID, Description: "# Trip",
			Resources: []string{"https://rs.example"}, ExpiresAt: &exp, Capabilities: []string{"interaction"}}
		var rec *mission.Record
		if _, err := a.Mint("https://ps.example", approvedAt, func(r *mission.Record) error { rec = r; return nil }); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	m1 := newRecord("aauth:A@ap.example", "p1", at)

	t.Run("create and read", func(t *testing.T) {
		if err := st.CreateMission(ctx, m1); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateMission(ctx, newRecord("aauth:B@ap.example", "p2", at)); !errors.Is(err, dberr.ErrConflict) {
			t.Fatalf("a second mission approved in the same millisecond: %v, want Conflict (A-47)", err)
		}
		got, err := st.Mission(ctx, m1.S256)
		if err != nil || string(got.Blob) != string(m1.Blob) || mission.S256(got.Blob) != m1.S256 || !got.ApprovedAt.Equal(at) ||
			got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || got.Terminated || len(got.Capabilities) != 1 || got.PersonID != "p1" {
			t.Fatalf("Mission = %+v, %v", got, err)
		}
		if _, err := st.Mission(ctx, "nope"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("unknown mission: %v", err)
		}
		if got, err := st.OwnedMission(ctx, mission.OwnerKey(m1.AgentIss, m1.AgentSub, m1.S256)); err != nil || got.S256 != m1.S256 {
			t.Fatalf("OwnedMission: %+v %v", got, err)
		}
		if _, err := st.OwnedMission(ctx, mission.OwnerKey(m1.AgentIss, "aauth:a@ap.example", m1.S256)); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("another agent's mission (PS-255): %v", err)
		}
	})

	t.Run("binding read with the mission", func(t *testing.T) {
		// A request that reads its mission and then its agent's binding
		// (store.ReadBindingAhead, issue 12 finding 67) gets each answer it
		// would get from the two reads, the binding's as of the mission
		// read, taken once.
		const provider = "https://ap.example"
		bind := func(id, agentID, personID string) {
			t.Helper()
			b := agents.Binding{ID: id, Provider: provider, AgentID: agentID, PersonID: personID, State: agents.BindingActive,
				Platform: "desktop", CreatedAt: at, LastSeenAt: at}
			if err := st.CreateBinding(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		unbind := func(id string) {
			t.Helper()
			Exec(t, st, `UPDATE agent_bindings SET state = 'unbound', ended_at = 1 WHERE id = ?`, id)
		}
		bound := func(ctx context.Context, agentID string) string {
			t.Helper()
			b, p, err := st.BoundPerson(ctx, provider, agentID)
			if errors.Is(err, dberr.ErrNotFound) {
				return "unbound"
			}
			if err != nil || b.AgentID != agentID || p.ID != b.PersonID {
				t.Fatalf("BoundPerson(%s) = %+v %+v, %v", agentID, b, p, err)
			}
			return b.ID + "/" + p.ID
		}
		key := func(agentSub string, m *mission.Record) string { return mission.OwnerKey(provider, agentSub, m.S256) }

		// The mission and a binding: both answers as the two reads give
		// them, the person's every field included (p2 has a value in each).
		Exec(t, st, `UPDATE persons SET email = 'p2@example.com', email_verified = ?, name = 'P Two', tenant = 't2',
			groups_json = '["g"]', roles_json = '["r"]', is_admin = ?, inbox_channel = ?, password_hash = 'h', created_at = 5,
			updated_at = 6, disabled_at = 7 WHERE id = 'p2'`, true, true, true)
		bind("ra1", m1.AgentSub, "p2")
		plain, err := st.OwnedMission(ctx, key(m1.AgentSub, m1))
		if err != nil {
			t.Fatal(err)
		}
		wantB, wantP, err := st.BoundPerson(ctx, provider, m1.AgentSub)
		if err != nil {
			t.Fatal(err)
		}
		ahead := store.ReadBindingAhead(ctx, provider, m1.AgentSub)
		if got, err := st.OwnedMission(ahead, key(m1.AgentSub, m1)); err != nil || !reflect.DeepEqual(got, plain) {
			t.Fatalf("OwnedMission reading ahead = %+v, %v; want %+v", got, err, plain)
		}
		unbind("ra1") // after the mission read: the request still sees the binding it read, once
		if b, p, err := st.BoundPerson(ahead, provider, m1.AgentSub); err != nil || !reflect.DeepEqual(b, wantB) || !reflect.DeepEqual(p, wantP) {
			t.Fatalf("BoundPerson after reading ahead = %+v %+v, %v; want %+v %+v", b, p, err, wantB, wantP)
		}
		if got := bound(ahead, m1.AgentSub); got != "unbound" {
			t.Fatalf("BoundPerson the second time = %s; want the database's answer, unbound", got)
		}

		// Another agent's mission (PS-196) and a binding: not found, and
		// the binding still read ahead.
		bind("ra2", "aauth:RA2@ap.example", "p1")
		ahead = store.ReadBindingAhead(ctx, provider, "aauth:RA2@ap.example")
		if _, err := st.OwnedMission(ahead, key("aauth:RA2@ap.example", m1)); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("another agent's mission reading ahead: %v, want ErrNotFound", err)
		}
		unbind("ra2")
		if got := bound(ahead, "aauth:RA2@ap.example"); got != "ra2/p1" {
			t.Fatalf("BoundPerson after a refused mission read = %s, want ra2/p1 as read ahead", got)
		}

		// The mission of an agent with no binding: unbound as read ahead,
		// even once a binding appears.
		ahead = store.ReadBindingAhead(ctx, provider, m1.AgentSub)
		if _, err := st.OwnedMission(ahead, key(m1.AgentSub, m1)); err != nil {
			t.Fatal(err)
		}
		bind("ra3", m1.AgentSub, "p2")
		if got := bound(ahead, m1.AgentSub); got != "unbound" {
			t.Fatalf("BoundPerson read ahead of a binding = %s, want unbound", got)
		}
		if got := bound(ahead, m1.AgentSub); got != "ra3/p2" {
			t.Fatalf("BoundPerson the second time = %s, want ra3/p2", got)
		}

		// Another agent's BoundPerson and a read inside a transaction do
		// not use it.
		bind("ra4", "aauth:RA4@ap.example", "p1")
		if got := bound(store.ReadBindingAhead(ctx, provider, m1.AgentSub), "aauth:RA4@ap.example"); got != "ra4/p1" {
			t.Fatalf("BoundPerson of another agent = %s", got)
		}
		ahead = store.ReadBindingAhead(ctx, provider, m1.AgentSub)
		if err := st.InTx(ctx, func(tx *store.Store) error {
			_, err := tx.OwnedMission(ahead, key(m1.AgentSub, m1))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		unbind("ra3")
		if got := bound(ahead, m1.AgentSub); got != "unbound" {
			t.Fatalf("BoundPerson after a mission read in a transaction = %s, want the database's answer", got)
		}
		ahead = store.ReadBindingAhead(ctx, provider, "aauth:RA4@ap.example")
		if _, err := st.OwnedMission(ahead, key("aauth:RA4@ap.example", m1)); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatal(err)
		}
		unbind("ra4")
		if err := st.InTx(ctx, func(tx *store.Store) error {
			if _, _, err := tx.BoundPerson(ahead, provider, "aauth:RA4@ap.example"); !errors.Is(err, dberr.ErrNotFound) {
				t.Errorf("BoundPerson in a transaction = %v; want the transaction's answer, unbound", err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := bound(ahead, "aauth:RA4@ap.example"); got != "ra4/p1" {
			t.Fatalf("BoundPerson after the transaction = %s; want ra4/p1, still waiting", got)
		}
	})

	t.Run("revocations read with the mission", func(t *testing.T) {
		// An auth token request's revocation checks (the resource token,
		// PS-269; the presented token, PS-266) read with its mission
		// (store.ReadRevocationsAhead, finding 68): FirstRevoked answers as
		// of the mission read, for exactly the tokens read, once.
		const provider = "https://ap.example"
		revoke := func(iss, jti string) {
			t.Helper()
			Exec(t, st, `INSERT INTO revoked_tokens (iss, jti, exp, revoked_at) VALUES (?, ?, ?, ?)`, iss, jti, int64(4_000_000_000), int64(1))
		}
		first := func(ctx context.Context, keys [][2]string) int {
			t.Helper()
			i, err := st.FirstRevoked(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			return i
		}
		key := mission.OwnerKey(provider, m1.AgentSub, m1.S256)
		// readAhead reads the mission, with keys' revocations if any.
		readAhead := func(keys [][2]string) context.Context {
			t.Helper()
			ahead := store.ReadBindingAhead(ctx, provider, m1.AgentSub)
			store.ReadRevocationsAhead(ahead, keys)
			if _, err := st.OwnedMission(ahead, key); err != nil {
				t.Fatal(err)
			}
			return ahead
		}
		keys := [][2]string{{"https://rs.example", "rt-1"}, {"https://ps.example", "pt-1"}}
		revoke("https://ps.example", "pt-1")
		ahead := readAhead(keys)
		revoke("https://rs.example", "rt-1") // after the mission read
		if got := first(ahead, [][2]string{keys[1], keys[0]}); got != 0 {
			t.Fatalf("FirstRevoked of other tokens (the same, reordered) = %d, want 0 as the database has it", got)
		}
		if got := first(ahead, keys); got != 1 {
			t.Fatalf("FirstRevoked read ahead = %d, want 1: only pt-1 was revoked at the mission read", got)
		}
		if got := first(ahead, keys); got != 0 {
			t.Fatalf("FirstRevoked the second time = %d, want 0 as the database has it", got)
		}

		// None revoked: -1, read ahead.
		fresh := [][2]string{{"https://rs.example", "rt-2"}, {"https://ps.example", "pt-2"}}
		ahead = readAhead(fresh)
		revoke("https://ps.example", "pt-2")
		if got := first(ahead, fresh); got != -1 {
			t.Fatalf("FirstRevoked read ahead = %d, want -1", got)
		}

		// Asked for after the mission read, or inside a transaction, or
		// with no read-ahead: read from the database.
		ahead = readAhead(nil)
		store.ReadRevocationsAhead(ahead, fresh)
		if got := first(ahead, fresh); got != 1 {
			t.Fatalf("FirstRevoked asked for after the mission read = %d, want 1", got)
		}
		third := [][2]string{{"https://rs.example", "rt-3"}, {"https://ps.example", "pt-3"}}
		ahead = readAhead(third)
		revoke("https://rs.example", "rt-3")
		if err := st.InTx(ctx, func(tx *store.Store) error {
			if i, err := tx.FirstRevoked(ahead, third); err != nil || i != 0 {
				t.Errorf("FirstRevoked in a transaction = %d, %v; want the transaction's answer, 0", i, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := first(ahead, third); got != -1 {
			t.Fatalf("FirstRevoked after the transaction = %d, want -1, still waiting", got)
		}
		if got := first(ctx, third); got != 0 {
			t.Fatalf("FirstRevoked without a read-ahead = %d, want 0", got)
		}
	})

	t.Run("scopes read with the mission", func(t *testing.T) {
		// The scopes an auth token request's decision reads (the person's
		// grants to the agent at the resource) read with its mission
		// (store.ReadScopesAhead, finding 69): GrantedScopes answers as of
		// the mission read, for exactly that grant, once, as the read
		// alone would have answered then.
		const provider, rs = "https://ap.example", "https://rs.example"
		agent := m1.AgentSub
		key := mission.OwnerKey(provider, agent, m1.S256)
		grant := func(resource string, scopes ...string) {
			t.Helper()
			if err := st.GrantScopes(ctx, "p1", provider, agent, resource, scopes, at); err != nil {
				t.Fatal(err)
			}
		}
		granted := func(ctx context.Context, resource string) []string {
			t.Helper()
			scopes, err := st.GrantedScopes(ctx, "p1", provider, agent, resource)
			if err != nil {
				t.Fatal(err)
			}
			return scopes
		}
		readAhead := func(resource string) context.Context {
			t.Helper()
			ahead := store.ReadBindingAhead(ctx, provider, agent)
			store.ReadScopesAhead(ahead, "p1", provider, agent, resource)
			if _, err := st.OwnedMission(ahead, key); err != nil {
				t.Fatal(err)
			}
			return ahead
		}

		// Scopes of any characters (they are whatever was granted).
		grant(rs, "write", "read", "a b", `q"uote`, "ü", "Z")
		want := granted(ctx, rs)
		if !slices.Equal(want, []string{"Z", "a b", `q"uote`, "read", "write", "ü"}) {
			t.Fatalf("GrantedScopes = %q, want them in byte order", want)
		}
		ahead := readAhead(rs)
		grant(rs, "admin") // after the mission read
		if got := granted(ahead, rs); !reflect.DeepEqual(got, want) {
			t.Fatalf("GrantedScopes read ahead = %q, want %q as at the mission read", got, want)
		}
		if got := granted(ahead, rs); !slices.Contains(got, "admin") || len(got) != len(want)+1 {
			t.Fatalf("GrantedScopes the second time = %q, want the database's, with admin", got)
		}

		// None granted: none, as the read alone answers.
		const other = "https://other.example"
		if got := granted(ctx, other); got != nil {
			t.Fatalf("GrantedScopes of no grant = %#v, want nil", got)
		}
		ahead = readAhead(other)
		grant(other, "read")
		if got := granted(ahead, other); got != nil {
			t.Fatalf("GrantedScopes read ahead of a grant = %#v, want nil", got)
		}

		// Another resource's grant, and a read inside a transaction, read
		// the database; the answer still waits for its own grant.
		ahead = readAhead(rs)
		grant(rs, "delete")
		if got := granted(ahead, other); !slices.Equal(got, []string{"read"}) {
			t.Fatalf("GrantedScopes of another resource = %q", got)
		}
		if err := st.InTx(ctx, func(tx *store.Store) error {
			if got, err := tx.GrantedScopes(ahead, "p1", provider, agent, rs); err != nil || !slices.Contains(got, "delete") {
				t.Errorf("GrantedScopes in a transaction = %q, %v; want the transaction's answer, with delete", got, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := granted(ahead, rs); slices.Contains(got, "delete") || !slices.Contains(got, "admin") {
			t.Fatalf("GrantedScopes after the transaction = %q, want the read-ahead's, without delete", got)
		}
	})

	m2 := newRecord("aauth:A@ap.example", "p1", at.Add(time.Millisecond))
	m3 := newRecord("aauth:C@ap.example", "p2", at.Add(2*time.Millisecond))
	t.Run("lists", func(t *testing.T) {
		for _, m := range []*mission.Record{m2, m3} {
			if err := st.CreateMission(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := st.PersonMissions(ctx, "p1"); err != nil || len(got) != 2 || got[0].S256 != m2.S256 {
			t.Fatalf("PersonMissions = %d, %v (newest first)", len(got), err)
		}
		if got, err := st.AllMissions(ctx, 2); err != nil || len(got) != 2 || got[0].S256 != m3.S256 {
			t.Fatalf("AllMissions(2) = %d, %v", len(got), err)
		}
		ids, err := st.ActiveMissionsOf(ctx, "https://ap.example", "aauth:A@ap.example", "p1")
		if err != nil || len(ids) != 2 {
			t.Fatalf("ActiveMissionsOf = %v, %v", ids, err)
		}
	})

	t.Run("termination is one-way and logged with it", func(t *testing.T) {
		end := at.Add(time.Minute).Truncate(time.Second) // stored in seconds
		entry := mission.Entry{At: end, Kind: "termination", Actor: "person", Summary: "Mission ended: revoked."}
		if ok, err := st.TerminateMission(ctx, m2.S256, mission.ReasonRevoked, "person", end, entry); !ok || err != nil {
			t.Fatalf("TerminateMission = %v, %v", ok, err)
		}
		if ok, err := st.TerminateMission(ctx, m2.S256, mission.ReasonCompleted, "admin", end.Add(time.Minute), entry); ok || err != nil {
			t.Fatalf("terminating again = %v, %v; want false, nil", ok, err)
		}
		got, _ := st.Mission(ctx, m2.S256)
		if !got.Terminated || got.Reason != mission.ReasonRevoked || got.EndedBy != "person" || got.EndedAt == nil || !got.EndedAt.Equal(end) {
			t.Fatalf("terminated mission = %+v", got)
		}
		log, err := st.MissionLog(ctx, m2.S256)
		if err != nil || len(log) != 1 || log[0].Kind != "termination" || !log[0].At.Equal(end) {
			t.Fatalf("log after termination = %+v, %v", log, err)
		}
		if ids, _ := st.ActiveMissionsOf(ctx, "https://ap.example", "aauth:A@ap.example", "p1"); len(ids) != 1 || ids[0] != m1.S256 {
			t.Fatalf("active missions after termination = %v", ids)
		}
	})

	t.Run("log appends in order with exact bytes", func(t *testing.T) {
		// Concurrent appends are exercised through ps/missionflow
		// (TestLogSequenceUnderConcurrentAppends, both databases).
		body := []byte(`{"action":"update","description":"x"}`)
		for _, e := range []mission.Entry{{At: at, Kind: "proposal", Actor: "agent", Summary: "p"},
			{At: at, Kind: "update", Actor: "agent", Summary: "u", Body: body, Digest: mission.S256(body)}} {
			if err := st.AppendMissionLog(ctx, m1.S256, e); err != nil {
				t.Fatal(err)
			}
		}
		log, err := st.MissionLog(ctx, m1.S256)
		if err != nil || len(log) != 2 || log[0].Seq != 1 || log[1].Seq != 2 || string(log[1].Body) != string(body) ||
			log[1].Digest != mission.S256(body) || log[0].Digest != "" || !log[0].At.Equal(at.Truncate(time.Second)) {
			t.Fatalf("log = %+v, %v", log, err)
		}
	})
}
