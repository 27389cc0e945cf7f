// Package password hashes and verifies user passwords and client secrets.
// The rules about user accounts (usernames, their scopes, files of users
// to import) are package account's.
//
// # User passwords
//
// A Hasher hashes passwords with argon2id (RFC 9106) and returns PHC
// strings in the format of the reference implementation:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// where salt and hash are standard base64 without padding. DefaultParams are
// the OWASP minimum for argon2id. Verify also accepts bcrypt hashes ($2a$,
// $2b$, $2y$) of imported users and asks for them to be rehashed.
//
// Hashing is memory-hard on purpose, so a Hasher runs at most MaxConcurrent
// hashes at a time: memory stays below MaxConcurrent × Params.Memory (for
// stored hashes with the current parameters), and a flood of login attempts
// queues instead of exhausting the machine. A caller that cannot get a slot
// within Config.Wait, or before its context's deadline, gets ErrBusy, which
// the server answers with 503 and Retry-After.
//
// VerifyDummy spends the time of a failed Verify, so that unknown and
// disabled users cannot be told apart from wrong passwords by timing.
//
// # Client secrets
//
// Generated client secrets carry 256 bits of entropy and need no slow hash:
// HashSecret stores them as a salted HMAC-SHA-256. Shorter, operator-chosen
// secrets are hashed with argon2id. A SecretVerifier checks both; the
// argon2id ones run in a Hasher's slots like passwords, and it remembers
// successful verifications of those in a small bounded cache, so that a
// client pays the argon2id cost once per process rather than once per
// request. What a verification costs depends only on the presented secret,
// so an unknown client costs what a wrong secret does.
//
// # Imported hashes
//
// CheckHash is the one definition of a stored hash that Verify accepts: the
// imports (account.ParseImport, the admin API's) apply it, and IsBcrypt and
// IsArgon2id tell the kinds of hash apart.
//
// All functions and methods are safe for concurrent use.
package password
