package authority

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

//go:embed authority-set.schema.json
var schemaJSON []byte

// Bounds on a set, beyond the schema (which bounds no array): a set is
// rendered to a person and evaluated on every request, so it stays small.
const (
	MaxSetBytes     = 64 << 10
	MaxEntries      = 64
	MaxExclusions   = 64
	MaxCheckpoints  = 32
	MaxListItems    = 64 // scopes, tools, operations, accounts, params, via …
	MaxLabelBytes   = 200
	maxSchemaErrors = 5
)

// ErrInvalid is a set the PS refuses; the message says why.
var ErrInvalid = errors.New("authority set invalid")

// ParseOptions adjusts Parse for the PS's mode.
type ParseOptions struct {
	// Dev admits http://localhost:PORT and http://127.0.0.1:PORT resource
	// identifiers (design §10.2): the schema's https:// pattern holds in
	// production only.
	Dev bool
}

// Parsed is a set that passed the schema and the semantic checks, with the
// canonical bytes it was hashed from.
type Parsed struct {
	Set       *Set
	Canonical []byte
	Hash      string
}

var (
	schemaOnce    sync.Once
	prodSchema    *jsonschema.Schema
	devSchema     *jsonschema.Schema
	schemaInitErr error
)

// devResourceID is the identifier pattern of --dev (§10.2).
const devResourceID = `^(https://[a-z0-9.-]+|http://(localhost|127\\.0\\.0\\.1):[0-9]{1,5})$`

func compileSchemas() {
	compile := func(src []byte) (*jsonschema.Schema, error) {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		if err := c.AddResource("authority-set.schema.json", doc); err != nil {
			return nil, err
		}
		return c.Compile("authority-set.schema.json")
	}
	prodSchema, schemaInitErr = compile(schemaJSON)
	if schemaInitErr != nil {
		return
	}
	dev := bytes.Replace(schemaJSON, []byte(`"^https://[a-z0-9.-]+$"`), []byte(`"`+devResourceID+`"`), 1)
	devSchema, schemaInitErr = compile(dev)
}

// Schema returns the compiled JSON Schema (production patterns).
func Schema() (*jsonschema.Schema, error) {
	schemaOnce.Do(compileSchemas)
	return prodSchema, schemaInitErr
}

// Parse validates raw against the embedded JSON Schema (2020-12), decodes
// it, runs the semantic checks and computes its anchor. It refuses
// anything it cannot canonicalize (duplicate members, non-integers,
// integers beyond ±(2^53−1)) and sets larger than the bounds above.
func Parse(raw []byte, opts ParseOptions) (*Parsed, error) {
	if len(raw) > MaxSetBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxSetBytes)
	}
	canon, err := anchor.Canonical(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	schemaOnce.Do(compileSchemas)
	if schemaInitErr != nil {
		return nil, fmt.Errorf("authority: schema: %w", schemaInitErr)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(canon))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	sch := prodSchema
	if opts.Dev {
		sch = devSchema
	}
	if err := sch.Validate(doc); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, schemaMessage(err))
	}
	var s Set
	if err := strictDecode(canon, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	// The anchored form is the decoded set re-marshalled: explicit
	// defaults written by hand (say "scopes_any": false) drop out, so the
	// hash a verifier recomputes from the stored set and the hash Evaluate
	// checks on every load (Set.Hash) are the same bytes.
	norm, err := anchor.Marshal(&s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &Parsed{Set: &s, Canonical: norm, Hash: anchor.S256(norm)}, nil
}

// schemaMessage keeps the first few leaf errors of a validation failure,
// one line, so a refusal names what is wrong without echoing the input.
func schemaMessage(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var leaves []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(leaves) >= maxSchemaErrors {
			return
		}
		if len(e.Causes) == 0 {
			kw := "invalid"
			if path := e.ErrorKind.KeywordPath(); len(path) > 0 {
				kw = path[len(path)-1]
			}
			leaves = append(leaves, "/"+strings.Join(e.InstanceLocation, "/")+": "+kw)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return "schema: " + strings.Join(leaves, "; ")
}

// Check runs the design's semantic checks (ids unique across entries,
// exclusions and checkpoints; every requires/after defined; after
// acyclic; one max_total per budget) and the size bounds. Sets built in
// code (derivation, narrowing) go through it too.
func (s *Set) Check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)
	}
	if s.Object != Object {
		return bad("object must be %q", Object)
	}
	if len(s.Entries) > MaxEntries || len(s.Exclusions) > MaxExclusions || len(s.Checkpoints) > MaxCheckpoints {
		return bad("more than %d entries, %d exclusions or %d checkpoints", MaxEntries, MaxExclusions, MaxCheckpoints)
	}
	ids := map[string]string{}
	claim := func(id, what string) error {
		if prev, ok := ids[id]; ok {
			return bad("id %q used by a %s and a %s", id, prev, what)
		}
		ids[id] = what
		return nil
	}
	long := func(lists ...int) bool {
		for _, n := range lists {
			if n > MaxListItems {
				return true
			}
		}
		return false
	}
	cps := map[string]*Checkpoint{}
	for i := range s.Checkpoints {
		c := &s.Checkpoints[i]
		if err := claim(c.ID, "checkpoint"); err != nil {
			return err
		}
		if len(c.Label) > MaxLabelBytes || long(len(c.After)) {
			return bad("checkpoint %q is too large", c.ID)
		}
		cps[c.ID] = c
	}
	for _, e := range s.Entries {
		if err := claim(e.ID, "entry"); err != nil {
			return err
		}
		n := 0
		if e.R3 != nil {
			n = len(e.R3.Operations)
		}
		var via, params int
		if e.Delegation != nil {
			via = len(e.Delegation.Via)
		}
		if e.Constraints != nil {
			params = len(e.Constraints.Params)
		}
		if len(e.Label) > MaxLabelBytes || long(len(e.Scopes), len(e.Tools), len(e.Accounts), len(e.Requires), n, via, params) {
			return bad("entry %q is too large", e.ID)
		}
		for _, r := range e.Requires {
			if cps[r] == nil {
				return bad("entry %q requires undefined checkpoint %q", e.ID, r)
			}
		}
		if e.Constraints != nil && e.Constraints.TimeWindow != nil {
			if h := e.Constraints.TimeWindow.HoursUTC; len(h) == 2 && h[0] >= h[1] {
				return bad("entry %q: hours_utc must be [h0,h1) with h0 < h1", e.ID)
			}
		}
	}
	for _, x := range s.Exclusions {
		if err := claim(x.ID, "exclusion"); err != nil {
			return err
		}
		n := 0
		if x.R3 != nil {
			n = len(x.R3.Operations)
		}
		if len(x.Label) > MaxLabelBytes || long(len(x.Scopes), len(x.Tools), n) {
			return bad("exclusion %q is too large", x.ID)
		}
	}
	for _, c := range s.Checkpoints {
		for _, a := range c.After {
			if cps[a] == nil {
				return bad("checkpoint %q comes after undefined checkpoint %q", c.ID, a)
			}
		}
	}
	if cyc := afterCycle(s.Checkpoints); cyc != "" {
		return bad("checkpoint ordering has a cycle through %q", cyc)
	}
	budgets := map[string]string{}
	for _, e := range s.Entries {
		if e.Constraints == nil || e.Constraints.Amount == nil {
			continue
		}
		a := e.Constraints.Amount
		if a.Budget == "" || a.MaxTotal == nil {
			continue
		}
		if prev, ok := budgets[a.Budget]; ok && prev != e.ID {
			// Example B states the shared total on both entries; the
			// design's "one max_total per budget" reads as one value.
			if *s.Entry(prev).Constraints.Amount.MaxTotal != *a.MaxTotal {
				return bad("budget %q has two different max_total values", a.Budget)
			}
			continue
		}
		budgets[a.Budget] = e.ID
	}
	return nil
}

// afterCycle returns a checkpoint on a cycle of `after`, or "".
func afterCycle(cps []Checkpoint) string {
	after := map[string][]string{}
	for _, c := range cps {
		after[c.ID] = c.After
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var visit func(id string) string
	visit = func(id string) string {
		switch state[id] {
		case onPath:
			return id
		case done:
			return ""
		}
		state[id] = onPath
		for _, a := range after[id] {
			if c := visit(a); c != "" {
				return c
			}
		}
		state[id] = done
		return ""
	}
	for _, c := range cps {
		if cyc := visit(c.ID); cyc != "" {
			return cyc
		}
	}
	return ""
}

func strictDecode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
