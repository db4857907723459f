package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// MinSecretLength is the shortest key-encryption secret NewSealer accepts.
const MinSecretLength = 32

// Errors from Sealer.Open (and from Manager methods that decrypt).
var (
	// ErrSecretMismatch: the sealed key was made under another
	// key-encryption secret.
	ErrSecretMismatch = errors.New("key-encryption secret does not match the stored keys")
	// ErrSealedKeyCorrupt: the sealed key was altered, truncated, or belongs
	// to another kid (rows swapped).
	ErrSealedKeyCorrupt = errors.New("sealed signing key is corrupt, was altered, or belongs to another kid")
)

// Sealed format, version 1:
//
//	0x01 || check (8) || nonce (12) || AES-256-GCM(ciphertext || tag (16))
//
// check is an HKDF output (distinct info from the encryption key) that tells
// a wrong secret apart from a tampered blob; it reveals nothing a ciphertext
// would not already let an attacker test. The additional authenticated data
// binds the header and the kid, so a sealed key cannot be moved to another
// row.
const (
	sealVersion   byte = 1
	checkLen           = 8
	nonceLen           = 12
	headerLen          = 1 + checkLen
	minSealedLen       = headerLen + nonceLen + 16
	infoSealKey        = "aauth-ps signing-key seal v1 key"
	infoSealCheck      = "aauth-ps signing-key seal v1 check"
	aadPrefix          = "aauth-ps/signing-key/v1\x00"
)

// Sealer encrypts the PS's private signing keys at rest with AES-256-GCM
// under a key derived by HKDF-SHA256 from the operator's key-encryption
// secret.
type Sealer struct {
	aead  cipher.AEAD
	check [checkLen]byte
}

// NewSealer derives the sealing key from secret, which must be at least
// MinSecretLength bytes (of high entropy: it is used as HKDF input keying
// material, not stretched like a password).
func NewSealer(secret []byte) (*Sealer, error) {
	if len(secret) < MinSecretLength {
		return nil, fmt.Errorf("keys: the key-encryption secret must be at least %d bytes, got %d", MinSecretLength, len(secret))
	}
	key, err := hkdf.Key(sha256.New, secret, nil, infoSealKey, 32)
	if err != nil {
		return nil, fmt.Errorf("keys: derive sealing key: %w", err)
	}
	check, err := hkdf.Key(sha256.New, secret, nil, infoSealCheck, checkLen)
	if err != nil {
		return nil, fmt.Errorf("keys: derive sealing check: %w", err)
	}
	block, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s := &Sealer{aead: aead}
	copy(s.check[:], check)
	return s, nil
}

func aad(header []byte, kid string) []byte {
	b := make([]byte, 0, len(aadPrefix)+len(header)+len(kid))
	b = append(b, aadPrefix...)
	b = append(b, header...)
	return append(b, kid...)
}

// Seal encrypts plaintext (a PKCS#8 private key) for the row with kid.
func (s *Sealer) Seal(kid string, plaintext []byte) ([]byte, error) {
	if kid == "" {
		return nil, errors.New("keys: seal: empty kid")
	}
	out := make([]byte, headerLen+nonceLen, headerLen+nonceLen+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	copy(out[1:headerLen], s.check[:])
	nonce := out[headerLen : headerLen+nonceLen]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(out, nonce, plaintext, aad(out[:headerLen], kid)), nil
}

// Open decrypts a sealed key of the row with kid. It returns
// ErrSecretMismatch when the blob was sealed under another secret and
// ErrSealedKeyCorrupt when it was altered or belongs to another kid.
func (s *Sealer) Open(kid string, sealed []byte) ([]byte, error) {
	if len(sealed) < minSealedLen || sealed[0] != sealVersion {
		return nil, ErrSealedKeyCorrupt
	}
	if subtle.ConstantTimeCompare(sealed[1:headerLen], s.check[:]) != 1 {
		return nil, ErrSecretMismatch
	}
	nonce := sealed[headerLen : headerLen+nonceLen]
	pt, err := s.aead.Open(nil, nonce, sealed[headerLen+nonceLen:], aad(sealed[:headerLen], kid))
	if err != nil {
		return nil, ErrSealedKeyCorrupt
	}
	return pt, nil
}
