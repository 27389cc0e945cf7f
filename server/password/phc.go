package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Params are argon2id parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are the OWASP minimum recommendation for argon2id:
// 19 MiB, two passes, one lane.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on the parameters that ParsePHC accepts and Params.Validate
// enforces: the most a server of authd's kind can spend on one login in
// each of its hashing slots. They keep a hostile, corrupt or imported hash
// from demanding absurd memory or time; CheckHash applies them to imports.
const (
	MaxMemory  = 256 * 1024 // KiB, 256 MiB
	MaxTime    = 10
	MinSaltLen = 8
	MaxSaltLen = 64
	MinKeyLen  = 16
	MaxKeyLen  = 64
)

// ErrMalformedHash is returned for a stored hash that is neither a valid
// argon2id PHC string nor a valid bcrypt hash.
var ErrMalformedHash = errors.New("password: malformed hash")

// HashError is the error of CheckHash, ParsePHC and Verify for a hash they
// refuse. It matches ErrMalformedHash. Reason says why in a sentence
// fragment fit for an operator (the import commands show it); it never
// contains the hash.
type HashError struct {
	Reason string
}

func (e *HashError) Error() string { return ErrMalformedHash.Error() + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrMalformedHash) true.
func (e *HashError) Unwrap() error { return ErrMalformedHash }

func hashErr(format string, args ...any) error {
	return &HashError{Reason: fmt.Sprintf(format, args...)}
}

// CheckHash reports whether h is a password hash that Hasher.Verify
// accepts: a bcrypt hash ($2a$, $2b$, $2y$) with a cost in [MinBcryptCost,
// MaxBcryptCost], or an argon2id PHC string within the bounds of ParsePHC.
// It is the one definition of an acceptable stored hash: users.ParseImport, the
// admin API's import and Verify all apply it, so an imported user can
// always log in, and no stored hash makes a login do more work than these
// bounds allow. It does not run the hash function. Errors are *HashError.
func CheckHash(h string) error {
	switch {
	case IsBcrypt(h):
		return checkBcrypt(h)
	case strings.HasPrefix(h, argon2idPrefix):
		_, _, _, err := ParsePHC(h)
		return err
	}
	return hashErr("not a bcrypt ($2a$, $2b$, $2y$) or argon2id hash")
}

// Validate reports whether p lies within the bounds above; argon2 also needs
// at least 8 KiB of memory per lane.
func (p Params) Validate() error {
	var errs []error
	if p.Time < 1 || p.Time > MaxTime {
		errs = append(errs, fmt.Errorf("time %d not in [1, %d]", p.Time, MaxTime))
	}
	if p.Threads < 1 {
		errs = append(errs, errors.New("threads must be at least 1"))
	}
	if p.Memory < 8*max(1, uint32(p.Threads)) || p.Memory > MaxMemory {
		errs = append(errs, fmt.Errorf("memory %d KiB not in [8×threads, %d]", p.Memory, MaxMemory))
	}
	if p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen {
		errs = append(errs, fmt.Errorf("salt length %d not in [%d, %d]", p.SaltLen, MinSaltLen, MaxSaltLen))
	}
	if p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen {
		errs = append(errs, fmt.Errorf("key length %d not in [%d, %d]", p.KeyLen, MinKeyLen, MaxKeyLen))
	}
	return errors.Join(errs...)
}

// b64 is the PHC base64: standard alphabet, no padding, canonical (the
// unused bits of the last character must be zero).
var b64 = base64.RawStdEncoding.Strict()

const argon2idPrefix = "$argon2id$"

// IsArgon2id reports whether s looks like an argon2id PHC string of any
// shape, valid or not.
func IsArgon2id(s string) bool { return strings.HasPrefix(s, argon2idPrefix) }

// ParsePHC parses an argon2id PHC string of the form
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>
//
// strictly: version 19 only, parameters in this order as decimal numbers
// without sign or leading zeros, canonical unpadded standard base64, and
// every value within the bounds of Params.Validate. The returned Params
// have SaltLen and KeyLen set to the decoded lengths. Errors wrap
// ErrMalformedHash and never contain the input.
func ParsePHC(s string) (p Params, salt, key []byte, err error) {
	fail := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, hashErr("malformed argon2id hash: %s", why)
	}
	rest, ok := strings.CutPrefix(s, argon2idPrefix)
	if !ok {
		return fail("not an argon2id PHC string")
	}
	fields := strings.Split(rest, "$")
	if len(fields) != 4 {
		return fail("want 4 fields after the algorithm")
	}
	if fields[0] != "v=19" {
		return fail("unsupported version")
	}
	kv := strings.Split(fields[1], ",")
	if len(kv) != 3 {
		return fail("want parameters m, t and p")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		num, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return fail("want parameters m, t and p in this order")
		}
		v, ok := parseDecimal(num)
		if !ok {
			return fail("parameter " + name + " is not a decimal number")
		}
		vals[i] = v
	}
	switch {
	case vals[0] > MaxMemory:
		return Params{}, nil, nil, hashErr("argon2id memory %d KiB is above the limit of %d KiB", vals[0], MaxMemory)
	case vals[1] > MaxTime:
		return Params{}, nil, nil, hashErr("argon2id time %d is above the limit of %d", vals[1], MaxTime)
	case vals[2] > 255:
		return fail("parallelism out of bounds")
	}
	if len(fields[2]) > b64.EncodedLen(MaxSaltLen) || len(fields[3]) > b64.EncodedLen(MaxKeyLen) {
		return fail("salt or hash too long")
	}
	if !isB64(fields[2]) || !isB64(fields[3]) {
		return fail("salt or hash has a character outside base64")
	}
	if salt, err = b64.DecodeString(fields[2]); err != nil {
		return fail("salt is not base64")
	}
	if key, err = b64.DecodeString(fields[3]); err != nil {
		return fail("hash is not base64")
	}
	p = Params{
		Memory:  uint32(vals[0]),
		Time:    uint32(vals[1]),
		Threads: uint8(vals[2]),
		SaltLen: uint32(len(salt)),
		KeyLen:  uint32(len(key)),
	}
	if err := p.Validate(); err != nil {
		return fail(strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return p, salt, key, nil
}

// isB64 reports whether s has only characters of the standard base64
// alphabet. The decoder alone would skip CR and LF.
func isB64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// parseDecimal parses a PHC decimal: digits only, no leading zero unless the
// number is 0, at most 10 digits.
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

// encodePHC formats an argon2id hash as a PHC string.
func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s",
		p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// MaxBcryptCost is the highest bcrypt cost that CheckHash (and so Verify
// and every import) accepts. Cost 17 takes about ten seconds on current
// hardware; higher costs in a stored hash are far more likely corruption or
// an attack than a deliberate choice.
const MaxBcryptCost = 17

// MinBcryptCost is bcrypt's own minimum.
const MinBcryptCost = 4

// bcryptAlphabet is bcrypt's base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// IsBcrypt reports whether s looks like a bcrypt hash ($2a$, $2b$ or $2y$
// prefix) of any shape, valid or not.
func IsBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// checkBcrypt validates a bcrypt hash strictly: $2a$, $2b$ or $2y$, a
// two-digit cost in [MinBcryptCost, MaxBcryptCost], and 53 characters of
// bcrypt base64 (22 of salt, 31 of hash). Errors are *HashError and never
// contain the input.
func checkBcrypt(s string) error {
	if !IsBcrypt(s) {
		return hashErr("malformed bcrypt hash: want prefix $2a$, $2b$ or $2y$")
	}
	if len(s) != 60 || s[6] != '$' {
		return hashErr("malformed bcrypt hash: wrong length or layout")
	}
	cost, ok := parseDecimal(strings.TrimPrefix(s[4:6], "0"))
	if !ok {
		return hashErr("malformed bcrypt hash: the cost is not a number")
	}
	if cost < MinBcryptCost || cost > MaxBcryptCost {
		return hashErr("bcrypt cost %d is outside %d to %d, the costs this server verifies", cost, MinBcryptCost, MaxBcryptCost)
	}
	for i := 7; i < len(s); i++ {
		if strings.IndexByte(bcryptAlphabet, s[i]) < 0 {
			return hashErr("malformed bcrypt hash: invalid character in salt or hash")
		}
	}
	return nil
}
