// Package account owns the persons this PS serves and how they prove who
// they are to its web UI: accounts, passwords, passkeys, browser sessions
// with CSRF tokens, admin invitations and login rate limiting. It is
// domain logic over the small Store interface it declares (store.go; the
// SQL is in ps/store/accounts*.go); it imports neither gin, gorm nor templ,
// and the web UI is built on its API.
//
// Draft sections:
//   - P§ps-approval-endpoint-auth: the approval/consent endpoint MUST
//     authenticate the approving party; Session (a cookie token plus
//     CheckCSRF on every state-changing form) is that authentication.
//   - P§agent-person-binding: every agent is bound to exactly one person;
//     Person.ID is the stable, random identifier such bindings (and the
//     subject of issued tokens) refer to. Usernames and emails may change;
//     IDs never do.
//   - PS-REQUIREMENTS A-42 (identity claims): Person carries the source of
//     the released claims: name and email/email_verified (OIDC profile and
//     email scopes), tenant, groups and roles. Tenant is organisational
//     context and never part of the identifier.
//
// Persons: usernames are 3-64 characters of [a-z0-9._-], stored lowercase
// and unique; emails are optional and unique case-insensitively. Persons
// are disabled, never deleted: a disabled person cannot log in and loses
// every session. The last enabled administrator cannot be demoted or
// disabled (ErrLastAdmin).
//
// Passwords: argon2id (golang.org/x/crypto/argon2), stored as PHC strings
// "$argon2id$v=19$m=…,t=…,p=…$salt$hash" and compared in constant time;
// a hash made with other parameters is redone at the next login. Policy:
// at least 10 characters, not one of the most common passwords, not the
// username or email. Authenticate answers ErrBadCredentials for every kind
// of failure after similar work, and rate limits per username and per
// client address through the login_attempts table, so all replicas share
// the count.
//
// Sessions and invites: tokens are 256-bit random base64url strings handed
// out once; the database keeps only their SHA-256. Sessions have an
// absolute lifetime and an idle lifetime that slides with use; RotateSession
// issues a new token (session-fixation defence) without extending the
// absolute lifetime. Invites are single use: RedeemInvite claims the invite
// and creates the person in one transaction.
//
// Passkeys: WebAuthn through github.com/go-webauthn/webauthn, discoverable
// credentials with user verification required. Ceremony state lives in
// webauthn_ceremonies (never in the browser), is single use and expires
// after CeremonyTTL; a signature counter that does not increase is refused.
//
// Time comes from the injected clock only; Purge removes what has expired.
// Nothing here logs passwords, tokens or hashes. Schema:
// migrations/*/00002_accounts.sql.
package account
