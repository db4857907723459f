package mission

import (
	"os/exec"
	"strings"
	"testing"
)

// The domain packages import no HTTP framework, database or template
// package (issue 7): adapters import the domain, never the reverse. The
// check runs the go tool on the packages' import graphs, so an indirect
// import (through another package of ours) fails it too.
func TestDomainPackagesImportNoAdapters(t *testing.T) {
	domain := []string{"github.com/aauth-ps/aauth-ps/mission", "github.com/aauth-ps/aauth-ps/ps/tokens",
		"github.com/aauth-ps/aauth-ps/ps/agents", "github.com/aauth-ps/aauth-ps/ps/dberr",
		"github.com/aauth-ps/aauth-ps/ps/account", "github.com/aauth-ps/aauth-ps/ps/interact",
		"github.com/aauth-ps/aauth-ps/ps/pending", "github.com/aauth-ps/aauth-ps/ps/resourcetoken", "github.com/aauth-ps/aauth-ps/ps/apitoken",
		"github.com/aauth-ps/aauth-ps/ps/revocation",
		"github.com/aauth-ps/aauth-ps/mission/anchor", "github.com/aauth-ps/aauth-ps/mission/authority",
		"github.com/aauth-ps/aauth-ps/mission/governance", "github.com/aauth-ps/aauth-ps/mission/evidence",
		"github.com/aauth-ps/aauth-ps/mission/tsa", "github.com/aauth-ps/aauth-ps/ps/timestamping",
		"github.com/aauth-ps/aauth-ps/ps/permission",
		"github.com/aauth-ps/aauth-ps/ps/chain", "github.com/aauth-ps/aauth-ps/federation",
		"github.com/aauth-ps/aauth-ps/ps/telemetry", "github.com/aauth-ps/aauth-ps/ps/ratelimit", "github.com/aauth-ps/aauth-ps/ps/audit"}
	forbidden := []string{"github.com/gin-gonic/", "gorm.io/", "github.com/jackc/pgx", "github.com/a-h/templ",
		"github.com/aauth-ps/aauth-ps/ps/store"}
	for _, pkg := range domain {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
