package store

import (
	"context"
	"fmt"
	"time"
)

// Signing key states.
const (
	KeyStateActive  = "active"
	KeyStateRetired = "retired"
)

// SigningKeyRow is one of the PS's own signing keys. Times are stored as
// unix seconds, so they round-trip truncated to the second, in UTC.
type SigningKeyRow struct {
	KID           string // RFC 7638 thumbprint
	Alg           string // fully-specified JOSE alg: "Ed25519" | "ES256"
	PublicJWK     []byte // the public JWK as published (JSON)
	PrivateSealed []byte // sealed PKCS#8 private key (ps/keys.Sealer)
	State         string // KeyStateActive | KeyStateRetired
	CreatedAt     time.Time
	ActivatedAt   time.Time
	RetiredAt     *time.Time
	PublishUntil  *time.Time // retired keys stay in the JWKS until then
}

// signingKeyModel is the gorm mapping of signing_keys. Field names avoid
// gorm's CreatedAt/UpdatedAt conventions on purpose.
type signingKeyModel struct {
	KID           string `gorm:"column:kid;primaryKey"`
	Alg           string `gorm:"column:alg"`
	PublicJWK     string `gorm:"column:public_jwk"`
	PrivateSealed []byte `gorm:"column:private_sealed"`
	State         string `gorm:"column:state"`
	Created       int64  `gorm:"column:created_at"`
	Activated     int64  `gorm:"column:activated_at"`
	Retired       *int64 `gorm:"column:retired_at"`
	PublishUntil  *int64 `gorm:"column:publish_until"`
}

func (signingKeyModel) TableName() string { return "signing_keys" }

func unixPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	u := t.Unix()
	return &u
}

func timePtr(u *int64) *time.Time {
	if u == nil {
		return nil
	}
	t := time.Unix(*u, 0).UTC()
	return &t
}

// InsertSigningKey stores a new key. ErrConflict if the kid exists or if
// the row is active while another key is active.
func (s *Store) InsertSigningKey(ctx context.Context, k SigningKeyRow) error {
	if k.KID == "" || k.Alg == "" || len(k.PublicJWK) == 0 || len(k.PrivateSealed) == 0 {
		return fmt.Errorf("store: insert signing key: kid, alg, public JWK and sealed private key are required")
	}
	if k.State != KeyStateActive && k.State != KeyStateRetired {
		return fmt.Errorf("store: insert signing key: unknown state %q", k.State)
	}
	m := signingKeyModel{
		KID: k.KID, Alg: k.Alg, PublicJWK: string(k.PublicJWK), PrivateSealed: k.PrivateSealed,
		State: k.State, Created: k.CreatedAt.Unix(), Activated: k.ActivatedAt.Unix(),
		Retired: unixPtr(k.RetiredAt), PublishUntil: unixPtr(k.PublishUntil),
	}
	return wrap("insert signing key", s.stmt(ctx).Create(&m).Error)
}

// ListSigningKeys returns every key, newest first (ties: the active key
// first, then by kid).
func (s *Store) ListSigningKeys(ctx context.Context) ([]SigningKeyRow, error) {
	var ms []signingKeyModel
	err := s.stmt(ctx).
		Order("created_at DESC").
		Order("CASE WHEN state = 'active' THEN 0 ELSE 1 END").
		Order("kid").
		Find(&ms).Error
	if err != nil {
		return nil, wrap("list signing keys", err)
	}
	out := make([]SigningKeyRow, 0, len(ms))
	for _, m := range ms {
		out = append(out, SigningKeyRow{
			KID: m.KID, Alg: m.Alg, PublicJWK: []byte(m.PublicJWK), PrivateSealed: m.PrivateSealed,
			State:     m.State,
			CreatedAt: time.Unix(m.Created, 0).UTC(), ActivatedAt: time.Unix(m.Activated, 0).UTC(),
			RetiredAt: timePtr(m.Retired), PublishUntil: timePtr(m.PublishUntil),
		})
	}
	return out, nil
}

// RetireActiveKeys marks every active key retired at retiredAt, to stay
// published until publishUntil.
func (s *Store) RetireActiveKeys(ctx context.Context, retiredAt, publishUntil time.Time) error {
	err := s.stmt(ctx).Exec(
		`UPDATE signing_keys SET state = ?, retired_at = ?, publish_until = ? WHERE state = ?`,
		KeyStateRetired, retiredAt.Unix(), publishUntil.Unix(), KeyStateActive).Error
	return wrap("retire signing keys", err)
}

// DeleteSigningKey deletes a key. ErrNotFound if there is none with kid.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	res := s.stmt(ctx).Exec(`DELETE FROM signing_keys WHERE kid = ?`, kid)
	if res.Error != nil {
		return wrap("delete signing key", res.Error)
	}
	if res.RowsAffected == 0 {
		return &Error{Op: "delete signing key", Kind: ErrNotFound}
	}
	return nil
}
