package bolt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/authd/authd/storage"
)

// Families and tokens are the bulk of the file (one family and one or two
// tokens per login), so they get a compact binary encoding: a format byte,
// then the fields in order, strings as uvarint length and bytes, integers
// as uvarints, times as described at appendTime. A token's hash is its key
// and is not repeated in the value.
//
// Times come back in UTC, without monotonic reading: compare them with
// time.Time.Equal.

// Family format 2 appends ClientInstance to format 1; format 1 records,
// written before clients had instances, decode with an empty one. Format 3
// appends IdleExpiresAt to format 2, format 4 LoginSessionID to format 3;
// older records decode with the fields they lack zero.
const (
	familyFormat1 = 1
	familyFormat2 = 2
	familyFormat3 = 3
	familyFormat  = 4
	tokenFormat   = 1

	loginSessionFormat = 1
	codeFormat         = 1
	consentFormat      = 1
)

var errCorrupt = errors.New("corrupt record")

func encodeFamily(f storage.Family) []byte {
	b := make([]byte, 0, 160+len(f.ID)+len(f.UserID)+len(f.ClientID)+len(f.Audience)+len(f.RevokeReason)+len(f.ClientInstance)+len(f.LoginSessionID))
	b = append(b, familyFormat)
	b = appendString(b, f.ID)
	b = appendString(b, f.UserID)
	b = appendString(b, f.ClientID)
	b = binary.AppendUvarint(b, uint64(len(f.Scope)))
	for _, s := range f.Scope {
		b = appendString(b, s)
	}
	b = appendString(b, f.Audience)
	b = binary.AppendUvarint(b, f.UserGen)
	b = appendTime(b, f.AuthTime)
	b = appendTime(b, f.CreatedAt)
	b = appendTime(b, f.LastUsedAt)
	b = appendTime(b, f.ExpiresAt)
	b = appendTime(b, f.RevokedAt)
	b = appendString(b, f.RevokeReason)
	b = appendString(b, f.ClientInstance)
	b = appendTime(b, f.IdleExpiresAt)
	b = appendString(b, f.LoginSessionID)
	return b
}

func decodeFamily(v []byte) (storage.Family, error) {
	d := decoder{b: v}
	format := d.byte()
	if format < familyFormat1 || format > familyFormat {
		return storage.Family{}, fmt.Errorf("family: %w: unknown format", errCorrupt)
	}
	var f storage.Family
	f.ID = d.string()
	f.UserID = d.string()
	f.ClientID = d.string()
	f.Scope = d.strings()
	f.Audience = d.string()
	f.UserGen = d.uvarint()
	f.AuthTime = d.time()
	f.CreatedAt = d.time()
	f.LastUsedAt = d.time()
	f.ExpiresAt = d.time()
	f.RevokedAt = d.time()
	f.RevokeReason = d.string()
	if format >= familyFormat2 {
		f.ClientInstance = d.string()
	}
	if format >= familyFormat3 {
		f.IdleExpiresAt = d.time()
	}
	if format >= familyFormat {
		f.LoginSessionID = d.string()
	}
	if err := d.done(); err != nil {
		return storage.Family{}, fmt.Errorf("family: %w", err)
	}
	return f, nil
}

func encodeToken(t storage.RefreshToken) []byte {
	b := make([]byte, 0, 48+len(t.FamilyID)+len(t.SuccessorHash))
	b = append(b, tokenFormat)
	b = appendString(b, t.FamilyID)
	b = appendTime(b, t.IssuedAt)
	b = appendTime(b, t.IdleExpiresAt)
	b = appendTime(b, t.SpentAt)
	b = appendString(b, t.SuccessorHash)
	return b
}

func decodeToken(hash, v []byte) (storage.RefreshToken, error) {
	d := decoder{b: v}
	if d.byte() != tokenFormat {
		return storage.RefreshToken{}, fmt.Errorf("token: %w: unknown format", errCorrupt)
	}
	t := storage.RefreshToken{Hash: string(hash)}
	t.FamilyID = d.string()
	t.IssuedAt = d.time()
	t.IdleExpiresAt = d.time()
	t.SpentAt = d.time()
	t.SuccessorHash = d.string()
	if err := d.done(); err != nil {
		return storage.RefreshToken{}, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

// Sign-in sessions, codes and consents have a compact binary encoding of
// their own, like families: a format byte, then the fields in order. A
// session's and a code's hash is its key and is not repeated.

func encodeLoginSession(s storage.LoginSession) []byte {
	b := make([]byte, 0, 80+len(s.ID)+len(s.UserID))
	b = append(b, loginSessionFormat)
	b = appendString(b, s.ID)
	b = appendString(b, s.UserID)
	b = binary.AppendUvarint(b, s.UserGen)
	b = appendTime(b, s.AuthTime)
	b = appendTime(b, s.CreatedAt)
	b = appendTime(b, s.LastSeenAt)
	b = appendTime(b, s.IdleExpiresAt)
	b = appendTime(b, s.ExpiresAt)
	return b
}

func decodeLoginSession(hash, v []byte) (storage.LoginSession, error) {
	d := decoder{b: v}
	if d.byte() != loginSessionFormat {
		return storage.LoginSession{}, fmt.Errorf("sign-in session: %w: unknown format", errCorrupt)
	}
	s := storage.LoginSession{Hash: string(hash)}
	s.ID = d.string()
	s.UserID = d.string()
	s.UserGen = d.uvarint()
	s.AuthTime = d.time()
	s.CreatedAt = d.time()
	s.LastSeenAt = d.time()
	s.IdleExpiresAt = d.time()
	s.ExpiresAt = d.time()
	if err := d.done(); err != nil {
		return storage.LoginSession{}, fmt.Errorf("sign-in session: %w", err)
	}
	return s, nil
}

func encodeCode(c storage.AuthCode) []byte {
	n := 200 + len(c.ClientID) + len(c.ClientInstance) + len(c.UserID) + len(c.RedirectURI) + len(c.CodeChallenge) +
		len(c.Audience) + len(c.Nonce) + len(c.LoginSessionID) + len(c.FamilyID) + len(c.AccessTokenID)
	for _, s := range c.Scope {
		n += 2 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, codeFormat)
	b = appendString(b, c.ClientID)
	b = appendString(b, c.ClientInstance)
	b = appendString(b, c.UserID)
	b = binary.AppendUvarint(b, c.UserGen)
	b = appendString(b, c.RedirectURI)
	b = appendBool(b, c.RedirectURIGiven)
	b = appendString(b, c.CodeChallenge)
	b = appendStrings(b, c.Scope)
	b = appendString(b, c.Audience)
	b = appendString(b, c.Nonce)
	b = appendTime(b, c.AuthTime)
	b = appendString(b, c.LoginSessionID)
	b = appendTime(b, c.IssuedAt)
	b = appendTime(b, c.ExpiresAt)
	b = appendTime(b, c.SpentAt)
	b = appendString(b, c.FamilyID)
	b = appendString(b, c.AccessTokenID)
	b = appendTime(b, c.AccessTokenExpiresAt)
	b = appendTime(b, c.ForgetAt)
	return b
}

func decodeCode(hash, v []byte) (storage.AuthCode, error) {
	d := decoder{b: v}
	if d.byte() != codeFormat {
		return storage.AuthCode{}, fmt.Errorf("code: %w: unknown format", errCorrupt)
	}
	c := storage.AuthCode{Hash: string(hash)}
	c.ClientID = d.string()
	c.ClientInstance = d.string()
	c.UserID = d.string()
	c.UserGen = d.uvarint()
	c.RedirectURI = d.string()
	c.RedirectURIGiven = d.bool()
	c.CodeChallenge = d.string()
	c.Scope = d.strings()
	c.Audience = d.string()
	c.Nonce = d.string()
	c.AuthTime = d.time()
	c.LoginSessionID = d.string()
	c.IssuedAt = d.time()
	c.ExpiresAt = d.time()
	c.SpentAt = d.time()
	c.FamilyID = d.string()
	c.AccessTokenID = d.string()
	c.AccessTokenExpiresAt = d.time()
	c.ForgetAt = d.time()
	if err := d.done(); err != nil {
		return storage.AuthCode{}, fmt.Errorf("code: %w", err)
	}
	return c, nil
}

func encodeConsent(c storage.Consent) []byte {
	n := 40 + len(c.UserID) + len(c.ClientID) + len(c.ClientInstance)
	for _, s := range c.Scopes {
		n += 2 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, consentFormat)
	b = appendString(b, c.UserID)
	b = appendString(b, c.ClientID)
	b = appendString(b, c.ClientInstance)
	b = appendStrings(b, c.Scopes)
	b = appendTime(b, c.GrantedAt)
	b = appendTime(b, c.UpdatedAt)
	return b
}

func decodeConsent(v []byte) (storage.Consent, error) {
	d := decoder{b: v}
	if d.byte() != consentFormat {
		return storage.Consent{}, fmt.Errorf("consent: %w: unknown format", errCorrupt)
	}
	var c storage.Consent
	c.UserID = d.string()
	c.ClientID = d.string()
	c.ClientInstance = d.string()
	c.Scopes = d.strings()
	c.GrantedAt = d.time()
	c.UpdatedAt = d.time()
	if err := d.done(); err != nil {
		return storage.Consent{}, fmt.Errorf("consent: %w", err)
	}
	return c, nil
}

// appendStrings encodes a list as uvarint(count) then each string; an
// empty list (nil or not) is one 0 byte and decodes as nil.
func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// appendBool encodes false as 0 and true as 1.
func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime encodes the zero time as one 0 byte and any other time,
// losslessly, as uvarint(nanoseconds+1) then varint(Unix seconds).
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(t.Nanosecond())+1)
	return binary.AppendVarint(b, t.Unix())
}

// decoder reads what the append functions wrote. The first error sticks;
// later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errCorrupt, nil }

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n]) // copies out of bbolt's memory
	d.b = d.b[n:]
	return s
}

// strings reads what appendStrings wrote; a count larger than the bytes
// left (each string takes at least one) is corrupt, so a damaged count
// cannot make it allocate much.
func (d *decoder) strings() []string {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string()
	}
	return ss
}

// bool reads what appendBool wrote; any other byte is corrupt.
func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail()
	return false
}

func (d *decoder) time() time.Time {
	ns := d.uvarint()
	if ns == 0 {
		return time.Time{}
	}
	sec := d.varint()
	if ns > 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(ns-1)).UTC()
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	return d.err
}

// Expiry index keys: 8 bytes of Unix nanoseconds, big-endian with the sign
// bit flipped so that byte order is time order, then a kind byte and the
// item's id. Times outside the int64 nanosecond range (years 1678-2262) are
// clamped to it.
const (
	kindCode         byte = 'c'
	kindDeny         byte = 'd'
	kindFamily       byte = 'f'
	kindLoginSession byte = 's'
	kindToken        byte = 't'
)

var (
	minNano = time.Unix(0, math.MinInt64)
	maxNano = time.Unix(0, math.MaxInt64)
)

func nanos(t time.Time) uint64 {
	var n int64
	switch {
	case t.Before(minNano):
		n = math.MinInt64
	case t.After(maxNano):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	return uint64(n) ^ (1 << 63)
}

func expiryKey(t time.Time, kind byte, id string) []byte {
	k := make([]byte, 0, 9+len(id))
	k = binary.BigEndian.AppendUint64(k, nanos(t))
	k = append(k, kind)
	return append(k, id...)
}

// parseExpiryKey splits an index key; the id is a copy.
func parseExpiryKey(k []byte) (at uint64, kind byte, id string, ok bool) {
	if len(k) < 9 {
		return 0, 0, "", false
	}
	return binary.BigEndian.Uint64(k), k[8], string(k[9:]), true
}

// userFamilyKey is uvarint(len(userID)) | userID | familyID; the length
// prefix keeps one user's keys from being a prefix of another's.
func userFamilyKey(userID, familyID string) []byte {
	k := userFamilyPrefix(userID)
	return append(k, familyID...)
}

func userFamilyPrefix(userID string) []byte {
	k := make([]byte, 0, binary.MaxVarintLen64+len(userID)+32)
	k = binary.AppendUvarint(k, uint64(len(userID)))
	return append(k, userID...)
}

// consentKey is userID | 0x00 | clientID: byte order is (user, client)
// order, and a user's consents are the one range with prefix
// consentPrefix(userID), since user ids hold no NUL (PutConsent refuses
// one).
func consentKey(userID, clientID string) []byte {
	return append(consentPrefix(userID), clientID...)
}

func consentPrefix(userID string) []byte {
	k := make([]byte, 0, len(userID)+1+32)
	k = append(k, userID...)
	return append(k, 0)
}

// Users, clients and the key set are stored as JSON, in the record types
// below: they are few and small, and JSON lets a field be added without a
// new format. The field names and omission rules are the file format; the
// storage value types carry none, so a change there cannot change what is
// on disk by accident. Each record type mirrors one value type field for
// field (TestCodec_Golden holds records as earlier binaries wrote them).

// decodeJSON decodes one JSON record; what names it in errors.
func decodeJSON[R any](what string, v []byte) (R, error) {
	var r R
	if err := json.Unmarshal(v, &r); err != nil {
		var zero R
		return zero, fmt.Errorf("%s: %w: %w", what, errCorrupt, err)
	}
	return r, nil
}

type userRecord struct {
	ID                string    `json:"id"`
	Username          string    `json:"username"`
	PasswordHash      string    `json:"password_hash"`
	Scopes            []string  `json:"scopes,omitempty"`
	Admin             bool      `json:"admin"`
	Disabled          bool      `json:"disabled"`
	SessionGen        uint64    `json:"session_gen"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	SessionsEndedAt   time.Time `json:"sessions_ended_at,omitzero"`
	SessionsEndReason string    `json:"sessions_end_reason,omitempty"`
}

func encodeUser(u storage.User) ([]byte, error) {
	return json.Marshal(userRecord(u))
}

func decodeUser(v []byte) (storage.User, error) {
	r, err := decodeJSON[userRecord]("user", v)
	return storage.User(r), err
}

type clientRecord struct {
	ID             string    `json:"id"`
	Public         bool      `json:"public"`
	SecretHash     string    `json:"secret_hash,omitempty"`
	Grants         []string  `json:"grants"`
	Scopes         []string  `json:"scopes,omitempty"`
	Audiences      []string  `json:"audiences,omitempty"`
	RedirectURIs   []string  `json:"redirect_uris,omitempty"`
	FirstParty     bool      `json:"first_party,omitempty"`
	BuiltIn        bool      `json:"built_in,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	Instance       string    `json:"instance,omitempty"`
	LegacyFamilies bool      `json:"legacy_families,omitempty"`
}

func encodeClient(c storage.Client) ([]byte, error) {
	return json.Marshal(clientRecord(c))
}

func decodeClient(v []byte) (storage.Client, error) {
	r, err := decodeJSON[clientRecord]("client", v)
	return storage.Client(r), err
}

type keyRecord struct {
	ID          string           `json:"kid"`
	State       storage.KeyState `json:"state"`
	Private     []byte           `json:"private"`
	Encrypted   bool             `json:"encrypted"`
	Bits        int              `json:"bits"`
	Alg         string           `json:"alg,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
	PublishedAt time.Time        `json:"published_at,omitzero"`
	ActivatedAt time.Time        `json:"activated_at,omitzero"`
	RetiredAt   time.Time        `json:"retired_at,omitzero"`
	RemoveAt    time.Time        `json:"remove_at,omitzero"`
	RevokedAt   time.Time        `json:"revoked_at,omitzero"`
}

// encodeKeys encodes the whole key set as one JSON array (null when
// empty).
func encodeKeys(keys []storage.Key) ([]byte, error) {
	var rs []keyRecord
	if keys != nil {
		rs = make([]keyRecord, len(keys))
	}
	for i, k := range keys {
		rs[i] = keyRecord(k)
	}
	return json.Marshal(rs)
}

func decodeKeys(v []byte) ([]storage.Key, error) {
	rs, err := decodeJSON[[]keyRecord]("keys", v)
	if err != nil {
		return nil, err
	}
	var keys []storage.Key
	if rs != nil {
		keys = make([]storage.Key, len(rs))
	}
	for i, r := range rs {
		keys[i] = storage.Key(r)
	}
	return keys, nil
}
