package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/conformance/suite"
)

// reportFlag is --report FORMAT[:FILE], repeatable: json or junit, to FILE
// or (without one) to stdout in place of the text report.
type reportFlag []reportOut

type reportOut struct{ format, file string }

func (r *reportFlag) String() string { return fmt.Sprint(*r) }
func (r *reportFlag) Set(v string) error {
	format, file, _ := strings.Cut(v, ":")
	if format != "json" && format != "junit" {
		return fmt.Errorf("want json or junit, optionally :FILE, got %q", v)
	}
	*r = append(*r, reportOut{format, file})
	return nil
}

func runSuite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	psURL := fs.String("ps", "", "the PS's issuer, e.g. https://ps.example (required)")
	psAddr := fs.String("ps-addr", "", "connect to host:port for the PS's name (a PS on loopback under a test DNS name)")
	psCA := fs.String("ps-ca", "", "PEM file of a CA to trust for the PS, besides the system roots")
	state := fs.String("provider-state", defaultState, "the provider's state directory (see `aauth-conformance provider`)")
	var only listFlag
	fs.Var(&only, "only", "run only these surfaces or requirement ids, e.g. missions,PS-012 (repeatable; see `list`)")
	approve := fs.String("approve", "", "how person steps are done: browser (headless Chromium on the PS's web UI, as --person-user), manual (print the link, wait for Enter) or cmd:COMMAND (run COMMAND URL CODE approve|deny); none skips the flows that need the person")
	personUser := fs.String("person-user", "", "for --approve browser: the username to log in as; the password is read from $"+envPersonPassword)
	secondUser := fs.String("second-person", "", "another person at the PS, for the checks that need two (PS-079, PS-165): --approve browser logs in as this username too (same password); manual and cmd: are told which person acts (AAUTH_PERSON=second)")
	var reports reportFlag
	fs.Var(&reports, "report", "also write the report as json or junit, to FILE with json:FILE or junit:FILE, else to stdout (repeatable)")
	asJSON := fs.Bool("json", false, "print the report as JSON (same as --report json)")
	strict := fs.Bool("strict", false, "fail on SHOULD and IMPL failures too")
	quiet := fs.Bool("quiet", false, "no live progress on stderr")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long")
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
	if *asJSON {
		reports = append(reports, reportOut{format: "json"})
	}
	checks, err := suite.SelectOnly(suite.Checks(), only...)
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
	// The test resource verifies what the PS signs (its revocations,
	// PS-292) with keys fetched the way the suite reaches the PS.
	p.resource.RouteHost(u.Host, client.Transport)
	// The person's browser also reaches the test resource (its own
	// interaction step, PS-113).
	person, err := newPerson(*approve, personConfig{host: u.Hostname(), addr: *psAddr, caFile: *psCA, user: *personUser, stdin: stdin, out: stderr,
		resource: conformance.ResourceHost(p.set.Host), resourceAddr: p.set.Listen, resourceCA: filepath.Join(p.dir, caFile),
		provider: p.set.Host})
	if err != nil {
		return err
	}
	if person != nil {
		defer person.Close()
	}
	var second closablePerson
	if *secondUser != "" && person != nil {
		if second, err = newPerson(*approve, personConfig{host: u.Hostname(), addr: *psAddr, caFile: *psCA, user: *secondUser, label: "second",
			stdin: stdin, out: stderr, resource: conformance.ResourceHost(p.set.Host), resourceAddr: p.set.Listen, resourceCA: filepath.Join(p.dir, caFile),
			provider: p.set.Host}); err != nil {
			return err
		}
		defer second.Close()
	}
	if err := p.reachPS(u.Hostname(), *psAddr, *psCA); err != nil {
		return err
	}
	agent, err := p.agent()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "agent provider https://%s, test resource https://%s, test access server %s and intermediary %s on %s; the PS must run with:\n  %s\n",
		p.set.Host, conformance.ResourceHost(p.set.Host), p.as.Issuer(), p.mid.Issuer(), p.set.Listen, strings.Join(p.Flags(), " "))
	fmt.Fprintf(stderr, "(a PS with an access-server allow-list must also trust %s)\n", p.as.Issuer())
	fmt.Fprintf(stderr, "running %d checks against %s (person steps: %s)\n", len(checks), strings.TrimSuffix(*psURL, "/"), approveName(*approve))

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	t := &suite.Target{
		Issuer:   strings.TrimSuffix(*psURL, "/"),
		Client:   client,
		AP:       p.main,
		Agent:    agent,
		Faulty:   p.faulty,
		Resource: p.resource,

		AccessServer:        p.as,
		BrokenAccessServers: p.asBroken,
		Intermediary:        p.mid,
		Resource2:           p.resource2,
	}
	if person != nil {
		t.Person = person
	}
	if second != nil {
		t.Person2 = second
	}
	rep := suite.Run(ctx, t, checks, suite.Hooks{Done: progress(stderr, *quiet)})
	toStdout := false
	for _, r := range reports {
		var b []byte
		if r.format == "json" {
			b, err = rep.JSON()
			b = append(b, '\n')
		} else {
			b, err = rep.JUnit()
		}
		if err != nil {
			return err
		}
		if r.file == "" {
			toStdout = true
			if _, err := stdout.Write(b); err != nil {
				return err
			}
		} else if err := os.WriteFile(r.file, b, 0o644); err != nil {
			return err
		}
	}
	if !toStdout {
		fmt.Fprint(stdout, rep.Text())
		fmt.Fprintln(stdout)
		fmt.Fprint(stdout, rep.Table())
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

func approveName(a string) string {
	if a == "" {
		return "none: flows that need the person are skipped"
	}
	return a
}

// progress prints a header when a surface starts and a line per check
// as it ends.
func progress(w io.Writer, quiet bool) func(suite.Result) {
	if quiet {
		return nil
	}
	var mu sync.Mutex
	cur := ""
	return func(r suite.Result) {
		mu.Lock()
		defer mu.Unlock()
		if r.Surface != cur {
			cur = r.Surface
			fmt.Fprintf(w, "== %s\n", cur)
		}
		fmt.Fprintln(w, "  "+suite.Progress(r))
	}
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
		pool, err := caPool(caFile)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// caPool is the system roots plus the PEM certificates of caFile.
func caPool(caFile string) (*x509.CertPool, error) {
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
	return pool, nil
}
