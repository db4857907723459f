package account

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// Passkey ceremony kinds (webauthn_ceremonies.kind).
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
)

// Limits on passkey input.
const (
	maxCeremonyBody   = 64 << 10 // bytes of a navigator.credentials response
	MaxPasskeyName    = 64       // characters
	defaultPasskeyTag = "Passkey"
)

// Passkey is a registered WebAuthn credential, as listed to its person.
type Passkey struct {
	ID             string // credential id, base64url
	Name           string
	AAGUID         string // authenticator model (UUID); all zero for most passkey providers
	Transports     []string
	BackupEligible bool // may sync between devices
	BackupState    bool // is synced
	SignCount      uint32
	CreatedAt      time.Time
	LastUsedAt     *time.Time
}

// credential rebuilds the go-webauthn credential record. Registration
// requires user verification, so UV is set.
func credential(m Credential) (webauthn.Credential, error) {
	id, err := base64.RawURLEncoding.DecodeString(m.ID)
	if err != nil {
		return webauthn.Credential{}, err
	}
	flags := protocol.FlagUserPresent | protocol.FlagUserVerified
	if m.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if m.BackupState {
		flags |= protocol.FlagBackupState
	}
	var aaguid []byte
	if u, err := uuid.Parse(m.AAGUID); err == nil {
		aaguid = u[:]
	}
	var transports []protocol.AuthenticatorTransport
	for _, t := range m.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID: id, PublicKey: m.PublicKey, AttestationType: m.AttestationType,
		AttestationFormat: m.AttestationFormat, Transport: transports,
		Flags:         webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{AAGUID: aaguid, SignCount: m.SignCount},
	}, nil
}

// waUser implements webauthn.User for a person. The user handle is the
// person ID's bytes (22 ASCII bytes, random, no personal data).
type waUser struct {
	p     *PersonRecord
	creds []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return []byte(u.p.ID) }
func (u *waUser) WebAuthnName() string                       { return u.p.Username }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }
func (u *waUser) WebAuthnDisplayName() string {
	if u.p.Name != "" {
		return u.p.Name
	}
	return u.p.Username
}

// loadUser returns the enabled person id with their credentials.
func (s *Service) loadUser(ctx context.Context, id string) (*waUser, error) {
	p, err := s.record(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Disabled {
		return nil, ErrNotFound
	}
	cs, err := s.st.Credentials(ctx, id)
	if err != nil {
		return nil, err
	}
	u := &waUser{p: p}
	for _, c := range cs {
		wc, err := credential(c)
		if err != nil {
			continue // a corrupt row cannot be used; skip it
		}
		u.creds = append(u.creds, wc)
	}
	return u, nil
}

// saveCeremony stores the go-webauthn session data and returns its ID.
// personID is "" for a login.
func (s *Service) saveCeremony(ctx context.Context, personID, kind string, sd *webauthn.SessionData) (string, error) {
	data, err := json.Marshal(sd)
	if err != nil {
		return "", fmt.Errorf("account: encode ceremony: %w", err)
	}
	c := Ceremony{ID: randomToken(), PersonID: personID, Kind: kind, Data: string(data), ExpiresAt: s.now().Add(CeremonyTTL)}
	if err := s.st.InsertCeremony(ctx, c); err != nil {
		return "", err
	}
	return c.ID, nil
}

// takeCeremony deletes the ceremony (single use: even a failing Finish uses
// it up) and returns its session data if it was of kind, for personID
// ("" for a login), and unexpired; otherwise ErrCeremonyInvalid.
func (s *Service) takeCeremony(ctx context.Context, id, kind, personID string) (*webauthn.SessionData, error) {
	if !wellFormedToken(id) {
		return nil, ErrCeremonyInvalid
	}
	c, err := s.st.TakeCeremony(ctx, id)
	if err != nil {
		return nil, notFound(err, ErrCeremonyInvalid)
	}
	if c.Kind != kind || c.PersonID != personID || !s.now().Before(c.ExpiresAt) {
		return nil, ErrCeremonyInvalid
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal([]byte(c.Data), &sd); err != nil {
		return nil, ErrCeremonyInvalid
	}
	return &sd, nil
}

// BeginPasskeyRegistration starts registering a passkey (a discoverable,
// user-verifying credential) for an enabled person. It returns the ceremony
// ID, to hand back to FinishPasskeyRegistration within CeremonyTTL, and the
// JSON options for navigator.credentials.create ({"publicKey": …}); the
// person's existing passkeys are excluded. Errors: ErrPasskeysDisabled,
// ErrNotFound (unknown or disabled person).
func (s *Service) BeginPasskeyRegistration(ctx context.Context, personID string) (string, []byte, error) {
	if s.wa == nil {
		return "", nil, ErrPasskeysDisabled
	}
	u, err := s.loadUser(ctx, personID)
	if err != nil {
		return "", nil, err
	}
	creation, sd, err := s.wa.BeginRegistration(u,
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
	if err != nil {
		return "", nil, fmt.Errorf("account: begin passkey registration: %w", err)
	}
	options, err := json.Marshal(creation)
	if err != nil {
		return "", nil, fmt.Errorf("account: encode passkey options: %w", err)
	}
	id, err := s.saveCeremony(ctx, u.p.ID, ceremonyRegister, sd)
	if err != nil {
		return "", nil, err
	}
	return id, options, nil
}

// FinishPasskeyRegistration verifies the browser's response (the JSON body
// of r: the PublicKeyCredential from navigator.credentials.create) against
// the ceremony and stores the passkey under name (trimmed; default
// "Passkey"). It leaves the person's sessions alone; the web UI uses
// RegisterPasskey, which also ends them. Errors: ErrPasskeysDisabled,
// ErrCeremonyInvalid, ErrNotFound (person gone or disabled),
// ErrInvalidField (name), ErrPasskeyRejected.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, personID, ceremonyID, name string, r *http.Request) error {
	m, err := s.verifyRegistration(ctx, personID, ceremonyID, name, r)
	if err != nil {
		return err
	}
	return s.insertCredential(ctx, m)
}

// verifyRegistration checks a registration response against its ceremony
// (using the ceremony up, whatever the outcome) and returns the passkey's
// row, not yet stored.
func (s *Service) verifyRegistration(ctx context.Context, personID, ceremonyID, name string, r *http.Request) (*Credential, error) {
	if s.wa == nil {
		return nil, ErrPasskeysDisabled
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = defaultPasskeyTag
	}
	if err := checkText("passkey name", name, MaxPasskeyName); err != nil {
		return nil, err
	}
	sd, err := s.takeCeremony(ctx, ceremonyID, ceremonyRegister, personID)
	if err != nil {
		return nil, err
	}
	u, err := s.loadUser(ctx, personID)
	if err != nil {
		return nil, err
	}
	parsed, err := parseBody(r, protocol.ParseCredentialCreationResponseBody)
	if err != nil {
		return nil, err
	}
	cred, err := s.wa.CreateCredential(u, *sd, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrPasskeyRejected, describe(err))
	}
	transports := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		transports = append(transports, string(t))
	}
	aaguid := ""
	if u, err := uuid.FromBytes(cred.Authenticator.AAGUID); err == nil {
		aaguid = u.String()
	}
	return &Credential{
		Passkey: Passkey{ID: base64.RawURLEncoding.EncodeToString(cred.ID), Name: name, AAGUID: aaguid,
			Transports: transports, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
			SignCount: cred.Authenticator.SignCount, CreatedAt: s.now().Truncate(time.Second).UTC()},
		PersonID: personID, PublicKey: cred.PublicKey,
		AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
	}, nil
}

// insertCredential stores a verified passkey.
func (s *Service) insertCredential(ctx context.Context, c *Credential) error {
	err := s.st.InsertCredential(ctx, *c)
	if errors.Is(err, dberr.ErrConflict) {
		return fmt.Errorf("%w: this passkey is already registered", ErrPasskeyRejected)
	}
	return err
}

// BeginPasskeyLogin starts a username-less login with a discoverable
// credential. It returns the ceremony ID and the JSON options for
// navigator.credentials.get ({"publicKey": …}). ErrPasskeysDisabled.
func (s *Service) BeginPasskeyLogin(ctx context.Context) (string, []byte, error) {
	if s.wa == nil {
		return "", nil, ErrPasskeysDisabled
	}
	assertion, sd, err := s.wa.BeginDiscoverableLogin()
	if err != nil {
		return "", nil, fmt.Errorf("account: begin passkey login: %w", err)
	}
	options, err := json.Marshal(assertion)
	if err != nil {
		return "", nil, fmt.Errorf("account: encode passkey options: %w", err)
	}
	id, err := s.saveCeremony(ctx, "", ceremonyLogin, sd)
	if err != nil {
		return "", nil, err
	}
	return id, options, nil
}

// FinishPasskeyLogin verifies the browser's assertion (the JSON body of r)
// against the ceremony and returns the person it authenticates. The
// credential's sign count must increase unless the authenticator keeps none
// (always 0); it and last_used_at are stored. Errors: ErrPasskeysDisabled,
// ErrCeremonyInvalid, ErrPasskeyRejected (also for an unknown credential or
// a disabled person).
func (s *Service) FinishPasskeyLogin(ctx context.Context, ceremonyID string, r *http.Request) (*Person, error) {
	if s.wa == nil {
		return nil, ErrPasskeysDisabled
	}
	sd, err := s.takeCeremony(ctx, ceremonyID, ceremonyLogin, "")
	if err != nil {
		return nil, err
	}
	parsed, err := parseBody(r, protocol.ParseCredentialRequestResponseBody)
	if err != nil {
		return nil, err
	}
	var (
		found      *waUser
		handlerErr error
	)
	handler := func(_, userHandle []byte) (webauthn.User, error) {
		found, handlerErr = s.loadUser(ctx, string(userHandle))
		if handlerErr != nil {
			return nil, handlerErr
		}
		return found, nil
	}
	_, cred, err := s.wa.ValidatePasskeyLogin(handler, *sd, parsed)
	if err != nil {
		if errors.Is(handlerErr, dberr.ErrDatabase) {
			return nil, handlerErr
		}
		return nil, fmt.Errorf("%w: %s", ErrPasskeyRejected, describe(err))
	}
	credID := base64.RawURLEncoding.EncodeToString(cred.ID)
	if cred.Authenticator.CloneWarning {
		s.log.Warn("account: passkey sign count did not increase; refusing (cloned authenticator?)",
			"person", found.p.ID, "credential", credID)
		return nil, fmt.Errorf("%w: the authenticator's signature counter went backwards", ErrPasskeyRejected)
	}
	// The counter only moves forward, also against a concurrent login with
	// the same credential (0 = the authenticator keeps no counter).
	advanced, err := s.st.AdvanceSignCount(ctx, found.p.ID, credID, cred.Authenticator.SignCount, cred.Flags.BackupState, s.now())
	if err != nil {
		return nil, err
	}
	if !advanced {
		return nil, fmt.Errorf("%w: the authenticator's signature counter went backwards", ErrPasskeyRejected)
	}
	return &found.p.Person, nil
}

// parseBody parses r's JSON body (at most maxCeremonyBody bytes) with
// parse; a malformed body is ErrPasskeyRejected.
func parseBody[T any](r *http.Request, parse func(io.Reader) (*T, error)) (*T, error) {
	if r == nil || r.Body == nil {
		return nil, fmt.Errorf("%w: no response", ErrPasskeyRejected)
	}
	defer r.Body.Close()
	out, err := parse(io.LimitReader(r.Body, maxCeremonyBody))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrPasskeyRejected, describe(err))
	}
	return out, nil
}

// describe is a go-webauthn error's short, client-safe description.
func describe(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return pe.Details
	}
	return "verification failed"
}

// Passkeys lists the person's passkeys, oldest first.
func (s *Service) Passkeys(ctx context.Context, personID string) ([]Passkey, error) {
	cs, err := s.st.Credentials(ctx, personID)
	if err != nil {
		return nil, err
	}
	out := make([]Passkey, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Passkey)
	}
	return out, nil
}

// DeletePasskey removes the person's passkey credID. ErrNotFound when the
// person has no such passkey.
func (s *Service) DeletePasskey(ctx context.Context, personID, credID string) error {
	deleted, err := s.st.DeleteCredential(ctx, personID, credID)
	if err != nil {
		return err
	}
	if !deleted {
		return ErrNotFound
	}
	return nil
}
