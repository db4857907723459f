// Command loadrun is `make load` and the load part of `make bench`: it
// starts the built PS (bin/aauth-ps) on each database as an operator would
// — a TLS certificate from a throw-away CA, a person created with
// `aauth-ps persons create`, the conformance provider's flags — and runs
// `aauth-conformance load` against it, which appends a dated row to
// docs/performance.md.
//
//	go run ./internal/tools/loadrun [-db sqlite,postgres] [-agents 64]
//	    [-missions 0] [-duration 10s] [-peer] [-report docs/performance.md]
//	    [-profile DIR] [-rate R[,R…] [-arrivals poisson|fixed]] [-ps-bin DIR]
//
// -rate replaces the closed loop with an open loop: R exchanges per second
// offered whatever the answers, -agents being the pool an arrival takes a
// free agent from (none free: dropped and counted); p50/p95/p99 are from
// each arrival's intended send time. A comma list runs each rate in turn
// against one PS and appends one row each to the open-loop table.
//
// -ps-bin runs another build's aauth-ps (e.g. main's) with this load, for
// before/after pairs in one invocation each.
//
// -profile starts the PS with a loopback pprof listener (--pprof) and
// writes a CPU and an allocation profile of its measured exchange phase
// to DIR/DB-AGENTSa-MISSIONSm-{cpu,allocs}.pprof.
//
// -missions seeds that many approved missions (a comma list runs each,
// e.g. -missions 100,100000: the same load against a PS holding 100 and
// 100 000 stored missions, one row each; see seed.go) before the PS
// starts.
//
// PostgreSQL is reached at $AAUTH_PS_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres); a database is created for
// the run and dropped after it.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/internal/loopback"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

const (
	psHost   = "ps.test"
	person   = "loader"
	password = "load run password, not a secret"
	// kek is the run's key-encryption secret (the database is thrown away).
	kek = "load-run-key-encryption-secret-0123456789"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "loadrun:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	dbs := flag.String("db", "sqlite,postgres", "databases to run on, in order")
	agents := flag.String("agents", "64", "concurrent agents (a comma list runs each)")
	duration := flag.Duration("duration", 10*time.Second, "length of each measured phase")
	peer := flag.Bool("peer", true, "run @hellocoop/mockin in the same run")
	report := flag.String("report", "docs/performance.md", "file the rows are appended to (\"\" for none)")
	bin := flag.String("bin", "bin", "directory of the built aauth-ps and aauth-conformance")
	extra := flag.String("ps-flags", "", "extra flags for `aauth-ps serve`, space-separated")
	missions := flag.String("missions", "0", "approved missions seeded before the PS starts (a comma list runs each)")
	seedOnly := flag.String("seed-only", "", "seed -missions into this migrated database URL and exit (for EXPLAIN and inspection)")
	profile := flag.String("profile", "", "write CPU and allocation profiles of the PS's exchange phase to this directory")
	rate := flag.String("rate", "", "open loop: exchanges per second offered (a comma list runs each in turn against one PS), -agents being the pool; see `aauth-conformance load --rate`")
	arrivals := flag.String("arrivals", "poisson", "with -rate: poisson or fixed")
	psBin := flag.String("ps-bin", "", "directory of the aauth-ps to run, when not -bin's (a base build measured with this load)")
	flag.Parse()
	if *rate != "" && *profile != "" {
		return errors.New("-profile captures the closed loop's exchange phase: run it without -rate")
	}
	if *seedOnly != "" {
		n, err := strconv.Atoi(*missions)
		if err != nil || n <= 0 {
			return fmt.Errorf("-seed-only wants one positive -missions count, not %q", *missions)
		}
		return seed(ctx, *seedOnly, n)
	}
	for db := range strings.SplitSeq(*dbs, ",") {
		for n := range strings.SplitSeq(*agents, ",") {
			for m := range strings.SplitSeq(*missions, ",") {
				seed, err := strconv.Atoi(strings.TrimSpace(m))
				if err != nil || seed < 0 {
					return fmt.Errorf("-missions %q: want counts", *missions)
				}
				r := runSpec{db: strings.TrimSpace(db), agents: strings.TrimSpace(n), seed: seed, d: *duration, peer: *peer,
					report: *report, bin: *bin, psBin: *psBin, extra: strings.Fields(*extra), profile: *profile, rate: *rate, arrivals: *arrivals}
				if err := runOne(ctx, r); err != nil {
					return fmt.Errorf("%s, %s agents, %d missions: %w", db, n, seed, err)
				}
			}
		}
	}
	return nil
}

// runSpec is one run: a fresh database and PS.
type runSpec struct {
	db, agents  string
	seed        int
	d           time.Duration
	peer        bool
	report, bin string
	// psBin holds the aauth-ps to run ("": bin's).
	psBin          string
	extra          []string
	profile        string
	rate, arrivals string
}

func runOne(ctx context.Context, r runSpec) error {
	db, agents, d, peer, report, bin, extra := r.db, r.agents, r.d, r.peer, r.report, r.bin, r.extra
	psExe := filepath.Join(bin, "aauth-ps")
	if r.psBin != "" {
		psExe = filepath.Join(r.psBin, "aauth-ps")
	}
	dir, err := os.MkdirTemp("", "aauth-loadrun-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	provider := filepath.Join(dir, "provider")
	provFlags, err := providerFlags(ctx, bin, provider)
	if err != nil {
		return err
	}
	ca, err := conformance.NewCA()
	if err != nil {
		return err
	}
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
	if err := writeCert(ca, certFile, keyFile); err != nil {
		return err
	}
	if err := ca.WriteFile(caFile); err != nil {
		return err
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}

	var dbURL, pgName string
	switch db {
	case "sqlite":
		dbURL = "sqlite:" + filepath.Join(dir, "db", "ps.db")
	case "postgres":
		var drop func()
		if dbURL, pgName, drop, err = createPostgres(ctx); err != nil {
			return err
		}
		defer drop()
	default:
		return fmt.Errorf("-db %q: want sqlite or postgres", db)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	common := []string{"--issuer", "https://" + psHost, "--database-url", dbURL, "--key-encryption-key", kek,
		"--tls-cert", certFile, "--tls-key", keyFile}
	migrate := exec.CommandContext(ctx, psExe, append([]string{"migrate", "up"}, common...)...)
	if out, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %v\n%s", err, out)
	}
	create := exec.CommandContext(ctx, psExe, append([]string{"persons", "create", person, "--password-file", pwFile}, common...)...)
	if out, err := create.CombinedOutput(); err != nil {
		return fmt.Errorf("persons create: %v\n%s", err, out)
	}
	if r.seed > 0 {
		if err := seed(ctx, dbURL, r.seed); err != nil {
			return err
		}
	}
	serveArgs := append([]string{"serve", "--listen", addr, "--log-level", "warn",
		"--pending-first-contacts-per-minute", "100000",
		// The rate limits stay on (their cost is part of every request) but far above
		// what one machine can send: the default 600/min per agent refused the person
		// token phase once the PS served more than 10 requests/s per agent.
		"--rate-limit-agent", "100000000/1m", "--rate-limit-provider", "100000000/1m",
		"--rate-limit-client", "100000000/1m"}, common...)
	serveArgs = append(append(serveArgs, provFlags...), extra...)
	var pprofAddr string
	if r.profile != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return err
		}
		serveArgs = append(serveArgs, "--pprof", pprofAddr)
	}
	ps := exec.Command(psExe, serveArgs...)
	ps.Stdout, ps.Stderr = os.Stderr, os.Stderr
	if err := ps.Start(); err != nil {
		return err
	}
	defer func() {
		_ = ps.Process.Signal(syscall.SIGTERM)
		_ = ps.Wait()
	}()
	if err := waitReady(ctx, ca, addr); err != nil {
		return err
	}
	rss := "?"
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(ps.Process.Pid) + "/status"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				rss = strings.TrimSpace(v)
			}
		}
	}
	fmt.Printf("== %s, %s agents: PS pid %d on %s, RSS at start %s\n", db, agents, ps.Process.Pid, addr, rss)
	args := []string{"load", "--ps", "https://" + psHost, "--ps-addr", addr, "--ps-ca", caFile, "--provider-state", provider,
		"--person", person, "--password-file", pwFile, "--agents", agents, "--duration", d.String(),
		"--ps-pid", strconv.Itoa(ps.Process.Pid), "--database", db, "--stored-missions", strconv.Itoa(r.seed)}
	if pgName != "" {
		args = append(args, "--pg-database", pgName, "--pg-url", dbURL)
	}
	if r.rate != "" {
		args = append(args, "--rate", r.rate, "--arrivals", r.arrivals)
	} else if peer {
		args = append(args, "--peer-mockin")
	}
	if pprofAddr != "" {
		args = append(args, "--pprof-url", "http://"+pprofAddr, "--profile-dir", r.profile,
			"--profile-name", fmt.Sprintf("%s-%sa-%dm", db, agents, r.seed))
	}
	if report != "" {
		args = append(args, "--report", report)
	}
	load := exec.CommandContext(ctx, filepath.Join(bin, "aauth-conformance"), args...)
	load.Stdout, load.Stderr = os.Stdout, os.Stderr
	return load.Run()
}

// seed opens the run's database and writes n missions (seed.go).
func seed(ctx context.Context, dbURL string, n int) error {
	st, err := store.Open(ctx, dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	took, err := seedMissions(ctx, st, "https://"+psHost, n)
	if err != nil {
		return err
	}
	fmt.Printf("seeded %d approved missions over %d persons in %s\n", n, (n+seedPerPerson-1)/seedPerPerson, took.Round(time.Millisecond))
	return nil
}

// providerFlags starts the conformance provider once, to create its state
// and read the flags the PS needs, and stops it (load starts it again).
func providerFlags(ctx context.Context, bin, state string) ([]string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "aauth-conformance"), "provider", "--listen", "127.0.0.1:0", "--host", "ap.test", "--state", state)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "--resolve ") {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return strings.Fields(line), nil
		}
	}
	return nil, errors.New("the provider printed no flags")
}

func writeCert(ca *conformance.CA, certFile, keyFile string) error {
	cert, err := ca.Issue(psHost)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// createPostgres creates a database for the run; drop removes it.
func createPostgres(ctx context.Context) (dbURL, name string, drop func(), err error) {
	admin := os.Getenv("AAUTH_PS_TEST_POSTGRES_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", "", nil, err
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name = "aauth_ps_load_" + hex.EncodeToString(b)
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(ctx, admin, log)
	if err != nil {
		return "", "", nil, fmt.Errorf("PostgreSQL at %s: %w", u.Redacted(), err)
	}
	defer st.Close()
	if err := st.ExecSQL(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", nil, err
	}
	u.Path = "/" + name
	return u.String(), name, func() {
		st, err := store.Open(context.Background(), admin, log)
		if err != nil {
			return
		}
		defer st.Close()
		_ = st.ExecSQL(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}, nil
}

// freeAddr is an address for a server started later, as a child process.
func freeAddr() (string, error) { return loopback.FreeAddr() }

func waitReady(ctx context.Context, ca *conformance.CA, addr string) error {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12},
	}}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res, err := c.Get("https://" + psHost + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("the PS did not become ready in 60 s")
}
