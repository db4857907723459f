// Command aauth-ps is the AAuth Person Server.
//
//	aauth-ps serve        [flags]   run the PS (applies migrations first)
//	aauth-ps migrate up|down|status [--json] [flags]
//	aauth-ps keys list|rotate [--json] [flags]
//	aauth-ps admin invite [--json] [flags] [EMAIL]
//	aauth-ps persons|agents|providers|missions|api-tokens|access-servers VERB [ARGS] [--json] [flags]
//	aauth-ps evidence export --mission S256 [--out FILE] [flags] | verify BUNDLE [--jwks FILE] [--tsa-roots FILE]
//	aauth-ps version
//
// Every flag has an AAUTH_PS_<NAME> environment variable; see README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/app"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/telemetry/otlp"
	"github.com/aauth-ps/aauth-ps/ps/version"
)

const usage = `usage: aauth-ps <command> [flags]

commands:
  serve                 run the person server (applies pending migrations first)
  migrate up|down|status [--json]
                        apply all migrations, revert the last one, or list them
  keys list|rotate [--json]
                        list the PS signing keys, or make a new active key
  admin invite [EMAIL] [--json]
                        print a one-time link that creates an administrator
                        (the first one, on a new installation; audited)
  persons list|create USERNAME|disable USERNAME|enable USERNAME|make-admin USERNAME|invite [EMAIL]
                        [--name N] [--email E] [--admin] [--password-file F]
  persons roles add USERNAME ROLE | remove USERNAME ROLE | list [USERNAME]
                        approver roles: who may record mission steps waiting for a role (audited)
  agents list USERNAME | revoke USERNAME BINDING | unbind USERNAME BINDING
                        (revoking or unbinding ends the agent's missions and tokens, as in the UI)
  providers list|allow ISSUER|block ISSUER
  missions list [USERNAME] | show S256 | export S256 | suspend S256 [--hold 15m] | resume S256 | revoke S256
                        (suspend holds the mission's new requests; revoke ends it and revokes its tokens)
  evidence export --mission S256 [--out FILE]
                        write the mission's evidence bundle (blob, anchored objects, chain, signed heads, JWKS)
  evidence verify BUNDLE [--jwks FILE] [--tsa-roots FILE] [--json]
                        recompute every anchor, link, signature and time-stamp token offline; exit 1 naming the first bad one
  access-servers list|trust ISSUER [--claims "email name"]|distrust ISSUER
                        the access servers the PS federates with (four-party),
                        and the claims it may release to each
  api-tokens create USERNAME [--scope read|mission-control|admin] [--name N] [--expires 2160h] | list | revoke ID
                        a bearer token for the mission-control API, shown once
  audit list            the newest administrative changes (UI, CLI, API tokens), newest first
                        every command takes --json; these need serve's configuration
  version               print the version

Run 'aauth-ps serve -h' for the flags; each has an AAUTH_PS_<NAME> variable.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var sub string
	var asJSON bool
	var positional []string // migrate, keys, admin: arguments and configuration flags in any order
	switch cmd {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "aauth-ps", version.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "migrate", "keys", "admin":
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintf(stderr, "aauth-ps %s: missing subcommand\n\n%s", cmd, usage)
			return 2
		}
		sub, rest = rest[0], rest[1:]
		own, pos, cfgArgs, err := splitManageArgs(rest)
		if err == nil && own != (manageFlags{json: own.json}) {
			err = errors.New("the only flag of its own is --json")
		}
		if err != nil {
			fmt.Fprintf(stderr, "aauth-ps %s %s: %v\n", cmd, sub, err)
			return 2
		}
		asJSON, positional, rest = own.json, pos, cfgArgs
	case "evidence":
		if len(rest) > 0 && rest[0] == "verify" {
			return evidenceVerify(rest[1:], stdout, stderr) // offline: no configuration
		}
		fallthrough
	case "persons", "agents", "providers", "missions", "api-tokens", "access-servers", "audit":
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintf(stderr, "aauth-ps %s: missing subcommand (want %s)\n", cmd, strings.Join(nounVerbs[cmd], ", "))
			return 2
		}
		return runManage(ctx, cmd, rest[0], rest[1:], stdout, stderr, getenv)
	case "serve":
	default:
		fmt.Fprintf(stderr, "aauth-ps: unknown command %q\n\n%s", cmd, usage)
		return 2
	}

	cfg, fs, err := config.Parse("aauth-ps "+cmd, rest, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "aauth-ps:", err)
		return 2
	}
	extra := append(positional, fs.Args()...)
	email := ""
	if cmd == "admin" && len(extra) == 1 {
		email, extra = extra[0], nil // the optional EMAIL of admin invite
	}
	if len(extra) > 0 {
		fmt.Fprintf(stderr, "aauth-ps %s: unexpected arguments %v\n", cmd, extra)
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel)

	switch cmd {
	case "serve":
		err = serve(ctx, cfg, log, stdout, getenv)
	case "migrate":
		err = migrate(ctx, cfg, log, sub, asJSON, stdout)
	case "keys":
		err = keysCmd(ctx, cfg, log, sub, asJSON, stdout)
	case "admin":
		err = adminCmd(ctx, cfg, log, sub, email, asJSON, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "aauth-ps:", err)
		return 1
	}
	return 0
}

// runManage parses a noun-verb command's flags (its own and the
// configuration's, in any order around the arguments) and runs it.
func runManage(ctx context.Context, noun, verb string, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	own, positional, cfgArgs, err := splitManageArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "aauth-ps %s %s: %v\n", noun, verb, err)
		return 2
	}
	cfg, _, err := config.Parse("aauth-ps "+noun, cfgArgs, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "aauth-ps:", err)
		return 2
	}
	if err := manage(ctx, noun, verb, own, positional, cfg, newLogger(stderr, cfg.LogLevel), stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "aauth-ps %s %s: %v\n", noun, verb, err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer, getenv func(string) string) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cfg.Dev {
		log.Warn("DEVELOPMENT MODE: http://localhost identifiers, loopback fetches and a generated key-encryption secret are allowed. Never run --dev in production.")
	}
	if cfg.LegacyPersonTokenJTI {
		log.Warn("--legacy-person-token-jti: an auth token request without presented_token uses this PS's own record of the token the resource token names (August 2026 agents); draft -11 requires presented_token (PS-260)")
	}
	var opts app.Options
	tp, err := otlp.FromEnv(ctx, getenv, version.Version)
	if err != nil {
		return err
	}
	if tp != nil {
		opts.TracerProvider = tp
		log.Info("OpenTelemetry tracing on (OTEL_* environment)")
		defer func() {
			// Flush the spans still queued, within a bound.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(sctx); err != nil {
				log.Warn("OpenTelemetry: spans not flushed at stop", "error", err)
			}
		}()
	}
	a, err := app.New(ctx, cfg, log, opts)
	if err != nil {
		return err
	}
	defer a.Close()
	if cfg.Pprof != "" {
		if _, err := servePprof(ctx, cfg.Pprof, log); err != nil {
			return fmt.Errorf("--pprof: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	// Outside --dev, a PS nobody can administer says how to fix that.
	needsAdmin := false
	if !cfg.Dev {
		ok, err := a.Accounts.HasEnabledAdmin(ctx)
		if err != nil {
			return err
		}
		needsAdmin = !ok
	}
	log.Info("aauth-ps listening", "issuer", cfg.Issuer, "listen", ln.Addr().String(), "version", version.Version)
	fmt.Fprintf(stdout, "\naauth-ps %s is running\n  issuer:   %s\n  metadata: %s/.well-known/aauth-person.json\n  jwks:     %s/.well-known/jwks.json\n",
		version.Version, cfg.Issuer, cfg.Issuer, cfg.Issuer)
	if cfg.Dev {
		user, pass, err := a.EnsureDevLogin(ctx)
		if err != nil {
			return fmt.Errorf("development login: %w", err)
		}
		fmt.Fprintf(stdout, "  web UI:   %s/  (development login: %s / %s)\n", cfg.Issuer, user, pass)
	}
	if needsAdmin {
		log.Warn("no enabled administrator: run 'aauth-ps admin invite' with this configuration to create one")
		fmt.Fprintf(stdout, "  no administrator yet: run 'aauth-ps admin invite' with this configuration\n"+
			"  and open the link it prints to create one (see README.md, First administrator)\n")
	}
	fmt.Fprintln(stdout)
	// Start-up (migrations, keys, templates, the development login)
	// leaves garbage the heap would keep until its first collection under
	// load: collect it and give its pages back before the PS sits idle
	// (issue 12: idle RSS).
	debug.FreeOSMemory()
	collectLessOftenWhileServing()
	return a.Serve(ctx, ln)
}

// servingGCPercent is the collector's target once the PS serves: the heap
// may grow to three times what is live between collections, not twice.
// Under load the collector's marking and assists were a tenth of the PS's
// CPU; at 200 the PS spends 0.66–0.92× the CPU per exchange on SQLite
// (0.92–1.00× on PostgreSQL) for 4–9 MB more heap under load, and nothing
// more at idle, because start-up ran at Go's default and was collected
// just before (docs/performance.md, finding 47).
const servingGCPercent = 200

// collectLessOftenWhileServing sets servingGCPercent unless the operator
// set GOGC, which the runtime has already applied and which wins.
func collectLessOftenWhileServing() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(servingGCPercent)
}

func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	if err := cfg.ValidateDatabase(); err != nil {
		return nil, err
	}
	return store.Open(ctx, cfg.DatabaseURL, log)
}

// openMigrated is openStore with every migration applied, for the
// commands that work on the PS's data.
func openMigrated(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := st.MigrateUp(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func migrate(ctx context.Context, cfg *config.Config, log *slog.Logger, sub string, asJSON bool, stdout io.Writer) error {
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "up":
		err = st.MigrateUp(ctx)
	case "down":
		err = st.MigrateDown(ctx)
	case "status":
		if !asJSON {
			return st.MigrateStatus(ctx, stdout)
		}
		ms, err := st.Migrations(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ms)
	default:
		return fmt.Errorf("migrate: unknown subcommand %q (want up, down or status)", sub)
	}
	if err != nil || !asJSON {
		return err
	}
	pending, err := st.PendingMigrations(ctx)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]any{"ok": true, "pending": pending})
}

// keyJSON is one signing key in `keys list --json`.
type keyJSON struct {
	KID            string     `json:"kid"`
	Alg            string     `json:"alg"`
	State          string     `json:"state"`
	Created        time.Time  `json:"created"`
	PublishedUntil *time.Time `json:"published_until,omitempty"`
}

func keysCmd(ctx context.Context, cfg *config.Config, log *slog.Logger, sub string, asJSON bool, stdout io.Writer) error {
	if sub != "list" && sub != "rotate" {
		return fmt.Errorf("keys: unknown subcommand %q (want list or rotate)", sub)
	}
	st, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, _, err := cfg.KeyEncryptionSecret()
	if err != nil {
		return err
	}
	sealer, err := keys.NewSealer(secret)
	if err != nil {
		return err
	}
	opts := keys.Options{Alg: cfg.SigningAlg}
	if sub == "rotate" {
		// The new key and its audit row commit together (the rotation's
		// own transaction is a savepoint of this one).
		rec := cliChange("keys.rotate", "", "signing key rotated", map[string]any{"alg": cfg.SigningAlg})
		var kid string
		if err := audit.Commit(ctx, &audit.Recorder{Store: st, Log: log}, st.InTx, &rec, func(tx *store.Store) error {
			var err error
			kid, err = keys.NewManager(tx, sealer, time.Now, opts).Rotate(ctx, cfg.SigningAlg)
			rec.Target = "key:" + kid
			return err
		}); err != nil {
			return err
		}
		if asJSON {
			return json.NewEncoder(stdout).Encode(map[string]any{"ok": true, "kid": kid, "alg": cfg.SigningAlg})
		}
		fmt.Fprintf(stdout, "new active key %s (%s); previous keys stay published until their tokens expire\n", kid, cfg.SigningAlg)
		return nil
	}
	infos, err := keys.NewManager(st, sealer, time.Now, opts).List(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		out := []keyJSON{}
		for _, k := range infos {
			out = append(out, keyJSON{KID: k.KID, Alg: k.Alg, State: k.State, Created: k.Created.UTC(), PublishedUntil: k.PublishUntil})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tPUBLISHED UNTIL")
	for _, k := range infos {
		until := "-"
		if k.PublishUntil != nil {
			until = k.PublishUntil.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, k.Created.UTC().Format(time.RFC3339), until)
	}
	return tw.Flush()
}

// adminCmd is the operator's way in: "admin invite" prints a single-use
// link (stored hashed, expiring) whose holder picks a username and a
// password and becomes an administrator. It works in production mode: it is
// how the first administrator of a new installation is made. It needs only
// the issuer and the database (not serve's whole configuration), and it
// records the invitation in the audit trail in the invitation's
// transaction, as persons invite --admin does.
func adminCmd(ctx context.Context, cfg *config.Config, log *slog.Logger, sub, email string, asJSON bool, stdout io.Writer) error {
	if sub != "invite" {
		return fmt.Errorf("admin: unknown subcommand %q (want invite)", sub)
	}
	if cfg.Issuer == "" {
		return errors.New("admin invite: --issuer is required (the link is on the PS's origin)")
	}
	if err := cfg.Identifiers().CheckServer(cfg.Issuer); err != nil {
		return fmt.Errorf("admin invite: --issuer %q: %w", cfg.Issuer, err)
	}
	st, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	accounts, err := account.New(st, time.Now, account.Options{Log: log})
	if err != nil {
		return err
	}
	token, expires, err := createInvite(ctx, &audit.Recorder{Store: st, Log: log}, st.InTx, accounts, email, true)
	if err != nil {
		return fmt.Errorf("admin invite: %w", err)
	}
	return printInvite(stdout, asJSON, cfg.Issuer+"/invite/"+token, expires, true)
}
