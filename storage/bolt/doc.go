// Package bolt is the bbolt implementation of storage.Storage: everything
// authd keeps lives in one file, opened by one process at a time.
//
// # Layout
//
// The file holds one top-level bucket per kind of item:
//
//	meta            schema version
//	users           username → user (JSON, userRecord)
//	user_ids        user id → username
//	clients         client id → client (JSON, clientRecord)
//	families        family id → family (compact binary)
//	tokens          token hash → refresh token (compact binary)
//	user_families   len(user id) | user id | family id → nothing
//	expiry          expiry time | kind | id → nothing
//	deny            jti → exp (a time as appendTime writes it)
//	keys            "set" → the whole signing key set (JSON, keyRecord array)
//	secrets         name → bytes
//	login_sessions  sign-in session (cookie) hash → session (compact binary)
//	codes           authorization code hash → code (compact binary)
//	consents        user id | 0x00 | client id → consent (compact binary)
//
// Every record's encoding is in codec.go: the storage value types carry no
// tags, and a change to them does not change the file unless codec.go
// changes too.
//
// The expiry index orders keys by time (8-byte big-endian Unix nanoseconds,
// sign bit flipped, then a kind byte and the id), so Sweep reads only what
// has expired. Kinds: 't' a refresh token (at the earlier of its idle
// expiry and its family's), 'f' a family (ExpiresAt), 'd' a deny entry
// (exp), 'c' a code (ForgetAt), 's' a sign-in session (the earlier of its
// idle and absolute expiry, moved by each touch). Every write that moves
// an item's expiry moves its entry in the same transaction.
//
// Ids and hashes are keys as given. A consent's user id holds no NUL byte
// (PutConsent refuses one), so a user's consents are the one key range
// with prefix user id | 0x00, in (user, client) order, read alone by
// ListConsents with a user and by DeleteUser. A user's families are found
// through user_families (DeleteUser, RevokeConsent, ListFamilies with a
// user).
//
// # Writes
//
// Every write goes through one committer goroutine. It takes the first
// pending write at once, drains whatever else is queued (up to a cap), runs
// them all in one bbolt transaction and fsyncs once. An idle database thus
// commits without delay and a busy one amortises the fsync over many
// writes. If one write fails, the transaction is rolled back, the others are
// run again together and the failed one alone, so a write function may run
// more than once. A method returns only after its write is on disk (unless
// Options.NoSync).
//
// Reads run in their own read-only transactions, concurrently with writes.
// Every value returned is a copy owned by the caller.
//
// # Files
//
//	bolt.go      Open, Options, schema migrations, Stats, Backup, Close
//	commit.go    the committer: group commit, write timing
//	codec.go     the on-disk format: every record's encoding, index keys
//	users.go     users           clients.go   clients
//	refresh.go   families and refresh tokens (UpdateRefresh, ListFamilies)
//	logins.go    sign-in sessions
//	codes.go     authorization codes (RedeemCode)
//	consents.go  consents
//	deny.go      the access-token deny list
//	keys.go      the signing key set
//	secrets.go   server secrets
//	sweep.go     Sweep, over the expiry index
//
// # Schema
//
// The schema version is stored in the meta bucket. Open runs the migrations
// the file lacks, in order, and refuses a file written by a newer binary.
// Version 1 created the buckets, 2 gave clients an Instance (family format
// 2), 3 marked family format 3 (idle expiry), 4 created login_sessions,
// codes and consents (family format 4: the sign-in session id). A format
// change that an older binary cannot read moves the version on, so that
// binary refuses the file instead of failing on each record.
package bolt
