// Command aauth-conformance runs the AAuth Person Server conformance suite
// (package conformance/suite) against any PS over HTTPS.
//
// The PS must be able to fetch the suite's own agent provider, so the
// provider lives in a state directory (its CA, keys, address and host) and
// the PS is started once with the flags the provider prints:
//
//	aauth-conformance provider --listen 127.0.0.1:9443 --host ap.test --state DIR
//	  → --resolve ap.test=127.0.0.1:9443 … --trust-ca DIR/ca.pem --egress-allow 127.0.0.1/32
//
// Then, with the provider stopped (run starts it itself, from DIR):
//
//	aauth-conformance run --ps https://ps.example [--ps-addr host:port] [--ps-ca FILE]
//	    [--provider-state DIR] [--only PS-012,PS-018] [--json] [--strict]
//
// run exits 1 when a MUST expectation fails; SHOULD and IMPL failures are
// warnings unless --strict. Usage and setup errors exit 2.
//
// load (package conformance/load) drives the same PS with many agents of
// the provider, measures it against the crypto floor and, with
// --peer-mockin, against @hellocoop/mockin; it exits 1 when a request
// failed (see docs/performance.md).
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/conformance/suite"
)

// Provider defaults.
var defaultState = filepath.Join("data", "conformance-provider")

const (
	defaultListen = "127.0.0.1:9443"
	defaultHost   = "ap.test"
)

// errFailed: the run found failures (exit 1, the report says which).
var errFailed = errors.New("conformance checks failed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errFailed):
		fmt.Fprintln(os.Stderr, "aauth-conformance:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "aauth-conformance:", err)
		os.Exit(2)
	}
}

const usage = `usage:
  aauth-conformance provider [--listen 127.0.0.1:9443] [--host ap.test] [--state DIR]
      start the suite's agent provider, print the flags the PS under test
      needs, and serve until interrupted
  aauth-conformance run --ps https://ps.example [--ps-addr host:port] [--ps-ca FILE]
      [--provider-state DIR] [--only PS-012,PS-018] [--json] [--strict]
      start the provider from DIR and run the suite against the PS
  aauth-conformance load --ps https://ps.example --person NAME --password-file FILE
      [--ps-addr host:port] [--ps-ca FILE] [--provider-state DIR] [--agents 16]
      [--duration 10s] [--ps-pid PID] [--pg-database DB] [--peer-mockin] [--report FILE]
      N agents of the provider, each bound to the person and holding an
      approved mission, drive the three-party exchange; measures the crypto
      floor and (--peer-mockin) @hellocoop/mockin in the same run
  aauth-conformance list
      list the checks
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("a command is required")
	}
	switch args[0] {
	case "provider":
		return runProvider(ctx, args[1:], stdout, stderr)
	case "run":
		return runSuite(ctx, args[1:], stdout, stderr)
	case "load":
		return runLoad(ctx, args[1:], stdout, stderr)
	case "list":
		for _, c := range suite.Checks() {
			fmt.Fprintf(stdout, "%s  %-6s  %-9s  %s\n", c.ID, c.Level, c.Group, c.Name)
		}
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("aauth-conformance "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func runProvider(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("provider", stderr)
	listen := fs.String("listen", "", "IP address and port to serve on, kept in the state (port 0 picks one); default the saved one, else "+defaultListen)
	host := fs.String("host", "", "the provider's DNS name, its issuer being https://HOST, kept in the state; default the saved one, else "+defaultHost)
	state := fs.String("state", defaultState, "directory keeping the provider's CA, keys and address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := startProvider(*state, *listen, *host, true)
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(stdout, "agent provider https://%s on %s (state %s)\n", p.set.Host, p.set.Listen, p.dir)
	fmt.Fprintln(stdout, "start the PS under test with these flags:")
	fmt.Fprintln(stdout, strings.Join(p.Flags(), " "))
	fmt.Fprintln(stdout, "serving until interrupted; stop it before `aauth-conformance run`, which starts it itself")
	<-ctx.Done()
	return nil
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func runSuite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	psURL := fs.String("ps", "", "the PS's issuer, e.g. https://ps.example (required)")
	psAddr := fs.String("ps-addr", "", "connect to host:port for the PS's name (a PS on loopback under a test DNS name)")
	psCA := fs.String("ps-ca", "", "PEM file of a CA to trust for the PS, besides the system roots")
	state := fs.String("provider-state", defaultState, "the provider's state directory (see `aauth-conformance provider`)")
	var only listFlag
	fs.Var(&only, "only", "run only the checks with these ids, e.g. PS-012,PS-018 (repeatable)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	strict := fs.Bool("strict", false, "fail on SHOULD and IMPL failures too")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *psURL == "" {
		fs.Usage()
		return errors.New("--ps is required")
	}
	u, err := url.Parse(*psURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--ps %q: want the PS's https issuer", *psURL)
	}
	checks, err := suite.Select(suite.Checks(), only...)
	if err != nil {
		return err
	}
	client, err := psClient(u.Hostname(), *psAddr, *psCA)
	if err != nil {
		return err
	}
	p, err := startProvider(*state, "", "", false)
	if err != nil {
		return err
	}
	defer p.Close()
	agent, err := p.agent()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "agent %s, provider https://%s on %s; running %d checks against %s\n",
		agent.ID, p.set.Host, p.set.Listen, len(checks), strings.TrimSuffix(*psURL, "/"))

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	t := &suite.Target{
		Issuer: strings.TrimSuffix(*psURL, "/"),
		Client: client,
		AP:     p.main,
		Agent:  agent,
		Faulty: p.faulty,
	}
	rep := suite.Run(ctx, t, checks, suite.Hooks{})
	if *asJSON {
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		fmt.Fprint(stdout, rep.Text())
	}
	if !rep.OK(*strict) {
		c := rep.Counts()
		if *strict {
			return fmt.Errorf("%w: %d MUST failures, %d warnings (--strict)", errFailed, c.Failed, c.Warnings)
		}
		return fmt.Errorf("%w: %d MUST failures", errFailed, c.Failed)
	}
	return nil
}

// psClient reaches the PS: its name optionally mapped to addr, the system
// roots plus caFile trusted, no redirects followed.
func psClient(host, addr, caFile string) (*http.Client, error) {
	res := conformance.NewResolver()
	if addr != "" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("--ps-addr %q: want host:port", addr)
		}
		res.Set(host, addr)
	}
	tr := conformance.NewTransport(nil, res)
	if caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ps-ca: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--ps-ca %s: no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
