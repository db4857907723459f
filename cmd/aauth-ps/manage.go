package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/apitoken"
	"github.com/aauth-ps/aauth-ps/ps/app"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// The operator's nouns: `aauth-ps <noun> <verb> [ARGS] [flags]`. Each verb
// opens the same wiring as serve (app.New, so the same configuration is
// needed) and acts through the services the web UI uses, so the same rules
// and cascades run; each change is logged as the UI logs it, with
// by=cli.
var nounVerbs = map[string][]string{
	"persons":    {"list", "create", "disable", "enable", "make-admin", "invite", "roles"},
	"agents":     {"list", "revoke", "unbind"},
	"providers":  {"list", "allow", "block"},
	"missions":   {"list", "show", "export", "suspend", "resume", "revoke"},
	"api-tokens": {"create", "list", "revoke"},
	"evidence":   {"export", "verify"},
	// Four-party (issue 11): the access servers this PS federates with.
	"access-servers": {"list", "trust", "distrust"},
	// Issue 14: the administrator's audit trail.
	"audit": {"list"},
}

// manageFlags are the verbs' own flags; everything else is configuration.
type manageFlags struct {
	json         bool
	admin        bool
	name         string
	email        string
	passwordFile string
	scope        string
	expires      time.Duration
	hold         time.Duration // missions suspend
	mission      string        // evidence export
	out          string        // evidence export
	claims       string
	claimsSet    bool
}

// splitManageArgs takes the verbs' own flags and the positional arguments
// out of args, wherever they stand, and leaves the configuration flags.
func splitManageArgs(args []string) (own manageFlags, positional, cfgArgs []string, err error) {
	probe := flag.NewFlagSet("probe", flag.ContinueOnError)
	(&config.Config{}).Register(probe)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "json", "admin", "name", "email", "password-file", "scope", "expires", "hold", "mission", "out", "claims", "h", "help":
		default:
			if probe.Lookup(name) == nil {
				// Not a flag: an argument that starts with "-", such as a
				// mission's s256 (base64url).
				positional = append(positional, a)
				continue
			}
		}
		next := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		switch name {
		case "json":
			own.json = !hasValue || value == "true"
		case "admin":
			own.admin = !hasValue || value == "true"
		case "name":
			own.name, err = next()
		case "email":
			own.email, err = next()
		case "password-file":
			own.passwordFile, err = next()
		case "scope":
			own.scope, err = next()
		case "claims":
			own.claims, err = next()
			own.claimsSet = true
		case "expires":
			var v string
			if v, err = next(); err == nil {
				own.expires, err = time.ParseDuration(v)
			}
		case "hold":
			var v string
			if v, err = next(); err == nil {
				own.hold, err = time.ParseDuration(v)
			}
		case "mission":
			own.mission, err = next()
		case "out":
			own.out, err = next()
		default:
			cfgArgs = append(cfgArgs, a)
			f := probe.Lookup(name)
			if f == nil || hasValue || i+1 >= len(args) {
				continue
			}
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				i++
				cfgArgs = append(cfgArgs, args[i])
			}
		}
		if err != nil {
			return own, nil, nil, err
		}
	}
	return own, positional, cfgArgs, nil
}

// manage runs one noun-verb command.
func manage(ctx context.Context, noun, verb string, own manageFlags, args []string, cfg *config.Config, log *slog.Logger, stdout, stderr io.Writer) error {
	want := map[string]int{ // positional arguments each verb takes (-1: 0 or 1)
		"persons list": 0, "persons create": 1, "persons disable": 1, "persons enable": 1, "persons make-admin": 1, "persons invite": -1,
		"persons roles": -2,
		"agents list":   1, "agents revoke": 2, "agents unbind": 2,
		"providers list": 0, "providers allow": 1, "providers block": 1,
		"missions list": -1, "missions show": 1, "missions export": 1,
		"missions suspend": 1, "missions resume": 1, "missions revoke": 1, "evidence export": 0,
		"api-tokens create": 1, "api-tokens list": 0, "api-tokens revoke": 1,
		"access-servers list": 0, "access-servers trust": 1, "access-servers distrust": 1,
		"audit list": 0,
	}
	n, ok := want[noun+" "+verb]
	if !ok {
		return fmt.Errorf("%s: unknown subcommand %q (want %s)", noun, verb, strings.Join(nounVerbs[noun], ", "))
	}
	if (n >= 0 && len(args) != n) || (n == -1 && len(args) > 1) || (n == -2 && !rolesArgsOK(args)) {
		return fmt.Errorf("%s %s: wrong arguments %q; see 'aauth-ps help'", noun, verb, args)
	}
	a, err := app.New(ctx, cfg, log, app.Options{Command: true})
	if err != nil {
		return err
	}
	defer a.Close()
	m := &manager{a: a, log: log, out: stdout, errOut: stderr, json: own.json}
	if err := m.run(ctx, noun, verb, own, args); err != nil {
		return err
	}
	if !a.SettleStamps(ctx, stampWait) {
		log.WarnContext(ctx, "evidence: a chain head's time-stamp was not answered in time; the server's sweep asks again")
	}
	return m.settleRevocations(ctx)
}

// stampWait bounds how long a command waits for the time-stamps of the
// chain heads its change signed.
const stampWait = 15 * time.Second

// revocationWait bounds how long a command waits for the downstream
// revocations its change started before it exits.
const revocationWait = 30 * time.Second

// settleRevocations delivers the downstream revocations a verb started
// (agents revoke and unbind) before the process exits, and reports each
// recipient's outcome: on stdout as text (stderr with --json, so the JSON
// stays one document) and in the log.
func (m *manager) settleRevocations(ctx context.Context) error {
	outcomes, settled, err := m.a.SettleRevocations(ctx, revocationWait)
	if err != nil || len(outcomes) == 0 {
		return err
	}
	m.log.InfoContext(ctx, "downstream revocations", "by", "cli", "outcomes", outcomes, "settled", settled)
	w := m.out
	if m.json {
		w = m.errOut
	}
	recipients := make([]string, 0, len(outcomes))
	for r := range outcomes {
		recipients = append(recipients, r)
	}
	slices.Sort(recipients)
	for _, r := range recipients {
		fmt.Fprintf(w, "downstream revocation at %s: %s\n", r, outcomes[r])
	}
	if !settled {
		fmt.Fprintf(w, "some downstream revocations were not answered within %s; they are recorded as pending\n", revocationWait)
	}
	return nil
}

func (m *manager) run(ctx context.Context, noun, verb string, own manageFlags, args []string) error {
	switch noun + " " + verb {
	case "persons list":
		return m.personsList(ctx)
	case "persons create":
		return m.personsCreate(ctx, args[0], own)
	case "persons disable", "persons enable":
		return m.personsSetDisabled(ctx, args[0], verb == "disable")
	case "persons make-admin":
		return m.personsMakeAdmin(ctx, args[0])
	case "persons roles":
		return m.personsRoles(ctx, args)
	case "persons invite":
		email := own.email
		if len(args) == 1 {
			email = args[0]
		}
		return m.personsInvite(ctx, email, own.admin)
	case "agents list":
		return m.agentsList(ctx, args[0])
	case "agents revoke", "agents unbind":
		return m.agentsEnd(ctx, args[0], args[1], verb == "unbind")
	case "providers list":
		return m.providersList(ctx)
	case "providers allow":
		return m.providersSet(ctx, args[0], agents.ProviderAllowed)
	case "providers block":
		return m.providersSet(ctx, args[0], agents.ProviderBlocked)
	case "missions list":
		return m.missionsList(ctx, args)
	case "missions show":
		return m.missionsShow(ctx, args[0], false)
	case "missions export":
		return m.missionsShow(ctx, args[0], true)
	case "missions suspend", "missions resume", "missions revoke":
		return m.missionsLifecycle(ctx, verb, args[0], own.hold)
	case "evidence export":
		return m.evidenceExport(ctx, own.mission, own.out)
	case "api-tokens create":
		return m.apiTokensCreate(ctx, args[0], own)
	case "access-servers list":
		return m.accessServersList(ctx)
	case "access-servers trust":
		return m.accessServersSet(ctx, args[0], federation.StatusTrusted, own)
	case "access-servers distrust":
		return m.accessServersSet(ctx, args[0], federation.StatusDistrusted, own)
	case "api-tokens list":
		return m.apiTokensList(ctx)
	case "audit list":
		return m.auditList(ctx)
	case "api-tokens revoke":
		return m.apiTokensRevoke(ctx, args[0])
	}
	return nil
}

type manager struct {
	a      *app.App
	log    *slog.Logger
	out    io.Writer
	errOut io.Writer
	json   bool
}

// cliChange is an administrative change made by the CLI (by=cli).
func cliChange(action, target, message string, detail map[string]any) audit.Change {
	if detail == nil {
		detail = map[string]any{}
	}
	return audit.Change{By: audit.Actor{Kind: audit.ActorCLI}, Action: action, Target: target, Message: message, Detail: detail}
}

// audited makes a change and writes its audit row (issue 14) in the
// change's transaction, then logs it, as the web UI does (audit.Commit):
// a failed write undoes the change; a refusal records nothing.
func (m *manager) audited(ctx context.Context, rec *audit.Change, change func(tx *store.Store) error) error {
	return audit.Commit(ctx, m.a.Audit, m.a.Store.InTx, rec, change)
}

// print writes v as JSON with --json, else the table rows.
func (m *manager) print(v any, header string, rows [][]string) error {
	if m.json {
		enc := json.NewEncoder(m.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(m.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// done reports a change: a sentence, or {"ok":true,...} with --json.
func (m *manager) done(msg string, fields map[string]any) error {
	if m.json {
		out := map[string]any{"ok": true}
		for k, v := range fields {
			out[k] = v
		}
		return json.NewEncoder(m.out).Encode(out)
	}
	_, err := fmt.Fprintln(m.out, msg)
	return err
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

type personJSON struct {
	ID       string    `json:"id"`
	Username string    `json:"username"`
	Name     string    `json:"name,omitempty"`
	Email    string    `json:"email,omitempty"`
	Admin    bool      `json:"admin"`
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created"`
}

func (m *manager) personsList(ctx context.Context) error {
	ps, err := m.a.Accounts.ListPersons(ctx)
	if err != nil {
		return err
	}
	out := []personJSON{}
	var rows [][]string
	for _, p := range ps {
		out = append(out, personJSON{p.ID, p.Username, p.Name, p.Email, p.IsAdmin, p.Disabled, p.CreatedAt.UTC()})
		rows = append(rows, []string{p.Username, p.Name, p.Email, fmt.Sprint(p.IsAdmin), fmt.Sprint(p.Disabled), ts(p.CreatedAt), p.ID})
	}
	return m.print(out, "USERNAME\tNAME\tEMAIL\tADMIN\tDISABLED\tCREATED\tID", rows)
}

func (m *manager) person(ctx context.Context, username string) (*account.Person, error) {
	p, err := m.a.Accounts.PersonByUsername(ctx, username)
	if errors.Is(err, account.ErrNotFound) {
		return nil, fmt.Errorf("no person with username %q", username)
	}
	return p, err
}

func (m *manager) personsCreate(ctx context.Context, username string, own manageFlags) error {
	np := account.NewPerson{Username: username, Name: own.name, Email: own.email, IsAdmin: own.admin}
	if own.passwordFile != "" {
		b, err := os.ReadFile(own.passwordFile)
		if err != nil {
			return fmt.Errorf("--password-file: %w", err)
		}
		np.Password = strings.TrimRight(string(b), "\r\n")
	}
	rec := cliChange("person.create", "person:"+username, "administrator created a person", map[string]any{"admin": own.admin})
	pp, err := m.a.Accounts.PreparePerson(np) // hashes: before the transaction
	if err != nil {
		return err
	}
	var p *account.Person
	if err := m.audited(ctx, &rec, func(tx *store.Store) error {
		var err error
		if p, err = m.a.Accounts.WithStore(tx).InsertPerson(ctx, pp); err == nil {
			rec.Target, rec.Detail["person"], rec.Detail["admin"] = "person:"+p.Username, p.ID, p.IsAdmin
		}
		return err
	}); err != nil {
		return err
	}
	msg := fmt.Sprintf("created %s (%s)", p.Username, p.ID)
	if !p.HasPassword {
		msg += "; no password: send an invitation or let them set one"
	}
	return m.done(msg, map[string]any{"id": p.ID, "username": p.Username})
}

func (m *manager) personsSetDisabled(ctx context.Context, username string, disabled bool) error {
	p, err := m.person(ctx, username)
	if err != nil {
		return err
	}
	event, action := "administrator enabled a person", "person.enable"
	if disabled {
		event, action = "administrator disabled a person", "person.disable"
	}
	// UpdatePerson refuses to disable the last enabled administrator and
	// ends the person's sessions in the same transaction, as in the UI.
	rec := cliChange(action, "person:"+p.Username, event, map[string]any{"person": p.ID})
	if err := m.audited(ctx, &rec, func(tx *store.Store) error {
		_, err := m.a.Accounts.WithStore(tx).UpdatePerson(ctx, p.ID, account.PersonUpdate{Disabled: &disabled})
		return err
	}); err != nil {
		return err
	}
	return m.done(fmt.Sprintf("%s: disabled=%v", p.Username, disabled), map[string]any{"username": p.Username, "disabled": disabled})
}

func (m *manager) personsMakeAdmin(ctx context.Context, username string) error {
	p, err := m.person(ctx, username)
	if err != nil {
		return err
	}
	yes := true
	rec := cliChange("person.make-admin", "person:"+p.Username, "administrator made a person an administrator", map[string]any{"person": p.ID})
	if err := m.audited(ctx, &rec, func(tx *store.Store) error {
		_, err := m.a.Accounts.WithStore(tx).UpdatePerson(ctx, p.ID, account.PersonUpdate{IsAdmin: &yes})
		return err
	}); err != nil {
		return err
	}
	return m.done(p.Username+" is an administrator", map[string]any{"username": p.Username, "admin": true})
}

func (m *manager) personsInvite(ctx context.Context, email string, admin bool) error {
	token, expires, err := createInvite(ctx, m.a.Audit, m.a.Store.InTx, m.a.Accounts, email, admin)
	if err != nil {
		return err
	}
	return printInvite(m.out, m.json, m.a.Config.Issuer+"/invite/"+token, expires, admin)
}

// createInvite makes an invitation through the account service and writes
// its audit row (by=cli) in the same transaction, as the UI's invite form
// does; persons invite and admin invite share it.
func createInvite(ctx context.Context, rec *audit.Recorder, inTx func(context.Context, func(*store.Store) error) error,
	accounts *account.Service, email string, admin bool) (token string, expires time.Time, err error) {
	change := cliChange("person.invite", "invitation", "invitation created", map[string]any{"admin": admin})
	err = audit.Commit(ctx, rec, inTx, &change, func(tx *store.Store) error {
		var err error
		token, expires, err = accounts.WithStore(tx).CreateInvite(ctx, "", email, admin)
		change.Detail["expires"] = expires.UTC()
		return err
	})
	return token, expires, err
}

// printInvite shows an invitation's link: a sentence, or
// {"ok":true,"link":…,"expires":…,"admin":…} with --json.
func printInvite(w io.Writer, asJSON bool, link string, expires time.Time, admin bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(map[string]any{"ok": true, "link": link, "expires": expires.UTC(), "admin": admin})
	}
	what := "an account"
	if admin {
		what = "an administrator account"
	}
	_, err := fmt.Fprintf(w, "Open this link to create %s. It works once, until %s:\n\n  %s\n\n", what, ts(expires), link)
	return err
}

type bindingJSON struct {
	ID       string     `json:"id"`
	Provider string     `json:"provider"`
	AgentID  string     `json:"agent_id"`
	State    string     `json:"state"`
	Platform string     `json:"platform,omitempty"`
	Device   string     `json:"device,omitempty"`
	Created  time.Time  `json:"created"`
	LastSeen time.Time  `json:"last_seen"`
	Ended    *time.Time `json:"ended,omitempty"`
}

func (m *manager) agentsList(ctx context.Context, username string) error {
	p, err := m.person(ctx, username)
	if err != nil {
		return err
	}
	bs, err := m.a.Agents.Bindings(ctx, p.ID)
	if err != nil {
		return err
	}
	out := []bindingJSON{}
	var rows [][]string
	for _, b := range bs {
		out = append(out, bindingJSON{b.ID, b.Provider, b.AgentID, string(b.State), b.Platform, b.Device, b.CreatedAt.UTC(), b.LastSeenAt.UTC(), b.EndedAt})
		rows = append(rows, []string{b.ID, b.AgentID, b.Provider, string(b.State), ts(b.CreatedAt), ts(b.LastSeenAt)})
	}
	return m.print(out, "BINDING\tAGENT\tPROVIDER\tSTATE\tSINCE\tLAST SEEN", rows)
}

// agentsEnd revokes or unbinds one of a person's agents through the web
// UI's flow: its missions end and its tokens are revoked with it.
func (m *manager) agentsEnd(ctx context.Context, username, bindingID string, unbind bool) error {
	p, err := m.person(ctx, username)
	if err != nil {
		return err
	}
	event, action := "agent revoked", "agent.revoke"
	if unbind {
		event, action = "agent unbound", "agent.unbind"
	}
	rec := cliChange(action, "binding:"+bindingID, event, map[string]any{"person": p.ID, "username": p.Username})
	n := 0
	err = m.audited(ctx, &rec, func(tx *store.Store) error {
		var err error
		n, err = m.a.Flows.EndBindingIn(ctx, tx, p.ID, bindingID, unbind)
		rec.Detail["missions_ended"] = n
		return err
	})
	if errors.Is(err, agents.ErrNotFound) {
		return fmt.Errorf("%s has no agent binding %q", p.Username, bindingID)
	}
	if err != nil {
		return err
	}
	return m.done(fmt.Sprintf("%s %s; %d of its missions ended", event, bindingID, n),
		map[string]any{"binding": bindingID, "event": event, "missions_ended": n})
}

type providerJSON struct {
	Issuer   string    `json:"issuer"`
	Status   string    `json:"status"`
	Name     string    `json:"name,omitempty"`
	LastSeen time.Time `json:"last_seen"`
}

func (m *manager) providersList(ctx context.Context) error {
	ps, err := m.a.Agents.Providers(ctx)
	if err != nil {
		return err
	}
	out := []providerJSON{}
	var rows [][]string
	for _, p := range ps {
		out = append(out, providerJSON{p.Issuer, string(p.Status), p.Name, p.LastSeen.UTC()})
		rows = append(rows, []string{p.Issuer, string(p.Status), p.Name, ts(p.LastSeen)})
	}
	if !m.json {
		fmt.Fprintf(m.out, "policy: %s\n", m.a.Agents.Policy())
	}
	return m.print(out, "ISSUER\tSTATUS\tNAME\tLAST SEEN", rows)
}

func (m *manager) providersSet(ctx context.Context, issuer string, status agents.ProviderStatus) error {
	if err := m.a.Interact.CheckIssuer(issuer); err != nil {
		return fmt.Errorf("%q is not an agent provider identifier (https://host): %w", issuer, err)
	}
	rec := cliChange("provider."+string(status), "provider:"+issuer, "administrator decided on an agent provider", map[string]any{"status": string(status)})
	if err := m.audited(ctx, &rec, func(tx *store.Store) error {
		return m.a.Agents.WithStore(tx).SetProviderStatus(ctx, issuer, status, "cli")
	}); err != nil {
		return err
	}
	return m.done(fmt.Sprintf("%s: %s", issuer, status), map[string]any{"issuer": issuer, "status": string(status)})
}

type missionJSON struct {
	S256       string          `json:"s256"`
	AgentIss   string          `json:"agent_iss"`
	AgentSub   string          `json:"agent_sub"`
	PersonID   string          `json:"person_id"`
	ApprovedAt time.Time       `json:"approved_at"`
	ExpiresAt  *time.Time      `json:"expires_at,omitempty"`
	Terminated bool            `json:"terminated"`
	Reason     string          `json:"reason,omitempty"`
	Blob       json.RawMessage `json:"blob,omitempty"`
	// BlobB64 is the approved blob's exact bytes (base64url), from which
	// s256 can be recomputed; Blob is the same JSON, for reading.
	BlobB64 string      `json:"blob_b64url,omitempty"`
	Log     []entryJSON `json:"log,omitempty"`
}

type entryJSON struct {
	Seq     int64           `json:"seq"`
	At      time.Time       `json:"at"`
	Kind    string          `json:"kind"`
	Actor   string          `json:"actor"`
	Summary string          `json:"summary"`
	Body    json.RawMessage `json:"body,omitempty"`
	Digest  string          `json:"digest,omitempty"`
}

func missionOut(r *mission.Record) missionJSON {
	return missionJSON{S256: r.S256, AgentIss: r.AgentIss, AgentSub: r.AgentSub, PersonID: r.PersonID,
		ApprovedAt: r.ApprovedAt.UTC(), ExpiresAt: r.ExpiresAt, Terminated: r.Terminated, Reason: string(r.Reason)}
}

func (m *manager) missionsList(ctx context.Context, args []string) error {
	var rs []*mission.Record
	var err error
	if len(args) == 1 {
		p, perr := m.person(ctx, args[0])
		if perr != nil {
			return perr
		}
		rs, err = m.a.Missions.ForPerson(ctx, p.ID)
	} else {
		rs, err = m.a.Missions.All(ctx, 1000)
	}
	if err != nil {
		return err
	}
	out := []missionJSON{}
	var rows [][]string
	for _, r := range rs {
		out = append(out, missionOut(r))
		state := "active"
		if r.Terminated {
			state = "ended (" + string(r.Reason) + ")"
		}
		rows = append(rows, []string{r.S256, r.AgentSub, r.AgentIss, state, ts(r.ApprovedAt)})
	}
	return m.print(out, "MISSION (S256)\tAGENT\tPROVIDER\tSTATE\tAPPROVED", rows)
}

// missionsShow prints a mission and its log; export is the same as JSON
// with the approved blob and the exact update bodies, for archiving.
func (m *manager) missionsShow(ctx context.Context, s256 string, export bool) error {
	r, err := m.a.Missions.Get(ctx, s256)
	if err != nil {
		return fmt.Errorf("no mission %q: %w", s256, err)
	}
	entries, err := m.a.Missions.Entries(ctx, s256)
	if err != nil {
		return err
	}
	out := missionOut(r)
	if json.Valid(r.Blob) {
		out.Blob = r.Blob
	}
	out.BlobB64 = base64.RawURLEncoding.EncodeToString(r.Blob)
	var rows [][]string
	for _, e := range entries {
		ej := entryJSON{Seq: e.Seq, At: e.At.UTC(), Kind: e.Kind, Actor: e.Actor, Summary: e.Summary, Digest: e.Digest}
		if len(e.Body) > 0 && json.Valid(e.Body) {
			ej.Body = e.Body
		}
		out.Log = append(out.Log, ej)
		rows = append(rows, []string{fmt.Sprint(e.Seq), ts(e.At), e.Actor, e.Kind, e.Summary})
	}
	if export {
		m.json = true
	}
	if !m.json {
		fmt.Fprintf(m.out, "mission %s\n  agent:    %s (%s)\n  person:   %s\n  approved: %s\n  ended:    %v %s\n\n",
			r.S256, r.AgentSub, r.AgentIss, r.PersonID, ts(r.ApprovedAt), r.Terminated, r.Reason)
	}
	return m.print(out, "SEQ\tAT\tACTOR\tKIND\tSUMMARY", rows)
}

type apiTokenJSON struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Person   string     `json:"person"`
	Scope    string     `json:"scope"`
	Created  time.Time  `json:"created"`
	Expires  time.Time  `json:"expires"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Secret   string     `json:"token,omitempty"`
}

// apiTokensCreate makes an API token acting as username; its secret is
// printed once and never stored.
func (m *manager) apiTokensCreate(ctx context.Context, username string, own manageFlags) error {
	p, err := m.person(ctx, username)
	if err != nil {
		return err
	}
	if own.scope == "" {
		own.scope = string(apitoken.ScopeRead)
	}
	scope, err := apitoken.ParseScope(own.scope)
	if err != nil {
		return err
	}
	if scope.AllowsAdmin() && !p.IsAdmin {
		return fmt.Errorf("an admin-scoped token needs an administrator; %s is not one", p.Username)
	}
	name := own.name
	if name == "" {
		name = "cli"
	}
	rec := cliChange("api-token.create", "", "api token created", map[string]any{"person": p.ID, "username": p.Username, "scope": string(scope)})
	var secret string
	var tok *apitoken.Token
	if err := m.audited(ctx, &rec, func(tx *store.Store) error {
		var err error
		if secret, tok, err = m.a.APITokens.WithStore(tx).Create(ctx, p.ID, name, scope, own.expires); err == nil {
			rec.Target, rec.Detail["expires"] = "api-token:"+tok.ID, tok.ExpiresAt.UTC()
		}
		return err
	}); err != nil {
		return err
	}
	if m.json {
		return json.NewEncoder(m.out).Encode(apiTokenJSON{ID: tok.ID, Name: tok.Name, Person: p.Username, Scope: string(tok.Scope),
			Created: tok.CreatedAt, Expires: tok.ExpiresAt, Secret: secret})
	}
	_, err = fmt.Fprintf(m.out, "API token %s (%s, scope %s, acts as %s, expires %s). It is shown only now:\n\n  %s\n\n"+
		"Send it as: Authorization: Bearer <token>\n", tok.ID, tok.Name, tok.Scope, p.Username, ts(tok.ExpiresAt), secret)
	return err
}

func (m *manager) apiTokensList(ctx context.Context) error {
	tokens, err := m.a.APITokens.List(ctx)
	if err != nil {
		return err
	}
	persons, err := m.a.Accounts.ListPersons(ctx)
	if err != nil {
		return err
	}
	usernames := map[string]string{}
	for _, p := range persons {
		usernames[p.ID] = p.Username
	}
	out := []apiTokenJSON{}
	var rows [][]string
	for _, t := range tokens {
		out = append(out, apiTokenJSON{ID: t.ID, Name: t.Name, Person: usernames[t.PersonID], Scope: string(t.Scope),
			Created: t.CreatedAt, Expires: t.ExpiresAt, Revoked: t.RevokedAt, LastUsed: t.LastUsedAt})
		state := "live"
		if t.RevokedAt != nil {
			state = "revoked"
		} else if !t.Live(m.a.Now()) {
			state = "expired"
		}
		last := "never"
		if t.LastUsedAt != nil {
			last = ts(*t.LastUsedAt)
		}
		rows = append(rows, []string{t.ID, t.Name, usernames[t.PersonID], string(t.Scope), state, ts(t.ExpiresAt), last})
	}
	return m.print(out, "ID\tNAME\tPERSON\tSCOPE\tSTATE\tEXPIRES\tLAST USED", rows)
}

func (m *manager) apiTokensRevoke(ctx context.Context, id string) error {
	rec := cliChange("api-token.revoke", "api-token:"+id, "api token revoked", nil)
	if err := m.audited(ctx, &rec, func(tx *store.Store) error { return m.a.APITokens.WithStore(tx).Revoke(ctx, id) }); err != nil {
		if errors.Is(err, apitoken.ErrNotFound) {
			return fmt.Errorf("no unrevoked API token %q", id)
		}
		return err
	}
	return m.done("API token "+id+" revoked", map[string]any{"id": id, "revoked": true})
}
