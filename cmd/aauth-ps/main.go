// Command aauth-ps is the AAuth Person Server.
//
//	aauth-ps serve        [flags]   run the PS (applies migrations first)
//	aauth-ps migrate up|down|status [flags]
//	aauth-ps keys list|rotate [flags]
//	aauth-ps version
//
// Every flag has an AAUTH_PS_<NAME> environment variable; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/app"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/version"
)

const usage = `usage: aauth-ps <command> [flags]

commands:
  serve                 run the person server (applies pending migrations first)
  migrate up|down|status
                        apply all migrations, revert the last one, or list them
  keys list|rotate      list the PS signing keys, or make a new active key
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
	switch cmd {
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "aauth-ps", version.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "migrate", "keys":
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprintf(stderr, "aauth-ps %s: missing subcommand\n\n%s", cmd, usage)
			return 2
		}
		sub, rest = rest[0], rest[1:]
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
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "aauth-ps %s: unexpected arguments %v\n", cmd, fs.Args())
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel)

	switch cmd {
	case "serve":
		err = serve(ctx, cfg, log, stdout)
	case "migrate":
		err = migrate(ctx, cfg, log, sub, stdout)
	case "keys":
		err = keysCmd(ctx, cfg, log, sub, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "aauth-ps:", err)
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

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cfg.Dev {
		log.Warn("DEVELOPMENT MODE: http://localhost identifiers, loopback fetches and a generated key-encryption secret are allowed. Never run --dev in production.")
	}
	a, err := app.New(ctx, cfg, log, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
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
	fmt.Fprintln(stdout)
	return a.Serve(ctx, ln)
}

func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	if err := cfg.ValidateDatabase(); err != nil {
		return nil, err
	}
	return store.Open(ctx, cfg.DatabaseURL, log)
}

func migrate(ctx context.Context, cfg *config.Config, log *slog.Logger, sub string, stdout io.Writer) error {
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "up":
		return st.MigrateUp(ctx)
	case "down":
		return st.MigrateDown(ctx)
	case "status":
		return st.MigrateStatus(ctx, stdout)
	}
	return fmt.Errorf("migrate: unknown subcommand %q (want up, down or status)", sub)
}

func keysCmd(ctx context.Context, cfg *config.Config, log *slog.Logger, sub string, stdout io.Writer) error {
	if sub != "list" && sub != "rotate" {
		return fmt.Errorf("keys: unknown subcommand %q (want list or rotate)", sub)
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.MigrateUp(ctx); err != nil {
		return err
	}
	secret, _, err := cfg.KeyEncryptionSecret()
	if err != nil {
		return err
	}
	sealer, err := keys.NewSealer(secret)
	if err != nil {
		return err
	}
	m := keys.NewManager(st, sealer, time.Now, keys.Options{Alg: cfg.SigningAlg})
	if sub == "rotate" {
		kid, err := m.Rotate(ctx, cfg.SigningAlg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new active key %s (%s); previous keys stay published until their tokens expire\n", kid, cfg.SigningAlg)
		return nil
	}
	infos, err := m.List(ctx)
	if err != nil {
		return err
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
