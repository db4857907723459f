package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance/suite"
)

// TestPersons: --approve manual prints the link and waits for Enter;
// cmd: runs the command with URL, code and decision; bad modes are usage
// errors.
func TestPersons(t *testing.T) {
	in := suite.Interaction{URL: "https://ps.test/interact/x", Code: "ABCD-EFGH", Approve: true, What: "connect an agent"}
	out := &syncBuf{}
	m, err := newPerson("manual", personConfig{stdin: strings.NewReader("\n"), out: out})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Decide(t.Context(), in); err != nil || !strings.Contains(out.String(), "https://ps.test/interact/x?code=ABCD-EFGH") {
		t.Fatalf("manual: %v %q", err, out)
	}

	dir := t.TempDir()
	file, script := filepath.Join(dir, "args"), filepath.Join(dir, "approve.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntest \"$AAUTH_LINK\" = \"$1?code=$2\" && echo \"$@\" > "+file+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := newPerson("cmd:"+script, personConfig{out: &syncBuf{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Decide(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	in.Approve = false
	if err := c.Decide(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != "https://ps.test/interact/x ABCD-EFGH deny\n" {
		t.Fatalf("cmd: got %q", b)
	}
	// A person who asks the agent a question (PS-174) or answers one
	// (PS-228) gets the text in AAUTH_TEXT.
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$3 $AAUTH_DECISION $AAUTH_TEXT\" > "+file+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for want, ask := range map[string]suite.Interaction{
		"ask ask why?\n":       {URL: in.URL, Code: in.Code, Ask: "why?"},
		"answer answer teal\n": {URL: in.URL, Code: in.Code, Answer: "teal"},
		"approve approve \n":   {URL: in.URL, Code: in.Code, Approve: true},
	} {
		if err := c.Decide(t.Context(), ask); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(file); string(b) != want {
			t.Errorf("cmd: got %q, want %q", b, want)
		}
	}
	if got := (suite.Interaction{URL: in.URL}).Link(); got != in.URL {
		t.Errorf("a link without a code is %q", got)
	}
	fail, _ := newPerson("cmd:false", personConfig{out: &syncBuf{}})
	if err := fail.Decide(t.Context(), in); err == nil {
		t.Fatal("a failing command is a successful person step")
	}

	t.Setenv(envPersonPassword, "")
	for _, mode := range []string{"bogus", "cmd:", "cmd: ", "browser"} {
		if _, err := newPerson(mode, personConfig{user: "alice"}); err == nil {
			t.Errorf("--approve %q accepted", mode)
		}
	}
}
