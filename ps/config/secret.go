package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// devSecretFile is where --dev keeps its generated key-encryption secret.
const devSecretFile = "dev-key-encryption-key"

// KeyEncryptionSecret returns the secret sealing the PS's private keys: from
// --key-encryption-key, from --key-encryption-key-file, or, with --dev only,
// generated once into the data directory (0600). generated reports the last case.
func (c *Config) KeyEncryptionSecret() (secret []byte, generated bool, err error) {
	switch {
	case c.KeyEncryptionKey != "":
		return []byte(c.KeyEncryptionKey), false, nil
	case c.KeyEncryptionKeyFile != "":
		b, err := os.ReadFile(c.KeyEncryptionKeyFile)
		if err != nil {
			return nil, false, err
		}
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return nil, false, errors.New("the key-encryption secret file holds fewer than 32 bytes")
		}
		return []byte(s), false, nil
	case !c.Dev:
		return nil, false, errors.New("no key-encryption secret configured")
	}
	path := filepath.Join(c.DataDir(), devSecretFile)
	if b, err := os.ReadFile(path); err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			// A truncated file must not silently become a weak key.
			return nil, false, fmt.Errorf("%s holds fewer than 32 bytes; restore it, or delete it and the database's sealed keys", path)
		}
		return []byte(s), false, nil
	}
	if err := os.MkdirAll(c.DataDir(), 0o700); err != nil {
		return nil, false, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, err
	}
	s := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return nil, false, fmt.Errorf("write %s: %w", path, err)
	}
	return []byte(s), true, nil
}
