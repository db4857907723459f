package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Seeding (issue 12, "100k stored missions"): the load's own agents get
// their missions the way a real agent does, through the PS's mission
// endpoint and the person's approval; that costs seconds per hundred, so
// the background population is written straight into the database
// before the PS starts, in batched multi-row INSERTs through the store's
// raw-SQL door (store.ExecSQL; a tool, never a request path).
//
// What a seeded mission is: an approved, canonical (RFC 8785) blob
// naming its approver, agent, approval instant and two resources, stored
// under its s256 with the owner key a request probes (mission.OwnerKey),
// its person, a unique approved_at_ms, capabilities, and its first two
// mission-log entries (proposal, approval). One in ten is terminated.
// seedPerPerson missions per person, seedPerAgent per agent, so 100 000
// missions are spread over 1 000 persons and 10 000 agents. Seeded
// missions carry no Mission composition columns (like a mission approved
// before composition existed) and no evidence chain: nothing reads them
// but the indexes and the listings.
const (
	seedPerPerson = 100
	seedPerAgent  = 10
	// seedBatch rows per INSERT: 13 parameters a mission row, well under
	// PostgreSQL's 65 535 and SQLite's 32 766 parameters a statement.
	seedBatch = 500
	// seedAP is the seeded agents' provider (never contacted).
	seedAP = "https://ap.seed.test"
)

// seedMissions writes n approved missions for issuer, spread over n/100
// new persons, and returns how long it took.
func seedMissions(ctx context.Context, st *store.Store, issuer string, n int) (time.Duration, error) {
	start := time.Now()
	persons := (n + seedPerPerson - 1) / seedPerPerson
	run := make([]byte, 4)
	_, _ = rand.Read(run)
	tag := base64.RawURLEncoding.EncodeToString(run)
	ids := make([]string, persons)
	now := time.Now()
	for lo := 0; lo < persons; lo += seedBatch {
		hi := min(lo+seedBatch, persons)
		var q strings.Builder
		q.WriteString("INSERT INTO persons (id, username, name, created_at, updated_at) VALUES ")
		args := make([]any, 0, 5*(hi-lo))
		for i := lo; i < hi; i++ {
			id := make([]byte, 16)
			_, _ = rand.Read(id)
			ids[i] = base64.RawURLEncoding.EncodeToString(id)
			if i > lo {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?)")
			args = append(args, ids[i], strings.ToLower(fmt.Sprintf("seed-%s-%06d", tag, i)), fmt.Sprintf("Seeded person %d", i), now.Unix(), now.Unix())
		}
		if err := st.ExecSQL(ctx, q.String(), args...); err != nil {
			return 0, fmt.Errorf("seeding persons: %w", err)
		}
	}
	// Approval instants count back from now, one millisecond apart
	// (approved_at_ms is unique per PS, A-47), so the load's own
	// missions, approved later, never meet them.
	base := now.Add(-time.Duration(n+1000) * time.Millisecond)
	for lo := 0; lo < n; lo += seedBatch {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		hi := min(lo+seedBatch, n)
		var ms, logs strings.Builder
		ms.WriteString(`INSERT INTO missions (s256, blob, agent_iss, agent_sub, person_id, approved_at_ms, state,
			termination_reason, terminated_at, terminated_by, capabilities, owner_key, overlays) VALUES `)
		logs.WriteString("INSERT INTO mission_log (mission_s256, seq, at, kind, actor, summary) VALUES ")
		margs := make([]any, 0, 13*(hi-lo))
		largs := make([]any, 0, 12*(hi-lo))
		for i := lo; i < hi; i++ {
			at := base.Add(time.Duration(i) * time.Millisecond)
			sub := fmt.Sprintf("aauth:seed-%s-%d@ap.seed.test", tag, i/seedPerAgent)
			blob, err := mission.Blob{Approver: issuer, Agent: sub, ApprovedAt: mission.FormatTime(at),
				Description:       fmt.Sprintf("# Seeded mission %d\n\nRead the calendar and the inbox; draft replies for the person to send.", i),
				ApprovedResources: []string{"https://calendar.seed.test", "https://mail.seed.test"}}.Serialize()
			if err != nil {
				return 0, err
			}
			s256 := mission.S256(blob)
			state, reason, endedAt, endedBy := "active", any(nil), any(nil), any(nil)
			if i%10 == 9 {
				state, reason, endedAt, endedBy = "terminated", string(mission.ReasonRevoked), at.Add(time.Hour).Unix(), "person"
			}
			if i > lo {
				ms.WriteString(", ")
				logs.WriteString(", ")
			}
			ms.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			margs = append(margs, s256, blob, seedAP, sub, ids[i/seedPerPerson], at.UnixMilli(), state,
				reason, endedAt, endedBy, `["interaction"]`, mission.OwnerKey(seedAP, sub, s256), "[]")
			logs.WriteString("(?, 1, ?, 'proposal', 'agent', ?), (?, 2, ?, 'approval', 'person', ?)")
			largs = append(largs, s256, at.Unix(), "Read the calendar and the inbox.", s256, at.Unix(), "Approved.")
		}
		err := st.InTx(ctx, func(tx *store.Store) error {
			if err := tx.ExecSQL(ctx, ms.String(), margs...); err != nil {
				return err
			}
			return tx.ExecSQL(ctx, logs.String(), largs...)
		})
		if err != nil {
			return 0, fmt.Errorf("seeding missions: %w", err)
		}
	}
	if st.Dialect() == store.DialectPostgres {
		// Fresh statistics, as autovacuum would have them on a PS that
		// grew to this size over time.
		if err := st.ExecSQL(ctx, "ANALYZE"); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}
