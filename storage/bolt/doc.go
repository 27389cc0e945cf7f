// Package bolt is the bbolt implementation of storage.Storage: everything
// authd keeps lives in one file, opened by one process at a time.
//
// # Layout
//
// The file holds one top-level bucket per kind of item:
//
//	meta           schema version
//	users          username → user (JSON, userRecord)
//	user_ids       user id → username
//	clients        client id → client (JSON, clientRecord)
//	families       family id → family (compact binary)
//	tokens         token hash → refresh token (compact binary)
//	user_families  len(user id) | user id | family id → nothing
//	expiry         expiry time | kind | id → nothing
//	deny           jti → exp (a time as appendTime writes it)
//	keys           "set" → the whole signing key set (JSON, keyRecord array)
//	secrets        name → bytes
//
// Every record's encoding is in codec.go: the storage value types carry no
// tags, and a change to them does not change the file unless codec.go
// changes too.
//
// The expiry index orders keys by time (8-byte big-endian Unix nanoseconds,
// sign bit flipped, then a kind byte and the id), so Sweep reads only what
// has expired.
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
//	deny.go      the access-token deny list
//	keys.go      the signing key set
//	secrets.go   server secrets
//	sweep.go     Sweep, over the expiry index
//
// # Schema
//
// The schema version is stored in the meta bucket. Open runs the migrations
// the file lacks, in order, and refuses a file written by a newer binary.
package bolt
