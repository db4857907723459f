package account

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password policy.
const (
	MinPasswordLength = 10   // characters (runes)
	MaxPasswordBytes  = 1024 // bounds the hashing work an attacker can ask for
)

const (
	argon2SaltLen = 16
	argon2KeyLen  = 32
)

// commonPasswords are the 20 most common passwords of the public breach
// lists (compared case-insensitively). Most are shorter than
// MinPasswordLength anyway; the list states intent and catches the long ones.
var commonPasswords = map[string]bool{
	"123456": true, "password": true, "123456789": true, "12345678": true,
	"12345": true, "qwerty": true, "1234567": true, "111111": true,
	"1234567890": true, "123123": true, "abc123": true, "1234": true,
	"password1": true, "iloveyou": true, "1q2w3e4r": true, "000000": true,
	"qwerty123": true, "zaq12wsx": true, "qwertyuiop": true, "password123": true,
}

// checkPassword applies the policy: MinPasswordLength characters, at most
// MaxPasswordBytes bytes, not a common password, not equal to the username
// or email (case-insensitively). The error wraps ErrWeakPassword and never
// contains the password.
func checkPassword(password, username, email string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return fmt.Errorf("%w: use at least %d characters", ErrWeakPassword, MinPasswordLength)
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("%w: use at most %d bytes", ErrWeakPassword, MaxPasswordBytes)
	case !utf8.ValidString(password):
		return fmt.Errorf("%w: not valid UTF-8", ErrWeakPassword)
	}
	lower := strings.ToLower(password)
	switch {
	case commonPasswords[lower]:
		return fmt.Errorf("%w: this password is among the most common ones", ErrWeakPassword)
	case lower == strings.ToLower(username), email != "" && lower == strings.ToLower(email):
		return fmt.Errorf("%w: the password must differ from the username and email", ErrWeakPassword)
	}
	return nil
}

func (p Argon2Params) validate() error {
	if p.Time < 1 || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads) {
		return errors.New("account: argon2 needs Time >= 1, Threads >= 1 and MemoryKiB >= 8*Threads")
	}
	if p.MemoryKiB > 4*1024*1024 || p.Time > 64 {
		return errors.New("account: argon2 parameters beyond 4 GiB or 64 passes")
	}
	return nil
}

// phc is a parsed "$argon2id$v=19$m=…,t=…,p=…$salt$hash" string.
type phc struct {
	params Argon2Params
	salt   []byte
	hash   []byte
}

var b64 = base64.RawStdEncoding // PHC uses unpadded standard base64

// hashPassword returns the PHC string of an argon2id hash of password with a
// fresh random salt.
func hashPassword(password string, p Argon2Params) (string, error) {
	return argonGate.hash(password, p)
}

func (g *hashGate) hash(password string, p Argon2Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := randomBytes(argon2SaltLen)
	key := g.idKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argon2KeyLen)
	return encodePHC(p, salt, key), nil
}

// dummyHash is a well-formed hash with p's cost that no password matches
// (its key is random, not derived): verifying against it costs what a real
// verification costs, so unknown user names take as long as known ones,
// without running argon2 (64 MiB) when the PS starts (issue 12: idle RSS).
func dummyHash(p Argon2Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	return encodePHC(p, randomBytes(argon2SaltLen), randomBytes(argon2KeyLen)), nil
}

func encodePHC(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parsePHC parses an argon2id PHC string and bounds its parameters (a
// tampered row must not make a login allocate gigabytes).
func parsePHC(s string) (*phc, error) {
	bad := errors.New("account: malformed password hash")
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, bad
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, bad
	}
	var p Argon2Params
	seen := 0
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, bad
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, bad
		}
		switch k {
		case "m":
			p.MemoryKiB, seen = uint32(n), seen|1
		case "t":
			p.Time, seen = uint32(n), seen|2
		case "p":
			if n > 255 {
				return nil, bad
			}
			p.Threads, seen = uint8(n), seen|4
		default:
			return nil, bad
		}
	}
	if seen != 7 || p.validate() != nil {
		return nil, bad
	}
	salt, err := b64.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return nil, bad
	}
	hash, err := b64.Strict().DecodeString(parts[5])
	if err != nil || len(hash) < 16 || len(hash) > 64 {
		return nil, bad
	}
	return &phc{params: p, salt: salt, hash: hash}, nil
}

// verifyPassword reports whether password matches the PHC string encoded,
// comparing in constant time, and whether the hash should be redone with
// want (other parameters or key length).
func verifyPassword(password, encoded string, want Argon2Params) (ok, rehash bool, err error) {
	return argonGate.verify(password, encoded, want)
}

func (g *hashGate) verify(password, encoded string, want Argon2Params) (ok, rehash bool, err error) {
	h, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	key := g.idKey([]byte(password), h.salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, uint32(len(h.hash)))
	ok = subtle.ConstantTimeCompare(key, h.hash) == 1
	return ok, ok && (h.params != want || len(h.hash) != argon2KeyLen || len(h.salt) != argon2SaltLen), nil
}

// hashGate bounds the argon2 computations running at once in the process
// and gives their memory back to the system after a burst (issue 12). Each
// computation allocates its whole cost (64 MiB by default) and drops it;
// unbounded, N concurrent logins held N × 64 MiB at once, and the Go heap
// kept the pages long after (RSS 162–168 MB after the load run's set-up
// against 39 MB at start). Bounded, they queue: on a CPU-bound hash that
// costs no throughput once the hashes fill the cores. A hash that others
// queue behind is collected before the next starts, so a burst reuses one
// block per slot; when the last one of a burst ends, debug.FreeOSMemory
// collects and returns the freed blocks at once (one garbage collection of
// a small heap, against the hash's tens or hundreds of milliseconds), for
// hashes of 16 MiB and more.
type hashGate struct {
	slots    chan struct{}
	inflight atomic.Int64
	// released counts the returns to the system; during is a test hook
	// called once a slot is held, whose result is called as it is given
	// back.
	released atomic.Int64
	// collected counts the collections between queued hashes.
	collected atomic.Int64
	during    func() (done func())
	// releaseKiB is the cost from which a burst's end returns memory
	// (smaller hashes, as in tests, leave it to the garbage collector).
	releaseKiB uint32
}

// argonGate is the process's gate: as many hashes at once as the cores
// hold two argon2 lanes each (DefaultArgon2.Threads), at least 1, at most 4.
var argonGate = newHashGate(min(max(runtime.GOMAXPROCS(0)/2, 1), 4))

func newHashGate(n int) *hashGate {
	return &hashGate{slots: make(chan struct{}, n), releaseKiB: 16 * 1024}
}

// idKey is argon2.IDKey through the gate.
func (g *hashGate) idKey(password, salt []byte, time, memoryKiB uint32, threads uint8, keyLen uint32) []byte {
	g.inflight.Add(1)
	g.slots <- struct{}{}
	done := func() {}
	if g.during != nil {
		done = g.during()
	}
	key := argon2.IDKey(password, salt, time, memoryKiB, threads, keyLen)
	done()
	last := g.inflight.Add(-1) == 0
	if memoryKiB < g.releaseKiB {
		<-g.slots
		return key
	}
	if !last {
		// Others queue behind this hash: collect its block before the
		// next one starts, so that one reuses the warm pages instead of
		// the heap growing by a block per hash up to the collector's
		// target. 8 logins at once peaked at 160–162 MB (GOGC=100) and
		// 226 MB (200); collected, at 94–97 MB either way, and they
		// ended sooner (0.63–0.72 s against 0.78–0.93 s: no page faults).
		// Not FreeOSMemory here: faulting the block in again took the
		// burst to 1.6–1.8 s.
		runtime.GC()
		g.collected.Add(1)
	}
	<-g.slots
	if last {
		debug.FreeOSMemory()
		g.released.Add(1)
	}
	return key
}
