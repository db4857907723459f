package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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

// bindingAheadKey is the context key of a request's bindingAhead.
type bindingAheadKey struct{}

// bindingAhead is one agent's live binding and person, and the
// revocation of some tokens, read with its mission and each taken once.
type bindingAhead struct {
	provider, agentID string

	mu           sync.Mutex
	spent        bool // the mission read has read ahead
	read         bool // the binding read and not yet taken
	found        bool
	row          boundRow
	tokens       [][2]string // the tokens whose revocation is read with the mission
	firstRevoked int         // tokens' first revoked, or -1; valid while revRead
	revRead      bool        // the revocations read and not yet taken
	scopesOf     *[4]string  // the grant whose scopes are read with the mission: person, agent iss and sub, resource
	scopes       []string    // valid while scopesRead
	scopesRead   bool        // the scopes read and not yet taken
}

// maxTokensAhead bounds the tokens whose revocation a mission read reads
// (an auth token request checks two).
const maxTokensAhead = 2

// ReadBindingAhead returns ctx, which makes the first mission read by
// owner key outside a transaction (OwnedMission) also read the live
// binding of the agent provider/agentID and its person, and BoundPerson
// for that agent answer once from what it read.
func ReadBindingAhead(ctx context.Context, provider, agentID string) context.Context {
	return context.WithValue(ctx, bindingAheadKey{}, &bindingAhead{provider: provider, agentID: agentID})
}

// ReadRevocationsAhead makes the mission read that ctx's ReadBindingAhead
// prepares also read whether tokens (iss, jti pairs) are revoked, and
// FirstRevoked for exactly those tokens answer once from it. Without a
// read-ahead in ctx, once the mission is read, or for more than
// maxTokensAhead tokens it does nothing.
func ReadRevocationsAhead(ctx context.Context, tokens [][2]string) {
	ahead, _ := ctx.Value(bindingAheadKey{}).(*bindingAhead)
	if ahead == nil || len(tokens) == 0 || len(tokens) > maxTokensAhead {
		return
	}
	ahead.mu.Lock()
	defer ahead.mu.Unlock()
	if !ahead.spent {
		ahead.tokens = slices.Clone(tokens)
	}
}

// ReadScopesAhead makes the mission read that ctx's ReadBindingAhead
// prepares also read the scopes personID granted the agent at resource,
// and GrantedScopes for exactly that grant answer once from it. Without a
// read-ahead in ctx, or once the mission is read, it does nothing.
func ReadScopesAhead(ctx context.Context, personID, agentIss, agentSub, resource string) {
	ahead, _ := ctx.Value(bindingAheadKey{}).(*bindingAhead)
	if ahead == nil {
		return
	}
	ahead.mu.Lock()
	defer ahead.mu.Unlock()
	if !ahead.spent {
		ahead.scopesOf = &[4]string{personID, agentIss, agentSub, resource}
	}
}

// bindingAheadFor is ctx's bindingAhead when s should read it now: outside
// a transaction (inside one, reads see its writes and its snapshot, and
// the answer must not outlive it), and by the request's first mission
// read.
func (s *Store) bindingAheadFor(ctx context.Context) *bindingAhead {
	ahead, _ := ctx.Value(bindingAheadKey{}).(*bindingAhead)
	if ahead == nil || s.afterCommit != nil {
		return nil
	}
	ahead.mu.Lock()
	defer ahead.mu.Unlock()
	if ahead.spent {
		return nil
	}
	ahead.spent = true
	return ahead
}

// takeBindingAhead is the binding and person read ahead for this agent,
// if any is waiting: ok is false when BoundPerson must read them itself.
// found is false when the agent had no live binding.
func (s *Store) takeBindingAhead(ctx context.Context, provider, agentID string) (row boundRow, found, ok bool) {
	ahead, _ := ctx.Value(bindingAheadKey{}).(*bindingAhead)
	if ahead == nil || s.afterCommit != nil || ahead.provider != provider || ahead.agentID != agentID {
		return boundRow{}, false, false
	}
	ahead.mu.Lock()
	defer ahead.mu.Unlock()
	if !ahead.read {
		return boundRow{}, false, false
	}
	ahead.read = false
	return ahead.row, ahead.found, true
}

// takeRevocationsAhead is the index of the first of tokens read ahead as
// revoked (or -1), if exactly those tokens were read ahead and not taken:
// ok is false when FirstRevoked must read them itself.
func (s *Store) takeRevocationsAhead(ctx context.Context, tokens [][2]string) (first int, ok bool) {
	ahead, _ := ctx.Value(bindingAheadKey{}).(*bindingAhead)
	if ahead == nil || s.afterCommit != nil {
		return 0, false
	}
	ahead.mu.Lock()
	defer ahead.mu.Unlock()
	if !ahead.revRead || !slices.Equal(ahead.tokens, tokens) {
		return 0, false
	}
	ahead.revRead = false
	return ahead.firstRevoked, true
}

// takeScopesAhead is the scopes read ahead for this grant, if they are
// waiting: ok is false when GrantedScopes must read them itself.
func (s *Store) takeScopesAhead(ctx context.Context, personID, agentIss, agentSub, resource string) (scopes []string, ok bool) {
	ahead, _ := ctx.Value(bindingAheadKey{}).(*bindingAhead)
	if ahead == nil || s.afterCommit != nil {
		return nil, false
	}
	ahead.mu.Lock()
	defer ahead.mu.Unlock()
	if !ahead.scopesRead || *ahead.scopesOf != [4]string{personID, agentIss, agentSub, resource} {
		return nil, false
	}
	ahead.scopesRead = false
	return ahead.scopes, true
}

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

// ownedMissionReadingAhead is OwnedMission, reading ahead's binding,
// revocations and scopes in the same statement.
func (s *Store) ownedMissionReadingAhead(ctx context.Context, ownerKey string, ahead *bindingAhead) (*mission.Record, error) {
	const op = "read mission"
	ahead.mu.Lock()
	tokens, scopesOf := ahead.tokens, ahead.scopesOf
	ahead.mu.Unlock()
	args := make([]any, 0, 2*len(tokens)+7)
	for _, t := range tokens {
		args = append(args, t[0], t[1])
	}
	withScopes := 0
	if scopesOf != nil {
		withScopes = 1
		args = append(args, scopesOf[0], scopesOf[1], scopesOf[2], scopesOf[3])
	}
	args = append(args, ownerKey, ahead.provider, ahead.agentID)
	rows := make([]missionAndBindingRow, 0, 1)
	if err := s.stmt(ctx).Raw(missionAndBindingQueries[s.dialect][len(tokens)][withScopes], args...).Scan(&rows).Error; err != nil {
		return nil, wrap(op, err)
	}
	var r missionAndBindingRow
	if len(rows) > 0 {
		r = rows[0]
	}
	ahead.mu.Lock()
	// A binding whose person is gone is none, as BoundPerson's join has it.
	ahead.read, ahead.found, ahead.row = true, r.Bound.Binding.ID != "" && r.Bound.Person.ID != "", r.Bound
	if len(tokens) > 0 {
		ahead.revRead, ahead.firstRevoked = true, -1
		revoked := r.revoked()
		for i := range tokens {
			if revoked[i] {
				ahead.firstRevoked = i
				break
			}
		}
	}
	if scopesOf != nil {
		if scopes, err := grantedScopesOf(r.Scopes); err == nil {
			ahead.scopesRead, ahead.scopes = true, scopes
		}
	}
	ahead.mu.Unlock()
	if r.Stamp.S256 == "" {
		return nil, &Error{Op: op, Kind: ErrNotFound}
	}
	return s.stampedMission(ctx, op, r.Stamp)
}
