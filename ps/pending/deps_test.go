package pending_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDomainImportsNoAdapter: the engine stays a domain package (issue 7):
// no database driver or ORM, no HTTP framework, no templates, not ps/store.
func TestDomainImportsNoAdapter(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/aauth-ps/aauth-ps/ps/pending").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"gorm.io/", "github.com/jackc/pgx", "github.com/gin-gonic/", "github.com/a-h/templ", "github.com/aauth-ps/aauth-ps/ps/store"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("ps/pending depends on %s", dep)
			}
		}
	}
}
