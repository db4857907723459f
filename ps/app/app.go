// Package app is the composition root: it turns a validated Config into a
// running PS (database, migrations, keys, outbound fetcher, verifier, HTTP
// server, housekeeping). cmd/aauth-ps calls it; black-box tests start the
// same wiring in-process.
package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/governance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/apitoken"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/authtoken"
	"github.com/aauth-ps/aauth-ps/ps/chain"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/lifecycle"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/pending/markwake"
	"github.com/aauth-ps/aauth-ps/ps/pending/pgnotify"
	"github.com/aauth-ps/aauth-ps/ps/permissionflow"
	"github.com/aauth-ps/aauth-ps/ps/persontoken"
	"github.com/aauth-ps/aauth-ps/ps/pssign"
	"github.com/aauth-ps/aauth-ps/ps/ratelimit"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/server"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/telemetry"
	"github.com/aauth-ps/aauth-ps/ps/timestamping"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
	"github.com/aauth-ps/aauth-ps/ps/version"
	"github.com/aauth-ps/aauth-ps/ps/web"
)

// App is a wired PS.
type App struct {
	Config *config.Config
	Store  *store.Store
	Keys   *keys.Manager
	// Decisions is the Mission composition decision point.
	Decisions *composition.Point
	Discovery *fetch.Discovery
	Accounts  *account.Service
	Agents    *agents.Service
	Engine    *pending.Engine
	Interact  *interact.Service
	Tokens    *tokens.Service
	Missions  *missionflow.Service
	// Flows are the mission flows the web UI uses (EndBinding and its
	// cascades); the operator CLI runs the same ones.
	Flows *missionflow.Flows
	// APITokens are automation's bearer credentials (issue 14).
	APITokens *apitoken.Service
	// Revocation runs revocations and their cascades (E11, the web UI).
	Revocation *revocation.Service
	// Lifecycle suspends, resumes and ends missions; Evidence exports
	// their evidence bundles (issue 10): the UI, mission control and the
	// CLI share them.
	Lifecycle *lifecycle.Service
	Evidence  *lifecycle.Exporter
	// Stamps anchors signed chain heads with the operator's TSA (nil
	// without --evidence-tsa-url).
	Stamps *timestamping.Service
	// AccessServers is the four-party trust: the operator's access
	// servers, release rules, billing, the persons' releases.
	AccessServers *federation.Trust
	// Audit logs and records every administrative change (issue 14): the
	// UI, mission control and the CLI share it.
	Audit  *audit.Recorder
	Server *server.Server
	Log    *slog.Logger
	Now    func() time.Time

	notifier interface{ Close() }
	// stopPolls stops the background polling of access servers
	// (four-party), bounded by its context: at shutdown and Close.
	stopPolls func(ctx context.Context) error
	// resumePolls restarts the background polling of access servers for
	// the four-party requests a previous process left waiting.
	resumePolls func(ctx context.Context) (int, error)
	// sweepFederated settles the reservations of expired four-party
	// requests (authtoken.Service.SweepExpired).
	sweepFederated func(ctx context.Context) (int, error)
	pollLoops      func() int

	closeOnce sync.Once
}

// Options let tests substitute the clock and cheapen password hashing;
// production passes zero Options.
type Options struct {
	Now    func() time.Time
	Argon2 account.Argon2Params
	// TracerProvider makes a span per HTTP request, its steps and its
	// database calls (issue 14; ps/telemetry/otlp from OTEL_*); nil: none.
	TracerProvider trace.TracerProvider
	// Command is a one-shot command beside a serving process (the CLI's
	// manage commands), not a server. On SQLite its changes to pending
	// requests move a mark the server watches while long polls wait, so
	// that they answer within about half a second (ps/pending/markwake);
	// a server reads that mark instead.
	Command bool
}

// New opens the database, applies migrations, makes sure a signing key
// exists and builds the HTTP application. The caller must Close it.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opt Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	// Log lines written under a traced request carry its trace id.
	log = slog.New(telemetry.LogHandler(log.Handler()))
	a := &App{Config: cfg, Log: log, Now: now}

	st, err := store.Open(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	a.Store = st
	st.SetPoolSize(cfg.DatabaseMaxConns)
	if opt.TracerProvider != nil {
		if err := st.Trace(); err != nil {
			a.Close()
			return nil, fmt.Errorf("trace database calls: %w", err)
		}
	}
	if err := st.MigrateUp(ctx); err != nil {
		a.Close()
		return nil, fmt.Errorf("apply migrations: %w", err)
	}

	secret, generated, err := cfg.KeyEncryptionSecret()
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("key-encryption secret: %w", err)
	}
	if generated {
		log.Warn("development mode generated a key-encryption secret in the data directory", "dir", cfg.DataDir())
	}
	sealer, err := keys.NewSealer(secret)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Keys = keys.NewManager(st, sealer, now, keys.Options{Alg: cfg.SigningAlg})
	if created, err := a.Keys.EnsureActive(ctx); err != nil {
		a.Close()
		return nil, fmt.Errorf("signing keys: %w", err)
	} else if created {
		log.Info("created the first PS signing key", "alg", cfg.SigningAlg)
	}

	roots, err := cfg.RootCAs()
	if err != nil {
		a.Close()
		return nil, err
	}
	resolve, _ := cfg.ResolveMap()
	egress, _ := cfg.EgressPrefixes()
	client, err := fetch.New(fetch.Config{
		AllowLoopbackHTTP: cfg.Dev,
		EgressAllow:       egress,
		RootCAs:           roots,
		Resolve:           resolve,
		UserAgent:         "aauth-ps/" + version.Version,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Discovery = fetch.NewDiscovery(client, fetch.DiscoveryOptions{
		Now:                  now,
		AllowCrossOriginJWKS: cfg.AllowCrossOriginJWKS,
		AllowLoopbackHTTP:    cfg.Dev,
	})

	policy, err := agents.ParsePolicy(cfg.AgentProviderPolicy)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Agents = agents.New(st, now, policy)
	rpHost := cfg.IssuerAuthority()
	if h, _, err := net.SplitHostPort(rpHost); err == nil {
		rpHost = h
	}
	a.Accounts, err = account.New(st, now, account.Options{RPID: rpHost, RPOrigins: []string{cfg.Issuer}, Log: log, Argon2: opt.Argon2})
	if err != nil {
		a.Close()
		return nil, err
	}
	var notifier pending.Notifier
	switch {
	case st.Dialect() == store.DialectPostgres:
		pn, err := pgnotify.New(ctx, cfg.DatabaseURL, log)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("pending-request notifier: %w", err)
		}
		notifier, a.notifier = pn, pn
	case opt.Command:
		notifier = markwake.Announce(st, log)
	default:
		mw := markwake.Watch(ctx, st, markwake.Interval, log)
		notifier, a.notifier = mw, mw
	}
	// The auth token flow needs the engine, and the engine its check of
	// an updated_request: bound once both exist.
	var authTokens *authtoken.Service
	updatedRequest := func(ctx context.Context, r *pending.Request, body map[string]any) (json.RawMessage, error) {
		return authTokens.UpdatedRequest(ctx, r, body)
	}
	members := func(r *pending.Request) map[string]any {
		if authTokens == nil {
			return nil
		}
		return authTokens.PendingMembers(r)
	}
	a.Engine = pending.New(st, notifier, now, pending.Options{Issuer: cfg.Issuer, Lifetime: cfg.PendingLifetime, Log: log,
		OnUpdatedRequest: updatedRequest, Members: members,
		PassedInteraction: func(r *pending.Request) (string, string) {
			if authTokens == nil {
				return "", ""
			}
			return authTokens.PassedInteraction(r)
		},
		// A success goes to the agent only while it is still bound to
		// the request's person, read in the deciding transaction (A-40 (c)).
		Deliverable: func(ctx context.Context, st pending.Store, r *pending.Request) error {
			br, _ := st.(interact.BindingReader)
			return a.Interact.Deliverable(ctx, br, r)
		},
		Limits: pending.Limits{PerAgent: cfg.PendingMaxPerAgent, PerProvider: cfg.PendingMaxPerProvider,
			PerClient: cfg.PendingMaxPerClient, FirstContactsPerMinute: cfg.PendingFirstContactsPerMinute,
			MaxBytes: cfg.PendingMaxBytes}})
	a.Interact, err = interact.New(interact.Options{
		Issuer: cfg.Issuer, Engine: a.Engine, Agents: a.Agents, Accounts: a.Accounts, Bound: st,
		Discovery: a.Discovery, Egress: client, Identifiers: cfg.Identifiers(), Now: now, Logger: log,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Tokens, err = tokens.New(tokens.Options{Issuer: cfg.Issuer, Signer: a.Keys, Store: st, Now: now, Log: log})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Missions, err = missionflow.New(missionflow.Options{Issuer: cfg.Issuer, Store: st, Now: now, Log: log})
	if err != nil {
		a.Close()
		return nil, err
	}
	resources := interact.Resources{Discovery: a.Discovery}
	missionPolicy, err := composition.LoadConfig(cfg.MissionPolicy, cfg.Dev)
	if err != nil {
		a.Close()
		return nil, err
	}
	flows := &missionflow.Flows{Missions: a.Missions, Interact: a.Interact, Engine: a.Engine, Agents: a.Agents, DB: st,
		Composition: missionPolicy}
	a.Flows = flows
	a.APITokens = apitoken.New(st, now)
	kinds := &missionflow.Kinds{Flows: flows, Tokens: a.Tokens, Resources: resources, Issuer: cfg.Issuer, Now: now, Log: log}
	kinds.Register(a.Interact)
	// The PS's one signer for its own outgoing requests (R3 fetches,
	// revocations; federation next).
	psSigner := &pssign.Signer{Issuer: cfg.Issuer, Keys: a.Keys}
	// Sub-agent tokens are agent tokens, verified by the request verifier
	// built below.
	var verifier *httpsig.Verifier
	chains := chain.New(chain.Options{Issuer: cfg.Issuer, Keys: a.Keys, Access: a.Discovery, Records: a.Tokens,
		Bindings: a.Agents, Revocations: st, AcceptAlgs: aauth.SupportedAlgs, Window: cfg.SignatureWindow, Now: now,
		MissionEnded: func(ctx context.Context, s256 string) error {
			m, err := a.Missions.Get(ctx, s256)
			if err != nil {
				return nil // not found or unreadable: the revocation answers
			}
			if ok, reason := m.State().Active(now()); !ok {
				return mission.Terminated(reason)
			}
			return nil
		},
		SubAgents: chain.SubAgentFunc(func(ctx context.Context, raw string, parent *httpsig.Agent) (*httpsig.Agent, error) {
			return verifier.VerifySubAgentToken(ctx, raw, parent)
		})})
	// The one Mission composition decision point, shared by the token,
	// person-token and permission endpoints (and federation's four-party).
	a.Decisions = &composition.Point{Issuer: cfg.Issuer, Config: missionPolicy, Now: now}
	flows.Decisions = a.Decisions
	asPolicy, err := federation.ParsePolicy(cfg.AccessServerPolicy)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.AccessServers = federation.NewTrust(st, asPolicy, now)
	a.Audit = &audit.Recorder{Store: st, Log: log, Now: now}
	fed := &authtoken.Federation{
		Client: federation.New(federation.Options{Issuer: cfg.Issuer, Discovery: a.Discovery, HTTP: client, Signer: psSigner,
			Now: now, Window: cfg.SignatureWindow, AcceptAlgs: aauth.SupportedAlgs, Logger: log, Budget: cfg.AccessServerWait}),
		Trusted:   a.AccessServers.Admit,
		Presented: a.AccessServers.Presented,
		Billing:   a.AccessServers.Billing, SetBilling: a.AccessServers.SetBilling,
		Release: func(ctx context.Context, personID, as string, required []string) (map[string]any, error) {
			p, err := a.Accounts.Person(ctx, personID)
			if err != nil {
				return nil, err
			}
			return a.AccessServers.Release(ctx, personID, as, required, personClaims(p))
		},
		Claims: claimChoices(a),
	}
	personTokens := persontoken.New(persontoken.Options{Issuer: cfg.Issuer, Identifiers: cfg.Identifiers(),
		Interact: a.Interact, Missions: flows, MissionKind: kinds, Tokens: a.Tokens, Engine: a.Engine,
		Resources: resources, DB: st, Now: now, Chain: chains, Decisions: a.Decisions})
	authTokens = authtoken.New(authtoken.Options{Issuer: cfg.Issuer, Interact: a.Interact, Missions: flows, MissionKind: kinds,
		Tokens: a.Tokens, Engine: a.Engine, Resources: resources, Discovery: a.Discovery, R3: client, SignRequest: func(ctx context.Context, _ string, req *http.Request) error { return psSigner.Sign(ctx, req, nil) }, OwnKeys: a.Keys, DB: st, Now: now,
		Window: cfg.SignatureWindow, AcceptAlgs: aauth.SupportedAlgs, Identifiers: cfg.Identifiers(), Logger: log, Chain: chains,
		Decisions: a.Decisions, Federation: fed, PollLease: cfg.AccessServerPollLease, LegacyPersonTokenJTI: cfg.LegacyPersonTokenJTI})
	a.stopPolls = authTokens.Shutdown
	a.resumePolls = authTokens.Resume
	a.pollLoops = authTokens.PollLoops
	a.sweepFederated = authTokens.SweepExpired
	permissions := permissionflow.New(permissionflow.Options{Issuer: cfg.Issuer, Interact: a.Interact, Missions: flows,
		MissionKind: kinds, Engine: a.Engine, DB: st, Now: now, Logger: log, Decisions: a.Decisions})

	a.Revocation, err = revocation.New(revocation.Options{
		Issuer: cfg.Issuer, Store: st, Now: now, Logger: log, Pending: a.Engine,
		InTx: func(ctx context.Context, f func(revocation.Store) error) error {
			return st.InTx(ctx, func(tx *store.Store) error { return f(tx) })
		},
		Sender: &revocation.HTTPSender{Metadata: a.Discovery, Client: client,
			Signer: psSigner, PresentedTo: st.Presentations, Identifiers: cfg.Identifiers()},
	})
	if err != nil {
		a.Close()
		return nil, err
	}

	flows.RevokeTokens = func(ctx context.Context, tx *store.Store, personID, agentIss, agentSub string) error {
		id, err := a.Revocation.CascadeAgent(ctx, tx, revocation.AgentFilter{AgentIss: agentIss, AgentSub: agentSub, PersonID: personID})
		if err == nil && id != "" {
			tx.AfterCommit(func() { a.Revocation.Deliver(ctx, id) })
		}
		return err
	}

	lo := lifecycle.Options{Issuer: cfg.Issuer, DB: st, Revoker: a.Revocation,
		Releaser: a.Interact, Signer: a.Keys, Now: now, Log: log,
		HoldTimeout: cfg.MissionHoldTimeout, KeepTokensOnSuspend: !cfg.MissionSuspendRevokes,
		Risk: governance.RiskPolicy{Hits: cfg.MissionRiskExclusions, Window: cfg.MissionRiskWindow}}
	if cfg.EvidenceTSAURL != "" {
		if a.Stamps, err = newStamps(cfg, st, fetch.Config{AllowLoopbackHTTP: cfg.Dev, EgressAllow: egress, RootCAs: roots,
			Resolve: resolve, UserAgent: "aauth-ps/" + version.Version}, now, log); err != nil {
			a.Close()
			return nil, err
		}
		lo.Stamps = a.Stamps
	}
	a.Lifecycle, err = lifecycle.New(lo)
	if err != nil {
		a.Close()
		return nil, err
	}
	// The terminal outcomes of a mission's revocations are evidenced on
	// its chain (design §5, §7 revocation_result).
	a.Revocation.UseEvidence(a.Lifecycle)
	a.Decisions.Risk = a.Lifecycle.Risk
	// Every termination is the lifecycle's, evidenced with the change
	// (design §5, §7): a completion the person accepts, an agent's binding
	// ended, an expiry or a hold timeout observed by a request or a
	// decision.
	a.Decisions.End = a.Lifecycle.Observed
	a.Missions.UseLifecycle(a.endMission)
	// A checkpoint recorded (anywhere: composition.Point.StepsRecorded)
	// decides again the mission's requests waiting for it.
	a.Decisions.Resume = func(ctx context.Context, m *mission.Record, steps []string) {
		if _, err := a.Interact.ResumeSteps(ctx, m.PersonID, m.S256, steps); err != nil {
			log.WarnContext(ctx, "decide requests waiting for mission steps", "mission", m.S256, "err", err)
		}
	}
	a.Evidence = &lifecycle.Exporter{Issuer: cfg.Issuer, DB: st, Keys: a.Keys, Heads: a.Lifecycle}
	if a.Stamps != nil {
		a.Evidence.Stamps = a.Stamps
	}

	ui, err := web.New(web.Options{Issuer: cfg.Issuer, Dev: cfg.Dev, Signup: cfg.AllowSignup,
		Accounts: a.Accounts, Agents: a.Agents, Interact: a.Interact, Missions: a.Missions, MissionKinds: kinds, MissionFlows: flows,
		Tokens: a.Tokens, MissionDefaultLifetime: cfg.MissionDefaultLifetime, Logger: log, Now: now,
		RemoveGrant: a.removeGrant, Permissions: st, APITokens: a.APITokens, Lifecycle: a.Lifecycle, Evidence: a.Evidence, AccessServers: a.AccessServers, Audit: a.Audit, InTx: st.InTx,
		StandingApprovals:      standingApprovalsOf(st),
		RemoveStandingApproval: st.DeletePersonTemplate,
		StandingAnswers:        standingAnswersOf(st),
		ForgetAnswer:           authTokens.ForgetAnswer,
		Decisions: func(ctx context.Context, s256 string) ([]composition.Listed, error) {
			return composition.Decisions(ctx, st, s256)
		}})
	if err != nil {
		a.Close()
		return nil, err
	}

	authorities := []string{cfg.IssuerAuthority()}
	authorities = append(authorities, cfg.AuthorityAliases...)
	verifier, err = httpsig.New(httpsig.Config{
		Issuer:        cfg.Issuer,
		Authorities:   authorities,
		Window:        cfg.SignatureWindow,
		AcceptAlgs:    aauth.SupportedAlgs,
		Now:           now,
		Discovery:     a.Discovery,
		Replay:        st.WithClock(now),
		Revocations:   st,
		Providers:     a.Agents,
		Identifiers:   cfg.Identifiers(),
		StrictPSClaim: cfg.StrictPSClaim,
		Logger:        log,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	srv, err := server.New(server.Options{
		Tracing:         opt.TracerProvider,
		Issuer:          cfg.Issuer,
		Name:            cfg.Name,
		Description:     cfg.Description,
		TrustedProxies:  cfg.TrustedProxyPrefixes(),
		RequireProxy:    cfg.TLSCert == "" && len(cfg.TrustedProxies) > 0,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		SignatureWindow: cfg.SignatureWindow,
		Verifier:        verifier,
		DB:              st,
		Keys:            a.Keys,
		Logger:          log,
		Engine:          a.Engine,
		Interact:        a.Interact,
		Web:             ui,
		PersonToken:     personTokens,
		AuthToken:       authTokens,
		Permission:      permissions,
		Missions:        flows,
		Identifiers:     cfg.Identifiers(),
		AfterVerify:     a.providerSeen,
		AgentAccepted:   a.agentAccepted,
		Revocation:      a.Revocation,
		Providers:       a.Agents,
		Limits:          ratelimit.NewSet(cfg.RateLimits.Rules(), now),
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Server = srv
	return a, nil
}

// newStamps builds the anchoring of signed chain heads with the TSA at
// --evidence-tsa-url, through an egress-guarded client of its own (the
// PS's policy, trust roots and --resolve; the TSA exchange's timeout and a
// response bound a time-stamp reply never needs more than).
func newStamps(cfg *config.Config, st *store.Store, fc fetch.Config, now func() time.Time, log *slog.Logger) (*timestamping.Service, error) {
	roots, err := cfg.EvidenceTSARootPool()
	if err != nil {
		return nil, err
	}
	fc.Timeout, fc.MaxBytes = timestamping.RequestTimeout, timestamping.MaxResponseBytes
	client, err := fetch.New(fc)
	if err != nil {
		return nil, err
	}
	return timestamping.New(timestamping.Options{URL: cfg.EvidenceTSAURL, HTTP: client, DB: st, Roots: roots, Now: now, Log: log})
}

// providerSeen records a provider whose agent just verified, with the
// display values of its (cached) metadata.
func (a *App) providerSeen(ctx context.Context, issuer string) {
	var d agents.Display
	if md, err := a.Discovery.Metadata(ctx, issuer, aauth.DWKAgent); err == nil {
		d.Name, _ = md["name"].(string)
		d.Description, _ = md["description"].(string)
		d.LogoURI, _ = md["logo_uri"].(string)
	}
	if err := a.Agents.Seen(ctx, issuer, d); err != nil {
		a.Log.WarnContext(ctx, "record agent provider", "err", err)
	}
}

// removeGrant removes one of the person's grants and, in the same
// transaction, revokes what it let the agent have at that resource: its
// auth tokens for a scope or R3 grant, also its person tokens (and what was
// issued from them) for a consent; the downstream revocations go out once
// it commits.
func (a *App) removeGrant(ctx context.Context, personID string, key tokens.GrantKey) error {
	return a.Store.InTx(ctx, func(tx *store.Store) error {
		// The revocation lock first: an issuance holding it shared may
		// be about to touch this grant (issue 8).
		if err := tx.LockRevocations(ctx); err != nil {
			return err
		}
		if err := a.Tokens.WithStore(tx).RemoveGrant(ctx, personID, key); err != nil {
			return err
		}
		id, err := a.Revocation.CascadeAgent(ctx, tx, revocation.AgentFilter{AgentIss: key.AgentIss, AgentSub: key.AgentSub,
			PersonID: personID, Resource: key.Resource, AuthOnly: key.Kind != tokens.GrantConsent})
		if err == nil && id != "" {
			tx.AfterCommit(func() { a.Revocation.Deliver(ctx, id) })
		}
		return err
	})
}

// endMission ends a mission through the lifecycle (missionflow's
// Ender), in the transaction st is bound to (a savepoint of it): its
// evidence commits with it, and the downstream revocations go once it
// committed.
func (a *App) endMission(ctx context.Context, st missionflow.Store, s256 string, reason mission.Reason, by governance.Actor) error {
	base, ok := st.(*store.Store)
	if !ok {
		return fmt.Errorf("app: cannot end mission %s outside the PS's store", s256)
	}
	return a.Lifecycle.End(ctx, base, s256, reason, by)
}

// agentRecordTimeout bounds the accepted-token record's write once the
// request's own context no longer bounds it.
const agentRecordTimeout = 10 * time.Second

// agentAccepted remembers an accepted agent token's (iss, jti) and sub, so
// that its provider's revocation cascades by the agent's sub (PS-293):
// the signer's, and the sub-agent token the request carried (P§sub-agents).
// The server writes it before the answer and answers 500 when it fails.
// A token already recorded by this process costs no write (RememberOnce).
func (a *App) agentAccepted(ctx context.Context, ag *httpsig.Agent) error {
	for _, t := range []*httpsig.Agent{ag, ag.SubAgent} {
		if t == nil {
			continue
		}
		if err := t.RememberOnce(func() error {
			// Detached from the request's cancellation: a client that
			// drops the connection does not undo the record its answer
			// depends on.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), agentRecordTimeout)
			defer cancel()
			return a.Store.RememberAgentToken(ctx, t.Provider, t.TokenJTI, t.ID, t.TokenExp)
		}); err != nil {
			return fmt.Errorf("record accepted agent token: %w", err)
		}
	}
	return nil
}

// FederationPollLoops is how many background loops of this App poll
// access servers now (four-party deferred requests); none after Close.
func (a *App) FederationPollLoops() int {
	if a.pollLoops == nil {
		return 0
	}
	return a.pollLoops()
}

// Close releases the database.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		a.stopPolling(context.Background())
		if a.notifier != nil {
			a.notifier.Close()
		}
		if a.Store != nil {
			if err := a.Store.Close(); err != nil {
				a.Log.Warn("close database", "err", err)
			}
		}
	})
}

// TLSConfig is the server TLS configuration: TLS 1.2 or later (PS-247).
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS key pair: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// Serve answers on ln until ctx is cancelled, then shuts down gracefully.
// It also runs housekeeping (expired replay entries, revocations, retired keys).
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           a.Server.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second, // long-polling (Prefer: wait) needs room
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	if a.Config.TLSCert != "" {
		tc, err := TLSConfig(a.Config.TLSCert, a.Config.TLSKey)
		if err != nil {
			return err
		}
		hs.TLSConfig = tc
		ln = tls.NewListener(ln, tc)
	}
	hkCtx, stopHK := context.WithCancel(ctx)
	retriesDone := make(chan struct{})
	defer func() {
		stopHK()
		a.waitRetries(retriesDone)
	}()
	go a.housekeeping(hkCtx)
	go func() {
		defer close(retriesDone)
		a.retryRevocations(hkCtx)
	}()
	if a.resumePolls != nil {
		if n, err := a.resumePolls(ctx); err != nil {
			a.Log.Warn("start: resume polling access servers", "err", err)
		} else if n > 0 {
			a.Log.Info("start: resumed polling access servers", "requests", n)
		}
	}

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	start := time.Now()
	a.Log.Info("shutting down: no new requests; waiting for those in flight",
		"timeout_ms", a.Config.ShutdownTimeout.Milliseconds())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		a.Log.Warn("shutdown incomplete", "duration_ms", time.Since(start).Milliseconds(), "err", err)
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	a.stopPolling(shutdownCtx)
	a.Log.Info("shut down", "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// stopPolling stops the background polling of access servers, waiting
// for the loops at most the shutdown timeout (and ctx).
func (a *App) stopPolling(ctx context.Context) {
	if a.stopPolls == nil {
		return
	}
	timeout := 5 * time.Second
	if a.Config != nil && a.Config.ShutdownTimeout > 0 {
		timeout = a.Config.ShutdownTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := a.stopPolls(ctx); err != nil {
		a.Log.Warn("shutdown: access server polling did not stop in time", "err", err)
	}
}

// SettleExpiredFederated ends every open four-party request past its
// expiry and gives its mission reservation back (one transaction each,
// with token_delivered evidence, outcome not_delivered). Housekeeping runs
// it before the pending engine's ExpireDue.
func (a *App) SettleExpiredFederated(ctx context.Context) (int, error) {
	if a.sweepFederated == nil {
		return 0, nil
	}
	return a.sweepFederated(ctx)
}

// retryRevocations attempts, every revocation.RetryTick until ctx ends,
// the downstream revocations whose retry is due (design §5: a delivery
// of a cascade the PS started that ended revocation_unavailable, backing
// off 1 s → 60 s until the token's exp). Every replica runs it; each due
// retry is claimed by one. A failing database is logged once a minute.
func (a *App) retryRevocations(ctx context.Context) {
	t := time.NewTicker(revocation.RetryTick)
	defer t.Stop()
	var warned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := a.Revocation.RetryDue(ctx); err != nil && ctx.Err() == nil && time.Since(warned) >= time.Minute {
			warned = time.Now()
			a.Log.Warn("revocation retries: attempt the due downstream revocations", "err", err)
		}
	}
}

// waitRetries waits, at most the shutdown timeout, for the retry loop to
// end (its attempts in flight end with its context; their claims lapse
// and a replica or the restarted PS attempts them again).
func (a *App) waitRetries(done <-chan struct{}) {
	timeout := 5 * time.Second
	if a.Config != nil && a.Config.ShutdownTimeout > 0 {
		timeout = a.Config.ShutdownTimeout
	}
	select {
	case <-done:
	case <-time.After(timeout):
		a.Log.Warn("shutdown: the revocation retries did not stop in time")
	}
}

func (a *App) housekeeping(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := a.Store.PurgeExpired(ctx, a.Now()); err != nil {
			a.Log.Warn("housekeeping: purge expired rows", "err", err)
		} else if n > 0 {
			a.Log.Debug("housekeeping: purged expired rows", "rows", n)
		}
		if _, err := a.Store.PurgeRevocationState(ctx, a.Now().Add(-store.RevocationPurgeGrace)); err != nil {
			a.Log.Warn("housekeeping: purge revocation state", "err", err)
		}
		if _, err := a.Keys.PruneExpired(ctx); err != nil {
			a.Log.Warn("housekeeping: prune retired keys", "err", err)
		}
		if _, err := a.SettleExpiredFederated(ctx); err != nil {
			a.Log.Warn("housekeeping: settle expired four-party requests", "err", err)
		}
		if _, err := a.Engine.ExpireDue(ctx); err != nil {
			a.Log.Warn("housekeeping: expire pending requests", "err", err)
		}
		if _, err := a.Engine.Purge(ctx); err != nil {
			a.Log.Warn("housekeeping: purge pending requests", "err", err)
		}
		if _, err := a.Store.PurgePresentations(ctx, a.Now().Add(-store.RevocationPurgeGrace)); err != nil {
			a.Log.Warn("housekeeping: purge access-server presentations", "err", err)
		}
		if _, err := a.Tokens.Purge(ctx); err != nil {
			a.Log.Warn("housekeeping: purge person-token records", "err", err)
		}
		if _, err := a.Accounts.Purge(ctx); err != nil {
			a.Log.Warn("housekeeping: purge sessions and invites", "err", err)
		}
		if _, err := a.Store.PurgeAuditEvents(ctx, a.Now().Add(-a.Config.AuditRetention)); err != nil {
			a.Log.Warn("housekeeping: purge audit events", "err", err)
		}
		if _, err := a.Lifecycle.SettleDue(ctx); err != nil {
			a.Log.Warn("housekeeping: end missions held past their hold", "err", err)
		}
		if _, err := a.Lifecycle.SignHeadsDue(ctx); err != nil {
			a.Log.Warn("housekeeping: sign evidence chain heads", "err", err)
		}
		if a.Stamps != nil {
			if _, err := a.Stamps.AnchorDue(ctx); err != nil {
				a.Log.Warn("housekeeping: timestamp evidence chain heads", "err", err)
			}
		}
	}
}

// claimChoices wires the person's choice on releasing claims to an access
// server to the trust service, with the person's claims.
func claimChoices(a *App) authtoken.ClaimChoices {
	with := func(f func(ctx context.Context, personID, as string, required []string, have map[string]any) (map[string]any, error)) func(ctx context.Context, personID, as string, required []string) (map[string]any, error) {
		return func(ctx context.Context, personID, as string, required []string) (map[string]any, error) {
			p, err := a.Accounts.Person(ctx, personID)
			if err != nil {
				return nil, err
			}
			return f(ctx, personID, as, required, personClaims(p))
		}
	}
	return authtoken.ClaimChoices{
		Offer: with(func(ctx context.Context, _, as string, required []string, have map[string]any) (map[string]any, error) {
			return a.AccessServers.Offer(ctx, as, required, have)
		}),
		Allow:  with(a.AccessServers.Allow),
		Refuse: a.AccessServers.Refuse,
	}
}

// personClaims are the person's identity claims an access server may be
// released (federation.Releasable; never sub).
func personClaims(p *account.Person) map[string]any {
	out := map[string]any{}
	if p.Name != "" {
		out["name"] = p.Name
	}
	if p.Email != "" {
		out["email"], out["email_verified"] = p.Email, p.EmailVerified
	}
	if p.Tenant != "" {
		out["tenant"] = p.Tenant
	}
	if len(p.Groups) > 0 {
		out["groups"] = p.Groups
	}
	if len(p.Roles) > 0 {
		out["roles"] = p.Roles
	}
	return out
}
