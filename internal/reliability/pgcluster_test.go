package reliability

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"

	"github.com/aauth-ps/aauth-ps/internal/loopback"
)

// cluster is a throw-away PostgreSQL server of the test's own (initdb in
// a temporary directory, trust auth, a free loopback port), so a test may
// stop and start it. The shared server on 127.0.0.1:5432 is never touched.
type cluster struct {
	bin, dir, data string
	port           int
	cred           *syscall.Credential // the postgres user, when the test runs as root
}

// pgBinDir finds initdb and pg_ctl: AAUTH_PS_PG_BIN, else the newest
// /usr/lib/postgresql/*/bin (Debian's layout).
func pgBinDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("AAUTH_PS_PG_BIN"); d != "" {
		return d
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(found, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(found[j]))))
		return vi < vj
	})
	if len(found) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p)
		}
		t.Fatal("reliability: initdb not found (install PostgreSQL's server package, or set AAUTH_PS_PG_BIN to the directory holding initdb and pg_ctl)")
	}
	return filepath.Dir(found[len(found)-1])
}

// newCluster initialises and starts a cluster; it is stopped and removed
// when the test ends.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "aauth-ps-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{bin: pgBinDir(t), dir: dir, data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 { // PostgreSQL refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("reliability: running as root needs a postgres user for the test cluster: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	c.port, _ = strconv.Atoi(port)
	c.run(t, "initdb", "-D", c.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	t.Cleanup(func() {
		_ = c.pgctl("-m", "immediate", "stop")
		_ = os.RemoveAll(dir)
	})
	c.start(t)
	return c
}

func (c *cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *cluster) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := c.command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func (c *cluster) pgctl(args ...string) error {
	all := append([]string{"-D", c.data, "-w", "-l", filepath.Join(c.dir, "server.log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.dir)}, args...)
	if out, err := c.command("pg_ctl", all...).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl %v: %w\n%s", args, err, out)
	}
	return nil
}

// start starts the server and waits until it accepts connections.
func (c *cluster) start(t *testing.T) {
	t.Helper()
	if err := c.pgctl("start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		t.Fatalf("%v\n%s", err, log)
	}
}

// stop shuts the server down (fast: open sessions are ended).
func (c *cluster) stop(t *testing.T) {
	t.Helper()
	if err := c.pgctl("-m", "fast", "stop"); err != nil {
		t.Fatal(err)
	}
}

// url is the cluster's postgres database.
func (c *cluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}
