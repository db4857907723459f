package store

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
)

// Passkeys and their ceremonies (see accounts.go).

type credentialRow struct {
	ID                string `gorm:"column:id;primaryKey"`
	PersonID          string `gorm:"column:person_id"`
	PublicKey         []byte `gorm:"column:public_key"`
	AttestationType   string `gorm:"column:attestation_type"`
	AttestationFormat string `gorm:"column:attestation_format"`
	AAGUID            string `gorm:"column:aaguid"`
	SignCount         int64  `gorm:"column:sign_count"`
	Transports        string `gorm:"column:transports"`
	BackupEligible    bool   `gorm:"column:backup_eligible"`
	BackupState       bool   `gorm:"column:backup_state"`
	Name              string `gorm:"column:name"`
	CreatedAt         int64  `gorm:"column:created_at"`
	LastUsedAt        *int64 `gorm:"column:last_used_at"`
}

func (credentialRow) TableName() string { return "webauthn_credentials" }

// Credentials lists a person's passkeys, oldest first.
func (s *Store) Credentials(ctx context.Context, personID string) ([]account.Credential, error) {
	var rs []credentialRow
	if err := s.stmt(ctx).Where("person_id = ?", personID).Order("created_at, id").Find(&rs).Error; err != nil {
		return nil, wrap("list passkeys", err)
	}
	out := make([]account.Credential, 0, len(rs))
	for _, r := range rs {
		out = append(out, account.Credential{
			Passkey: account.Passkey{ID: r.ID, Name: r.Name, AAGUID: r.AAGUID, Transports: decodeList(r.Transports),
				BackupEligible: r.BackupEligible, BackupState: r.BackupState, SignCount: uint32(r.SignCount),
				CreatedAt: unixTime(r.CreatedAt), LastUsedAt: unixTimePtr(r.LastUsedAt)},
			PersonID: r.PersonID, PublicKey: r.PublicKey, AttestationType: r.AttestationType, AttestationFormat: r.AttestationFormat,
		})
	}
	return out, nil
}

// InsertCredential stores a passkey; a known credential id is ErrConflict.
func (s *Store) InsertCredential(ctx context.Context, c account.Credential) error {
	r := credentialRow{ID: c.ID, PersonID: c.PersonID, PublicKey: c.PublicKey, AttestationType: c.AttestationType,
		AttestationFormat: c.AttestationFormat, AAGUID: c.AAGUID, SignCount: int64(c.SignCount),
		Transports: encodeList(c.Transports), BackupEligible: c.BackupEligible, BackupState: c.BackupState,
		Name: c.Name, CreatedAt: c.CreatedAt.Unix(), LastUsedAt: unixPtr(c.LastUsedAt)}
	return wrap("store passkey", s.stmt(ctx).Create(&r).Error)
}

// DeleteCredential removes a person's passkey; it reports whether there
// was one.
func (s *Store) DeleteCredential(ctx context.Context, personID, id string) (bool, error) {
	res := s.stmt(ctx).Exec(`DELETE FROM webauthn_credentials WHERE id = ? AND person_id = ?`, id, personID)
	return res.RowsAffected == 1, wrap("delete passkey", res.Error)
}

// AdvanceSignCount moves a passkey's counter forward only, also against a
// concurrent login with the same credential.
func (s *Store) AdvanceSignCount(ctx context.Context, personID, id string, count uint32, backupState bool, at time.Time) (bool, error) {
	n := int64(count)
	res := s.stmt(ctx).Exec(`UPDATE webauthn_credentials SET sign_count = ?, backup_state = ?, last_used_at = ?
		WHERE id = ? AND person_id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))`,
		n, backupState, at.Unix(), id, personID, n, n)
	return res.RowsAffected == 1, wrap("update passkey", res.Error)
}

// InsertCeremony stores a ceremony in progress.
func (s *Store) InsertCeremony(ctx context.Context, c account.Ceremony) error {
	return wrap("begin passkey ceremony", s.stmt(ctx).Exec(
		`INSERT INTO webauthn_ceremonies (id, person_id, kind, data, expires_at) VALUES (?, ?, ?, ?, ?)`,
		c.ID, nullIfEmpty(c.PersonID), c.Kind, c.Data, c.ExpiresAt.Unix()).Error)
}

// TakeCeremony deletes a ceremony and returns it, or ErrNotFound.
func (s *Store) TakeCeremony(ctx context.Context, id string) (*account.Ceremony, error) {
	var rows []struct {
		PersonID  *string `gorm:"column:person_id"`
		Kind      string  `gorm:"column:kind"`
		Data      string  `gorm:"column:data"`
		ExpiresAt int64   `gorm:"column:expires_at"`
	}
	// A write returning rows holds the writer turn across its reading.
	ctx, release, err := s.queueWriter(ctx)
	if err != nil {
		return nil, wrap("finish passkey ceremony", err)
	}
	err = s.stmt(ctx).Raw(`DELETE FROM webauthn_ceremonies WHERE id = ? RETURNING person_id, kind, data, expires_at`, id).
		Scan(&rows).Error
	release()
	if err != nil {
		return nil, wrap("finish passkey ceremony", err)
	}
	if len(rows) != 1 {
		return nil, &Error{Op: "finish passkey ceremony", Kind: ErrNotFound}
	}
	r := rows[0]
	return &account.Ceremony{ID: id, PersonID: emptyIfNull(r.PersonID), Kind: r.Kind, Data: r.Data, ExpiresAt: unixTime(r.ExpiresAt)}, nil
}
