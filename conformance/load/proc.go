package load

import (
	"github.com/aauth-ps/aauth-ps/internal/cputime"

	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times (100 on every
// Linux this runs on).
const clockTick = 100

// ProcessCPU is the user + system CPU time of this process so far.
func ProcessCPU() time.Duration { return cputime.Self() }

// ProcCPU is the user + system CPU time of process pid from /proc, and
// whether it could be read.
func ProcCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state(3) ppid … utime is field 14, stime 15 → f[11], f[12].
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * time.Second / clockTick, true
}

// ProcRSS is the resident set size of process pid in bytes (VmRSS).
func ProcRSS(pid int) (int64, bool) { return procKiB(pid, "VmRSS:") }

// ProcPeakRSS is the largest resident set process pid has had, in bytes
// (VmHWM): what a burst cost, which the resident set after it no longer
// shows once the memory went back.
func ProcPeakRSS(pid int) (int64, bool) { return procKiB(pid, "VmHWM:") }

// ProcWritten is what process pid has handed to write system calls, in
// bytes (wchar of /proc/<pid>/io: to files and sockets, whether or not
// it reached a disk).
func ProcWritten(pid int) (int64, bool) { return procValue(pid, "io", "wchar:") }

// procKiB reads one "Name:  N kB" line of /proc/<pid>/status, in bytes.
func procKiB(pid int, field string) (int64, bool) {
	kb, ok := procValue(pid, "status", field)
	return kb << 10, ok
}

// procValue is the number after field on its line of /proc/<pid>/<file>.
func procValue(pid int, file, field string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), file))
	if err != nil {
		return 0, false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			if f := strings.Fields(rest); len(f) >= 1 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// PostgresCPU is the CPU time of the PostgreSQL backends serving database
// db (their command line reads "postgres: USER DB ADDR …"), summed, and
// how many there are. The shared background processes (WAL writer,
// checkpointer) are not counted. Backends that ended since an earlier call take
// their time with them, so the PS should keep its connections (it does:
// the pool keeps them idle).
func PostgresCPU(db string) (time.Duration, int) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var total time.Duration
	n := 0
	for _, d := range dirs {
		cmd, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !bytes.HasPrefix(cmd, []byte("postgres: ")) {
			continue
		}
		f := strings.Fields(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
		// "postgres: USER DB …", or with a cluster_name "postgres: 15/main: USER DB …".
		if len(f) > 1 && strings.HasSuffix(f[1], ":") {
			f = f[1:]
		}
		if len(f) < 3 || f[2] != db {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		if c, ok := ProcCPU(pid); ok {
			total += c
			n++
		}
	}
	return total, n
}
