package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/aauth-ps/aauth-ps/mission"
)

// A token request that names a mission reads, before its decision, the
// mission by its owner key and the agent's live binding with its person;
// an auth token request also the revocation of its resource and presented
// tokens and the scopes the person granted the agent at the resource.
// They were separate statements, and on PostgreSQL separate round trips,
// on every such request (issue 12, findings 67–69). A request that will
// read them says so (ReadBindingAhead, ReadRevocationsAhead,
// ReadScopesAhead); its mission read then reads them in the same
// statement, and the request's BoundPerson, FirstRevoked and
// GrantedScopes answer from that, once each.
//
// The answers are read together at the mission read instead of
// separately a moment later. Nothing relies on the order of those reads:
// they are outside the decision's transaction either way, and the
// transaction checks the revocations again under its lock, and a
// revocation that commits after it cascades to what it issues
// (tokens.RevocationGuard).

// readAheadKey is the context key of a request's readAhead.
type readAheadKey struct{}

// readAhead is what a request's mission read reads ahead: the agent's
// binding, and the tokens' revocation and the grant's scopes when asked.
type readAhead struct {
	mu      sync.Mutex
	spent   bool                              // the mission read has read ahead
	binding aheadAnswer[[2]string, *boundRow] // provider and agent → the live binding and person, nil for none
	revoked aheadAnswer[tokenSet, int]        // → the first revoked, or -1
	scopes  aheadAnswer[[4]string, []string]  // person, agent iss and sub, resource → the granted scopes
}

// aheadAnswer is one answer of a readAhead: asked for a key before the
// mission read, read by it, then taken once, for that key only.
type aheadAnswer[K comparable, V any] struct {
	key         K
	asked, read bool
	value       V
}

func (a *aheadAnswer[K, V]) ask(key K) { a.key, a.asked = key, true }

// fill is the mission read's answer, kept if it was asked for.
func (a *aheadAnswer[K, V]) fill(v V) { a.value, a.read = v, a.asked }

func (a *aheadAnswer[K, V]) take(key K) (v V, ok bool) {
	if !a.read || a.key != key {
		return v, false
	}
	a.read = false
	return a.value, true
}

// maxTokensAhead bounds the tokens whose revocation a mission read reads
// (an auth token request checks two).
const maxTokensAhead = 2

// tokenSet is up to maxTokensAhead tokens (iss, jti pairs), in order.
type tokenSet struct {
	n    int
	list [maxTokensAhead][2]string
}

// tokenSetOf is tokens as a tokenSet; false for none or too many.
func tokenSetOf(tokens [][2]string) (t tokenSet, ok bool) {
	if len(tokens) == 0 || len(tokens) > maxTokensAhead {
		return t, false
	}
	t.n = copy(t.list[:], tokens)
	return t, true
}

// ReadBindingAhead returns ctx, which makes the first mission read by
// owner key outside a transaction (OwnedMission) also read the live
// binding of the agent provider/agentID and its person, and BoundPerson
// for that agent answer once from what it read.
func ReadBindingAhead(ctx context.Context, provider, agentID string) context.Context {
	ra := &readAhead{}
	ra.binding.ask([2]string{provider, agentID})
	return context.WithValue(ctx, readAheadKey{}, ra)
}

// ReadRevocationsAhead makes the mission read that ctx's ReadBindingAhead
// prepares also read whether tokens (iss, jti pairs) are revoked, and
// FirstRevoked for exactly those tokens answer once from it. Without a
// read-ahead in ctx, once the mission is read, or for more than
// maxTokensAhead tokens it does nothing.
func ReadRevocationsAhead(ctx context.Context, tokens [][2]string) {
	if set, ok := tokenSetOf(tokens); ok {
		beforeRead(ctx, func(ra *readAhead) { ra.revoked.ask(set) })
	}
}

// ReadScopesAhead makes the mission read that ctx's ReadBindingAhead
// prepares also read the scopes personID granted the agent at resource,
// and GrantedScopes for exactly that grant answer once from it. Without a
// read-ahead in ctx, or once the mission is read, it does nothing.
func ReadScopesAhead(ctx context.Context, personID, agentIss, agentSub, resource string) {
	beforeRead(ctx, func(ra *readAhead) { ra.scopes.ask([4]string{personID, agentIss, agentSub, resource}) })
}

// beforeRead runs ask on ctx's readAhead, if any, while its mission read
// has not run.
func beforeRead(ctx context.Context, ask func(*readAhead)) {
	if ra, _ := ctx.Value(readAheadKey{}).(*readAhead); ra != nil {
		ra.mu.Lock()
		defer ra.mu.Unlock()
		if !ra.spent {
			ask(ra)
		}
	}
}

// readAheadFor is ctx's readAhead when s may use it: outside a
// transaction (inside one, reads see its writes and its snapshot, and an
// answer must not outlive it).
func (s *Store) readAheadFor(ctx context.Context) *readAhead {
	if s.afterCommit != nil {
		return nil
	}
	ra, _ := ctx.Value(readAheadKey{}).(*readAhead)
	return ra
}

// readsAhead reports whether s's mission read now is the one that reads
// ahead (the request's first outside a transaction), and marks it done.
func (s *Store) readsAhead(ctx context.Context) (*readAhead, bool) {
	ra := s.readAheadFor(ctx)
	if ra == nil {
		return nil, false
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	first := !ra.spent
	ra.spent = true
	return ra, first
}

// takeAhead is answer's value for key, if the mission read left one for
// it and nothing took it: ok is false when the caller must read it itself.
func takeAhead[K comparable, V any](s *Store, ctx context.Context, answer func(*readAhead) *aheadAnswer[K, V], key K) (v V, ok bool) {
	ra := s.readAheadFor(ctx)
	if ra == nil {
		return v, false
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	return answer(ra).take(key)
}

func bindingOf(ra *readAhead) *aheadAnswer[[2]string, *boundRow] { return &ra.binding }
func revokedOf(ra *readAhead) *aheadAnswer[tokenSet, int]        { return &ra.revoked }
func scopesOf(ra *readAhead) *aheadAnswer[[4]string, []string]   { return &ra.scopes }

// grantedScopesColumn reads a grant's scopes as a JSON array, in each
// dialect's aggregate (the values are whatever was granted: no separator
// is safe). Its values: the person, the agent's iss and sub, the resource.
var grantedScopesColumn = map[string]string{
	DialectSQLite: `,
  (SELECT json_group_array(scope) FROM scope_grants
    WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ?) AS scopes`,
	DialectPostgres: `,
  (SELECT COALESCE(json_agg(scope), '[]')::text FROM scope_grants
    WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ?) AS scopes`,
}

// missionAndBindingQueries[dialect][n][scopes] reads a mission's stamp by
// owner key (its columns prefixed m_), an agent's live binding with its
// person, each or both absent as NULLs, whether each of n tokens is
// revoked (r0 …) and, with scopes 1, a grant's scopes. Owner keys are
// unique and an agent has one live binding at most, so there is one row.
// Its values: the n tokens' iss and jti, the grant's, the owner key, the
// provider and the agent.
var missionAndBindingQueries = func() map[string]*[maxTokensAhead + 1][2]string {
	qs := map[string]*[maxTokensAhead + 1][2]string{}
	for dialect, scopes := range grantedScopesColumn {
		qs[dialect] = new([maxTokensAhead + 1][2]string)
		for n := range maxTokensAhead + 1 {
			var revoked strings.Builder
			for i := range n {
				fmt.Fprintf(&revoked, ",\n  CASE WHEN EXISTS (SELECT 1 FROM revoked_tokens WHERE iss = ? AND jti = ?) THEN 1 ELSE 0 END AS r%d", i)
			}
			for withScopes, column := range [2]string{"", scopes} {
				qs[dialect][n][withScopes] = `SELECT m.s256 AS m_s256, m.version AS m_version, m.state AS m_state,
  m.approved_at_ms AS m_approved_at_ms, m.authority_set AS m_authority_set, m.authority_hash AS m_authority_hash,
  m.effective_authority_set AS m_effective_authority_set, m.effective_authority_hash AS m_effective_authority_hash,
  ` + boundPersonColumns + revoked.String() + column + `
FROM (SELECT 1 AS one) AS one
  LEFT JOIN missions m ON m.owner_key = ?
  LEFT JOIN agent_bindings b ON b.provider = ? AND b.agent_id = ? AND b.` + liveBinding + `
  LEFT JOIN persons p ON p.id = b.person_id
LIMIT 1`
			}
		}
	}
	return qs
}()

// missionAndBindingRow is a row of missionAndBindingQueries[n]: R0 and R1
// are the tokens' columns, as many as maxTokensAhead (revoked's type
// holds the two to each other).
type missionAndBindingRow struct {
	Stamp  missionStamp `gorm:"embedded;embeddedPrefix:m_"`
	Bound  boundRow     `gorm:"embedded"`
	R0     int          `gorm:"column:r0"`
	R1     int          `gorm:"column:r1"`
	Scopes *string      `gorm:"column:scopes"`
}

// revoked reports which of the row's tokens are revoked.
func (r missionAndBindingRow) revoked() [maxTokensAhead]bool { return [...]bool{r.R0 == 1, r.R1 == 1} }

// grantedScopesOf is a grant's scopes from their JSON array, in
// GrantedScopes' order (none: nil).
func grantedScopesOf(array *string) ([]string, error) {
	var scopes []string
	if array != nil {
		if err := json.Unmarshal([]byte(*array), &scopes); err != nil {
			return nil, err
		}
	}
	return sortedScopes(scopes), nil
}

// ownedMissionReadingAhead is OwnedMission, reading ra's answers in the
// same statement.
func (s *Store) ownedMissionReadingAhead(ctx context.Context, ownerKey string, ra *readAhead) (*mission.Record, error) {
	const op = "read mission"
	ra.mu.Lock()
	agent, revoked, scopes := ra.binding.key, ra.revoked, ra.scopes
	ra.mu.Unlock()
	args := make([]any, 0, 2*maxTokensAhead+7)
	tokens := revoked.key.list[:revoked.key.n]
	for _, t := range tokens {
		args = append(args, t[0], t[1])
	}
	withScopes := 0
	if scopes.asked {
		withScopes = 1
		args = append(args, scopes.key[0], scopes.key[1], scopes.key[2], scopes.key[3])
	}
	args = append(args, ownerKey, agent[0], agent[1])
	rows := make([]missionAndBindingRow, 0, 1)
	if err := s.stmt(ctx).Raw(missionAndBindingQueries[s.dialect][len(tokens)][withScopes], args...).Scan(&rows).Error; err != nil {
		return nil, wrap(op, err)
	}
	var r missionAndBindingRow
	if len(rows) > 0 {
		r = rows[0]
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	// A binding whose person is gone is none, as BoundPerson's join has it.
	if r.Bound.Binding.ID != "" && r.Bound.Person.ID != "" {
		ra.binding.fill(&r.Bound)
	} else {
		ra.binding.fill(nil)
	}
	first, row := -1, r.revoked()
	for i, revoked := range row[:len(tokens)] {
		if revoked {
			first = i
			break
		}
	}
	ra.revoked.fill(first)
	if granted, err := grantedScopesOf(r.Scopes); err == nil {
		ra.scopes.fill(granted)
	}
	if r.Stamp.S256 == "" {
		return nil, &Error{Op: op, Kind: ErrNotFound}
	}
	return s.stampedMission(ctx, op, r.Stamp)
}
