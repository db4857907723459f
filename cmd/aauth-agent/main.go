// Command aauth-agent is a demonstration agent for a PS in development
// mode: it runs its own agent provider on http://localhost:PORT, keeps its
// keys in a state directory (so it stays the same agent across runs), and
// signs every request to the PS as the AAuth profile requires.
//
//	aauth-agent ask "Which flight should I book?"
//	aauth-agent person-token https://resource.example
//	aauth-agent mission "# Plan a trip" --resource https://flights.example --tool WebSearch
//	aauth-agent update S256 "what changed"
//	aauth-agent complete S256 "what was done"
//
// When the PS needs its person, it prints the link and code to open, then
// polls until the person has decided. Clarification questions from the
// person are printed and answered from standard input.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "aauth-agent:", err)
		os.Exit(1)
	}
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// agent is the demo agent and its provider.
type agent struct {
	ps     string
	client *http.Client
	ap     *conformance.AgentProvider
	a      *conformance.Agent
	in     *bufio.Reader
	out    io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("aauth-agent", flag.ContinueOnError)
	ps := fs.String("ps", "http://localhost:8080", "the person server's issuer")
	state := fs.String("state", filepath.Join("data", "demo-agent"), "directory keeping the agent's keys")
	listen := fs.String("listen", "127.0.0.1:8081", "address of the agent's own provider (its issuer is http://localhost:PORT)")
	name := fs.String("name", "demo", "the agent's local name: aauth:NAME@localhost:PORT")
	var resources, tools listFlag
	fs.Var(&resources, "resource", "a resource for the mission (repeatable)")
	fs.Var(&tools, "tool", "a tool for the mission (repeatable)")
	caps := fs.String("capabilities", "interaction,clarification", "capabilities the agent declares")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: aauth-agent [flags] ask QUESTION | person-token RESOURCE | mission DESCRIPTION | update S256 TEXT | complete S256 SUMMARY")
		fs.PrintDefaults()
	}
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return errors.New("a command and its argument are required")
	}
	ag, err := start(*ps, *state, *listen, *name, stdin, stdout)
	if err != nil {
		return err
	}
	defer ag.ap.Close()
	capList := strings.FieldsFunc(*caps, func(r rune) bool { return r == ',' })
	cmd, arg := fs.Arg(0), fs.Arg(1)
	var body map[string]any
	var path string
	switch cmd {
	case "ask":
		path, body = "/interaction", map[string]any{"type": "question", "question": arg, "capabilities": capList}
	case "person-token":
		path, body = "/person", map[string]any{"resource": arg, "capabilities": capList}
	case "mission":
		ts := []map[string]string{}
		for _, t := range tools {
			ts = append(ts, map[string]string{"name": t})
		}
		path, body = "/mission", map[string]any{"description": arg, "tools": ts, "resources": []string(resources), "capabilities": capList}
	case "update", "complete":
		if fs.NArg() < 3 {
			return fmt.Errorf("%s needs the mission's s256 and a text", cmd)
		}
		text := fs.Arg(2)
		body = map[string]any{"action": "update", "description": text}
		if cmd == "complete" {
			body = map[string]any{"action": "completion", "summary": text, "capabilities": capList}
		}
		path = "/mission/" + arg
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	return ag.do(ctx, path, body)
}

// reorder lets flags follow the command: "mission X --resource R".
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

// start loads (or creates) the keys and starts the agent's provider.
func start(ps, state, listen, name string, stdin io.Reader, stdout io.Writer) (*agent, error) {
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, err
	}
	apKey, err := loadKey(filepath.Join(state, "provider-key.pem"))
	if err != nil {
		return nil, err
	}
	agentKey, err := loadKey(filepath.Join(state, "agent-key.pem"))
	if err != nil {
		return nil, err
	}
	ap, err := conformance.StartDevAgentProvider(listen, conformance.WithAPSigningKey(apKey),
		conformance.WithAPName("aauth-agent demo provider"),
		conformance.WithAPDescription("The **demo agent** that ships with aauth-ps."))
	if err != nil {
		return nil, fmt.Errorf("start the agent's provider on %s: %w", listen, err)
	}
	a, err := ap.NewAgent(conformance.TokenSpec{Agent: agentKey, Sub: "aauth:" + name + "@" + ap.Host(), PS: ps,
		ClaimOverrides: map[string]any{"platform": "aauth-agent", "device": hostname()}})
	if err != nil {
		ap.Close()
		return nil, err
	}
	fmt.Fprintf(stdout, "agent %s (provider %s)\n", a.ID, ap.Issuer())
	return &agent{ps: ps, client: &http.Client{Timeout: 60 * time.Second}, ap: ap, a: a, in: bufio.NewReader(stdin), out: stdout}, nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// loadKey reads an Ed25519 key from path, creating it on first use.
func loadKey(path string) (*conformance.AgentKey, error) {
	if b, err := os.ReadFile(path); err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM key", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: not a signing key", path)
		}
		return conformance.NewAgentKeyFromSigner(signer)
	}
	k, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer())
	if err != nil {
		return nil, err
	}
	return k, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// do sends a signed POST and follows a deferred answer to its end.
func (ag *agent) do(ctx context.Context, path string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	res, err := ag.send(ctx, http.MethodPost, ag.ps+path, raw)
	if err != nil {
		return err
	}
	shown := "" // the last requirement printed: a long poll repeats it
	for res.StatusCode == http.StatusAccepted {
		loc := res.Header.Get("Location")
		var pb struct {
			Status        string `json:"status"`
			Clarification string `json:"clarification"`
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		_ = json.Unmarshal(b, &pb)
		r, _ := conformance.ParseRequirement(res.Header.Values(aauth.HeaderAAuthRequirement))
		switch kind, params := r.Token, r.Params; kind {
		case "interaction":
			if now := "interaction " + params["url"] + " " + params["code"]; now != shown {
				shown = now
				fmt.Fprintf(ag.out, "\nYour person server needs you. Open:\n\n  %s?code=%s\n\n(or go to %s and enter the code %s)\n\n", params["url"], params["code"], params["url"], params["code"])
			}
		case "approval":
			if shown != "approval" {
				shown = "approval"
				fmt.Fprintln(ag.out, "Waiting for your person to approve from their person server home page…")
			}
		case "clarification":
			shown = "" // after the answer, a repeated link is news again
			fmt.Fprintf(ag.out, "\nYour person asks: %s\nYour answer: ", pb.Clarification)
			line, _ := ag.in.ReadString('\n')
			ans, _ := json.Marshal(map[string]string{"action": "clarification_response", "clarification_response": strings.TrimSpace(line)})
			r, err := ag.send(ctx, http.MethodPost, loc, ans)
			if err != nil {
				return err
			}
			r.Body.Close()
		}
		if err := sleep(ctx, retryAfter(res)); err != nil {
			return err
		}
		if res, err = ag.send(ctx, http.MethodGet, loc, nil); err != nil {
			return err
		}
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") != nil {
		pretty.Write(out)
	}
	fmt.Fprintf(ag.out, "%d %s\n%s\n", res.StatusCode, http.StatusText(res.StatusCode), pretty.String())
	fmt.Fprint(ag.out, decoded(out))
	if h := res.Header.Get("AAuth-Mission"); h != "" {
		fmt.Fprintf(ag.out, "AAuth-Mission: %s\n", h)
	}
	if res.StatusCode >= 400 {
		return fmt.Errorf("the person server answered %d", res.StatusCode)
	}
	return nil
}

func (ag *agent) send(ctx context.Context, method, url string, body []byte) (*http.Response, error) {
	req := conformance.NewRequest(method, url, body)
	req = req.WithContext(ctx)
	if method == http.MethodGet {
		req.Header.Set("Prefer", "wait=20")
	}
	if _, err := ag.a.Sign(req, body); err != nil {
		return nil, err
	}
	return ag.client.Do(req)
}

func retryAfter(res *http.Response) time.Duration {
	if n, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	return 5 * time.Second
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// decoded spells out what a final answer carries, for the person running
// the demo: the header and claims of each token (person_token, auth_token,
// every person_tokens entry) and the mission blob. Nothing is verified
// here; the resource does that.
func decoded(body []byte) string {
	var ans struct {
		PersonToken  string            `json:"person_token"`
		AuthToken    string            `json:"auth_token"`
		PersonTokens map[string]string `json:"person_tokens"`
		Mission      string            `json:"mission"`
	}
	if json.Unmarshal(body, &ans) != nil {
		return ""
	}
	var b strings.Builder
	token := func(name, tok string) {
		h, c, err := conformance.DecodeJWT(tok)
		if err != nil {
			return
		}
		hj, _ := json.MarshalIndent(h, "  ", "  ")
		cj, _ := json.MarshalIndent(c, "  ", "  ")
		fmt.Fprintf(&b, "\n%s (decoded, not verified):\n  header: %s\n  claims: %s\n", name, hj, cj)
	}
	token("person_token", ans.PersonToken)
	token("auth_token", ans.AuthToken)
	resources := make([]string, 0, len(ans.PersonTokens))
	for r := range ans.PersonTokens {
		resources = append(resources, r)
	}
	slices.Sort(resources)
	for _, r := range resources {
		token("person_tokens["+r+"]", ans.PersonTokens[r])
	}
	if blob, err := base64.RawURLEncoding.DecodeString(ans.Mission); err == nil && len(blob) > 0 {
		var pretty bytes.Buffer
		if json.Indent(&pretty, blob, "  ", "  ") == nil {
			fmt.Fprintf(&b, "\nmission (decoded; s256 is the SHA-256 of exactly these bytes, not of this indented copy):\n  %s\n", pretty.String())
		}
	}
	return b.String()
}
