package config_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/config"
)

// TestDeployConfigurationIsValid (issue 14): deploy/compose.yaml and the
// image's defaults (Dockerfile ENV) set only AAUTH_PS_* variables that
// name real flags, and the compose service's environment, with its
// ${…} placeholders filled in as its header says, is a production
// configuration serve accepts (PostgreSQL, the secret from a file, plain
// HTTP behind a trusted proxy).
func TestDeployConfigurationIsValid(t *testing.T) {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	(&config.Config{}).Register(fs)
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		known[config.EnvPrefix+strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))] = true
	})
	varRE := regexp.MustCompile(`AAUTH_PS_[A-Z0-9_]+`)
	for _, file := range []string{"../../deploy/compose.yaml", "../../Dockerfile"} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		names := varRE.FindAllString(string(raw), -1)
		if len(names) == 0 {
			t.Errorf("%s sets no AAUTH_PS_* variable", file)
		}
		for _, name := range names {
			if !known[name] {
				t.Errorf("%s sets %s, which is no flag's variable", file, name)
			}
		}
	}

	raw, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kek := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(kek, []byte(secret32+"-deploy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("${AAUTH_PS_ISSUER:?set the public https origin, e.g. https://ps.example.com}", "https://ps.example.com",
		"${AAUTH_PG_PASSWORD}", "pw", "/run/secrets/kek", kek)
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(AAUTH_PS_[A-Z0-9_]+):\s*(.*)$`).FindAllStringSubmatch(string(raw), -1) {
		v := fill.Replace(strings.Trim(strings.TrimSpace(m[2]), `"`))
		if strings.Contains(v, "${") {
			t.Fatalf("%s: unfilled placeholder in %q", m[1], v)
		}
		vars[m[1]] = v
	}
	cfg, _, err := config.Parse("serve", nil, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("compose.yaml's configuration is refused:\n%v", err)
	}
	if !strings.HasPrefix(cfg.DatabaseURL, "postgres://") || cfg.KeyEncryptionKeyFile != kek || len(cfg.TrustedProxies) == 0 || cfg.Dev {
		t.Fatalf("compose.yaml's configuration: %+v", cfg)
	}
}
