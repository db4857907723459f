package account_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// softAuthenticator is an in-process platform authenticator holding one
// discoverable ES256 credential: it answers navigator.credentials.create
// with a "none" attestation and navigator.credentials.get with a signed
// assertion, as a browser would post them.
type softAuthenticator struct {
	t           *testing.T
	origin      string
	key         *ecdsa.PrivateKey
	credID      []byte
	userHandle  []byte
	rpID        string
	count       uint32 // signature counter; stays 0 when counterless
	counterless bool
	noUV        bool // assert user presence only
	flags       byte // extra flags, e.g. backup eligible/state
}

// WebAuthn authenticator-data flags.
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

func newSoftAuthenticator(t *testing.T) *softAuthenticator {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return &softAuthenticator{t: t, origin: testOrigin, key: k, credID: account.RandomBytes(32)}
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (a *softAuthenticator) clientData(typ, challenge string) []byte {
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	require.NoError(a.t, err)
	return b
}

func (a *softAuthenticator) authData(flags byte, attested []byte) []byte {
	rp := sha256.Sum256([]byte(a.rpID))
	d := append(rp[:], flags|a.flags)
	d = binary.BigEndian.AppendUint32(d, a.count)
	return append(d, attested...)
}

func post(t *testing.T, body []byte) *http.Request {
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, testOrigin+"/passkeys/finish", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// create answers creation options (the JSON of BeginPasskeyRegistration).
func (a *softAuthenticator) create(options []byte) *http.Request {
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
			AuthenticatorSelection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	require.NoError(a.t, json.Unmarshal(options, &o))
	require.Equal(a.t, "required", o.PublicKey.AuthenticatorSelection.ResidentKey)
	require.Equal(a.t, "required", o.PublicKey.AuthenticatorSelection.UserVerification)
	a.rpID = o.PublicKey.RP.ID
	uh, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	require.NoError(a.t, err)
	a.userHandle = uh

	cose, err := webauthncbor.Marshal(map[int64]any{
		1: int64(2), 3: int64(-7), -1: int64(1), // kty EC2, alg ES256, crv P-256
		-2: a.key.X.FillBytes(make([]byte, 32)),
		-3: a.key.Y.FillBytes(make([]byte, 32)),
	})
	require.NoError(a.t, err)
	attested := make([]byte, 16) // AAGUID: zero
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.credID)))
	attested = append(attested, a.credID...)
	attested = append(attested, cose...)
	obj, err := webauthncbor.Marshal(map[string]any{
		"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(flagUP|flagUV|flagAT, attested),
	})
	require.NoError(a.t, err)
	body, err := json.Marshal(map[string]any{
		"id": b64url(a.credID), "rawId": b64url(a.credID), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"attestationObject": b64url(obj),
			"clientDataJSON":    b64url(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"transports":        []string{"internal", "hybrid"},
		},
	})
	require.NoError(a.t, err)
	return post(a.t, body)
}

// get answers request options (the JSON of BeginPasskeyLogin) and returns
// the body, so tests can replay it.
func (a *softAuthenticator) get(options []byte) []byte {
	var o struct {
		PublicKey struct {
			Challenge        string `json:"challenge"`
			RPID             string `json:"rpId"`
			UserVerification string `json:"userVerification"`
			AllowCredentials []any  `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	require.NoError(a.t, json.Unmarshal(options, &o))
	require.Equal(a.t, a.rpID, o.PublicKey.RPID)
	require.Equal(a.t, "required", o.PublicKey.UserVerification)
	require.Empty(a.t, o.PublicKey.AllowCredentials, "discoverable: no allow list")
	if !a.counterless {
		a.count++
	}
	flags := byte(flagUP | flagUV)
	if a.noUV {
		flags = flagUP
	}
	ad := a.authData(flags, nil)
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	require.NoError(a.t, err)
	body, err := json.Marshal(map[string]any{
		"id": b64url(a.credID), "rawId": b64url(a.credID), "type": "public-key",
		"response": map[string]any{
			"authenticatorData": b64url(ad),
			"clientDataJSON":    b64url(cd),
			"signature":         b64url(sig),
			"userHandle":        b64url(a.userHandle),
		},
	})
	require.NoError(a.t, err)
	return body
}

// register runs a whole registration ceremony for person.
func register(t *testing.T, s *account.Service, personID string, a *softAuthenticator, name string) {
	t.Helper()
	ctx := t.Context()
	id, opts, err := s.BeginPasskeyRegistration(ctx, personID)
	require.NoError(t, err)
	require.NoError(t, s.FinishPasskeyRegistration(ctx, personID, id, name, a.create(opts)))
}

// login runs a whole login ceremony.
func login(t *testing.T, s *account.Service, a *softAuthenticator) (*account.Person, error) {
	t.Helper()
	id, opts, err := s.BeginPasskeyLogin(t.Context())
	require.NoError(t, err)
	return s.FinishPasskeyLogin(t.Context(), id, post(t, a.get(opts)))
}

func TestPasskeyRegistrationAndLogin(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st)
		ctx := t.Context()
		alice := mustPerson(t, s, "alice", false)
		bob := mustPerson(t, s, "bob", false)
		a := newSoftAuthenticator(t)
		a.flags = flagBE | flagBS // a synced passkey

		id, opts, err := s.BeginPasskeyRegistration(ctx, alice.ID)
		require.NoError(t, err)
		assert.True(t, account.WellFormedToken(id))
		assert.Contains(t, string(opts), `"rp":{"name":"AAuth Person Server","id":"ps.example.test"}`)
		assert.Contains(t, string(opts), `"name":"alice"`)
		clk.Advance(time.Minute)
		require.NoError(t, s.FinishPasskeyRegistration(ctx, alice.ID, id, "  Alice's phone ", a.create(opts)))
		assert.Equal(t, []byte(alice.ID), a.userHandle, "the user handle is the person ID")
		assert.Zero(t, countRows(t, st, "webauthn_ceremonies", ""), "the ceremony is used up")

		keys, err := s.Passkeys(ctx, alice.ID)
		require.NoError(t, err)
		require.Len(t, keys, 1)
		pk := keys[0]
		assert.Equal(t, b64url(a.credID), pk.ID)
		assert.Equal(t, "Alice's phone", pk.Name)
		assert.Equal(t, "00000000-0000-0000-0000-000000000000", pk.AAGUID)
		assert.Equal(t, []string{"internal", "hybrid"}, pk.Transports)
		assert.True(t, pk.BackupEligible)
		assert.True(t, pk.BackupState)
		assert.Zero(t, pk.SignCount)
		assert.Equal(t, clk.Now(), pk.CreatedAt)
		assert.Nil(t, pk.LastUsedAt)
		var attType string
		storetest.Scan(t, st, &attType, `SELECT attestation_type FROM webauthn_credentials`)
		assert.Equal(t, "none", attType)

		// Registering the same credential again (a second ceremony) is refused.
		id2, opts2, err := s.BeginPasskeyRegistration(ctx, alice.ID)
		require.NoError(t, err)
		assert.Contains(t, string(opts2), `"excludeCredentials":[{"type":"public-key","id":"`+b64url(a.credID)+`"`)
		err = s.FinishPasskeyRegistration(ctx, alice.ID, id2, "", a.create(opts2))
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)

		// Login: the person, the counter and last use are recorded.
		clk.Advance(time.Minute)
		p, err := login(t, s, a)
		require.NoError(t, err)
		assert.Equal(t, alice.ID, p.ID)
		keys, err = s.Passkeys(ctx, alice.ID)
		require.NoError(t, err)
		assert.EqualValues(t, 1, keys[0].SignCount)
		require.NotNil(t, keys[0].LastUsedAt)
		assert.Equal(t, clk.Now(), *keys[0].LastUsedAt)
		p, err = login(t, s, a)
		require.NoError(t, err)
		assert.Equal(t, alice.ID, p.ID)
		keys, err = s.Passkeys(ctx, alice.ID)
		require.NoError(t, err)
		assert.EqualValues(t, 2, keys[0].SignCount)

		// Replay: the same assertion with its own ceremony again …
		cid, lopts, err := s.BeginPasskeyLogin(ctx)
		require.NoError(t, err)
		body := a.get(lopts)
		_, err = s.FinishPasskeyLogin(ctx, cid, post(t, body))
		require.NoError(t, err)
		_, err = s.FinishPasskeyLogin(ctx, cid, post(t, body))
		assert.ErrorIs(t, err, account.ErrCeremonyInvalid, "ceremonies are single use")
		// … or with a fresh ceremony (wrong challenge).
		cid, _, err = s.BeginPasskeyLogin(ctx)
		require.NoError(t, err)
		_, err = s.FinishPasskeyLogin(ctx, cid, post(t, body))
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)
		assert.Zero(t, countRows(t, st, "webauthn_ceremonies", ""), "a failed finish uses the ceremony up too")

		// A counter that does not increase (a cloned authenticator).
		a.count = 1
		_, err = login(t, s, a)
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)
		a.count = 3

		// User verification is required.
		a.noUV = true
		_, err = login(t, s, a)
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)
		a.noUV = false

		// Wrong origin.
		a.origin = "https://evil.example"
		_, err = login(t, s, a)
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)
		a.origin = testOrigin

		// Another key claiming the credential.
		forged := *a
		forged.key = newSoftAuthenticator(t).key
		_, err = login(t, s, &forged)
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)

		// Expired ceremony (5 minutes).
		cid, lopts, err = s.BeginPasskeyLogin(ctx)
		require.NoError(t, err)
		clk.Advance(account.CeremonyTTL)
		_, err = s.FinishPasskeyLogin(ctx, cid, post(t, a.get(lopts)))
		assert.ErrorIs(t, err, account.ErrCeremonyInvalid)
		a.count--

		// Ceremonies are bound to their kind and person.
		rid, _, err := s.BeginPasskeyRegistration(ctx, bob.ID)
		require.NoError(t, err)
		_, err = s.FinishPasskeyLogin(ctx, rid, post(t, []byte(`{}`)))
		assert.ErrorIs(t, err, account.ErrCeremonyInvalid, "a registration ceremony cannot finish a login")
		rid, ropts, err := s.BeginPasskeyRegistration(ctx, bob.ID)
		require.NoError(t, err)
		err = s.FinishPasskeyRegistration(ctx, alice.ID, rid, "", newSoftAuthenticator(t).create(ropts))
		assert.ErrorIs(t, err, account.ErrCeremonyInvalid, "bob's ceremony cannot register for alice")
		cid, _, err = s.BeginPasskeyLogin(ctx)
		require.NoError(t, err)
		err = s.FinishPasskeyRegistration(ctx, alice.ID, cid, "", post(t, []byte(`{}`)))
		assert.ErrorIs(t, err, account.ErrCeremonyInvalid, "a login ceremony cannot register")
		_, err = s.FinishPasskeyLogin(ctx, "garbage", post(t, body))
		assert.ErrorIs(t, err, account.ErrCeremonyInvalid)
		_, err = s.FinishPasskeyLogin(ctx, account.RandomToken(), post(t, body))
		assert.ErrorIs(t, err, account.ErrCeremonyInvalid)

		// Malformed bodies.
		cid, _, err = s.BeginPasskeyLogin(ctx)
		require.NoError(t, err)
		_, err = s.FinishPasskeyLogin(ctx, cid, post(t, []byte(`{"id":`)))
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)
		cid, _, err = s.BeginPasskeyLogin(ctx)
		require.NoError(t, err)
		_, err = s.FinishPasskeyLogin(ctx, cid, post(t, bytes.Repeat([]byte(" "), 2*account.MaxCeremonyBody)))
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)
		rid, _, err = s.BeginPasskeyRegistration(ctx, alice.ID)
		require.NoError(t, err)
		err = s.FinishPasskeyRegistration(ctx, alice.ID, rid, "", nil)
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)
		err = s.FinishPasskeyRegistration(ctx, alice.ID, rid, strings.Repeat("n", account.MaxPasskeyName+1), nil)
		assert.ErrorIs(t, err, account.ErrInvalidField)

		// A disabled person cannot log in with a passkey (and cannot start
		// registering one).
		_, err = s.UpdatePerson(ctx, alice.ID, account.PersonUpdate{Disabled: ptr(true)})
		require.NoError(t, err)
		_, err = login(t, s, a)
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)
		_, _, err = s.BeginPasskeyRegistration(ctx, alice.ID)
		assert.ErrorIs(t, err, account.ErrNotFound)
		_, err = s.UpdatePerson(ctx, alice.ID, account.PersonUpdate{Disabled: ptr(false)})
		require.NoError(t, err)
		_, err = login(t, s, a)
		require.NoError(t, err)

		// Deleting the passkey ends its use.
		assert.ErrorIs(t, s.DeletePasskey(ctx, bob.ID, pk.ID), account.ErrNotFound, "not bob's")
		require.NoError(t, s.DeletePasskey(ctx, alice.ID, pk.ID))
		assert.ErrorIs(t, s.DeletePasskey(ctx, alice.ID, pk.ID), account.ErrNotFound)
		keys, err = s.Passkeys(ctx, alice.ID)
		require.NoError(t, err)
		assert.Empty(t, keys)
		_, err = login(t, s, a)
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)

		_, _, err = s.BeginPasskeyRegistration(ctx, "nope")
		assert.ErrorIs(t, err, account.ErrNotFound)
	})
}

func TestPasskeyCounterless(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := newTestService(t, st)
		alice := mustPerson(t, s, "alice", false)
		a := newSoftAuthenticator(t)
		a.counterless = true // as most synced passkey providers
		register(t, s, alice.ID, a, "")
		keys, err := s.Passkeys(t.Context(), alice.ID)
		require.NoError(t, err)
		assert.Equal(t, "Passkey", keys[0].Name, "default name")
		assert.False(t, keys[0].BackupEligible)
		for range 3 {
			p, err := login(t, s, a)
			require.NoError(t, err)
			assert.Equal(t, alice.ID, p.ID)
		}
		// A counter that appears and then goes back to 0 is refused.
		a.counterless = false
		_, err = login(t, s, a)
		require.NoError(t, err)
		a.counterless, a.count = true, 0
		_, err = login(t, s, a)
		assert.ErrorIs(t, err, account.ErrPasskeyRejected)
	})
}

func TestPasskeysDisabled(t *testing.T) {
	t.Parallel()
	st := storetest.OpenSQLite(t)
	s, _ := newTestService(t, st, func(o *account.Options) { o.RPID, o.RPOrigins = "", nil })
	ctx := t.Context()
	_, _, err := s.BeginPasskeyRegistration(ctx, "x")
	assert.ErrorIs(t, err, account.ErrPasskeysDisabled)
	assert.ErrorIs(t, s.FinishPasskeyRegistration(ctx, "x", "y", "", nil), account.ErrPasskeysDisabled)
	_, _, err = s.BeginPasskeyLogin(ctx)
	assert.ErrorIs(t, err, account.ErrPasskeysDisabled)
	_, err = s.FinishPasskeyLogin(ctx, "y", nil)
	assert.ErrorIs(t, err, account.ErrPasskeysDisabled)
}
