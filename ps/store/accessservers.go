package store

import (
	"context"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/federation"
)

// The access servers aggregate (federation.Store, migration 00019).

type accessServerRow struct {
	Issuer        string `gorm:"primaryKey"`
	Status        string
	ReleaseClaims string
	BillingAt     *int64
	BillingBy     string
	UpdatedAt     int64 `gorm:"autoUpdateTime:false"`
	UpdatedBy     string
}

func (accessServerRow) TableName() string { return "access_servers" }

func (r accessServerRow) accessServer() federation.AccessServer {
	return federation.AccessServer{Issuer: r.Issuer, Status: federation.Status(r.Status), Claims: strings.Fields(r.ReleaseClaims),
		BillingAt: unixTimePtr(r.BillingAt), BillingBy: r.BillingBy, UpdatedAt: unixTime(r.UpdatedAt), UpdatedBy: r.UpdatedBy}
}

// AccessServer returns one access server, or ErrNotFound.
func (s *Store) AccessServer(ctx context.Context, issuer string) (*federation.AccessServer, error) {
	var r accessServerRow
	if err := s.stmt(ctx).Where("issuer = ?", issuer).Take(&r).Error; err != nil {
		return nil, wrap("get access server", err)
	}
	a := r.accessServer()
	return &a, nil
}

// AccessServers lists the known access servers by issuer.
func (s *Store) AccessServers(ctx context.Context) ([]federation.AccessServer, error) {
	var rows []accessServerRow
	if err := s.stmt(ctx).Order("issuer").Find(&rows).Error; err != nil {
		return nil, wrap("list access servers", err)
	}
	out := make([]federation.AccessServer, len(rows))
	for i, r := range rows {
		out[i] = r.accessServer()
	}
	return out, nil
}

// SetAccessServer records the operator's decision and release rule
// (keeping any billing relationship).
func (s *Store) SetAccessServer(ctx context.Context, a federation.AccessServer) error {
	return wrap("set access server", s.stmt(ctx).Exec(
		`INSERT INTO access_servers (issuer, status, release_claims, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (issuer) DO UPDATE SET status = excluded.status, release_claims = excluded.release_claims,
		 updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
		a.Issuer, string(a.Status), strings.Join(a.Claims, " "), a.UpdatedAt.Unix(), a.UpdatedBy).Error)
}

// SetAccessServerBilling records a billing relationship with issuer (an
// AS not known yet is recorded as seen).
func (s *Store) SetAccessServerBilling(ctx context.Context, issuer, by string, at time.Time) error {
	return wrap("set access server billing", s.stmt(ctx).Exec(
		`INSERT INTO access_servers (issuer, status, billing_at, billing_by, updated_at, updated_by) VALUES (?, 'seen', ?, ?, ?, ?)
		 ON CONFLICT (issuer) DO UPDATE SET billing_at = excluded.billing_at, billing_by = excluded.billing_by`,
		issuer, at.Unix(), by, at.Unix(), by).Error)
}

type releaseRow struct {
	AccessServer string
	Claim        string
	ReleasedAt   int64
	StoppedAt    *int64
}

// ClaimReleases lists a person's claim releases (and stops) by AS and claim.
func (s *Store) ClaimReleases(ctx context.Context, personID string) ([]federation.Release, error) {
	var rows []releaseRow
	err := s.stmt(ctx).Raw(
		`SELECT r.access_server, r.claim, r.released_at, st.stopped_at FROM access_server_releases r
		 LEFT JOIN access_server_release_stops st ON st.person_id = r.person_id AND st.access_server = r.access_server
		 WHERE r.person_id = ?
		 UNION ALL
		 SELECT st.access_server, '', st.stopped_at, st.stopped_at FROM access_server_release_stops st
		 WHERE st.person_id = ? AND NOT EXISTS (SELECT 1 FROM access_server_releases r WHERE r.person_id = st.person_id AND r.access_server = st.access_server)
		 ORDER BY 1, 2`, personID, personID).Scan(&rows).Error
	if err != nil {
		return nil, wrap("list claim releases", err)
	}
	out := make([]federation.Release, len(rows))
	for i, r := range rows {
		out[i] = federation.Release{PersonID: personID, AccessServer: r.AccessServer, Claim: r.Claim,
			ReleasedAt: unixTime(r.ReleasedAt), StoppedAt: unixTimePtr(r.StoppedAt)}
	}
	return out, nil
}

// RecordClaimRelease records (or refreshes) a released claim.
func (s *Store) RecordClaimRelease(ctx context.Context, personID, as, claim string, at time.Time) error {
	return wrap("record claim release", s.stmt(ctx).Exec(
		`INSERT INTO access_server_releases (person_id, access_server, claim, released_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (person_id, access_server, claim) DO UPDATE SET released_at = excluded.released_at`,
		personID, as, claim, at.Unix()).Error)
}

// StopClaimRelease records the person's stop on future release to as.
func (s *Store) StopClaimRelease(ctx context.Context, personID, as string, at time.Time) error {
	return wrap("stop claim release", s.stmt(ctx).Exec(
		`INSERT INTO access_server_release_stops (person_id, access_server, stopped_at) VALUES (?, ?, ?)
		 ON CONFLICT (person_id, access_server) DO NOTHING`, personID, as, at.Unix()).Error)
}

// ResumeClaimRelease removes the person's stop on as.
func (s *Store) ResumeClaimRelease(ctx context.Context, personID, as string) (bool, error) {
	res := s.stmt(ctx).Exec(`DELETE FROM access_server_release_stops WHERE person_id = ? AND access_server = ?`, personID, as)
	return res.RowsAffected > 0, wrap("resume claim release", res.Error)
}

// RecordPresentation records that person token jti went to as.
func (s *Store) RecordPresentation(ctx context.Context, jti, personID, as string, exp time.Time) error {
	return wrap("record presentation", s.stmt(ctx).Exec(
		`INSERT INTO access_server_presentations (jti, access_server, person_id, exp) VALUES (?, ?, ?, ?)
		 ON CONFLICT (jti, access_server) DO NOTHING`, jti, as, personID, exp.Unix()).Error)
}

// Presentations lists the access servers person token jti went to.
func (s *Store) Presentations(ctx context.Context, jti string) ([]string, error) {
	var out []string
	err := s.stmt(ctx).Raw(`SELECT access_server FROM access_server_presentations WHERE jti = ? ORDER BY access_server`, jti).Scan(&out).Error
	return out, wrap("list presentations", err)
}

// PurgePresentations deletes presentations of tokens expired before t.
func (s *Store) PurgePresentations(ctx context.Context, t time.Time) (int64, error) {
	res := s.stmt(ctx).Exec(`DELETE FROM access_server_presentations WHERE exp < ?`, t.Unix())
	return res.RowsAffected, wrap("purge presentations", res.Error)
}

var _ federation.Store = (*Store)(nil)

// AcquirePollLease takes or renews owner's lease on polling the access
// server for pending request id until until: granted when no one holds
// it, owner already does, or the holder's lease lapsed before now (issue
// 11: one poller per pending federated request across replicas). It runs
// to completion even if ctx is cancelled meanwhile (settled).
func (s *Store) AcquirePollLease(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	ctx, cancel := settled(ctx)
	defer cancel()
	res := s.stmt(ctx).Exec(
		`INSERT INTO federation_poll_leases (pending_id, owner, lease_until) VALUES (?, ?, ?)
		 ON CONFLICT (pending_id) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
		 WHERE federation_poll_leases.owner = excluded.owner OR federation_poll_leases.lease_until < ?`,
		id, owner, until.Unix(), now.Unix())
	return res.RowsAffected > 0, wrap("acquire poll lease", res.Error)
}

// ReleasePollLease gives owner's lease on id up (nothing when another
// replica holds it), whatever happens to ctx (settled).
func (s *Store) ReleasePollLease(ctx context.Context, id, owner string) error {
	ctx, cancel := settled(ctx)
	defer cancel()
	return wrap("release poll lease", s.stmt(ctx).Exec(
		`DELETE FROM federation_poll_leases WHERE pending_id = ? AND owner = ?`, id, owner).Error)
}
