package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/authd/authd/storage"
)

var _ storage.Storage = (*DB)(nil)

// Errors of Open, besides those of the file system.
var (
	// ErrLocked: another process holds the database file (bbolt's file lock
	// was not obtained within Options.Timeout).
	ErrLocked = errors.New("database in use by another process")
	// ErrInvalidFile: the file is not a bbolt database, or a damaged one.
	ErrInvalidFile = errors.New("not a valid database file")
	// ErrSchemaTooNew: the file was written by a newer authd whose schema
	// this binary does not know.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary supports")
)

// Options configure Open. The zero value (or nil) gives the defaults.
type Options struct {
	// Timeout is how long Open waits for the file lock held by another
	// process before it fails with ErrLocked. Default 1s.
	Timeout time.Duration
	// NoSync skips fsync after each commit. A crash may then lose or corrupt
	// data: for tests and benchmarks only.
	NoSync bool
	// Logger receives migrations and warnings. Default: discard.
	Logger *slog.Logger
	// Now is the clock write transactions are timed with (Stats, the
	// slow-transaction warning, SweepStats.WriteTime). No stored time
	// comes from it: callers pass every time they store. Default time.Now.
	Now func() time.Time
}

// DB is an open database. It is safe for concurrent use.
type DB struct {
	db       *bbolt.DB
	openTxid int // the last transaction when opened
	log      *slog.Logger
	now      func() time.Time
	closed   atomic.Bool

	// mu guards sending on calls against Close closing it.
	mu      sync.RWMutex
	calls   chan *call
	drained chan struct{}

	writes         atomic.Uint64
	commits        atomic.Uint64
	commitNanos    atomic.Uint64
	commitMaxNanos atomic.Uint64
	slowCommits    atomic.Uint64 // holds past slowCommit
	slowLogged     atomic.Int64  // unix nanos of the last slow-commit warning
}

// Stats counts the work of the committer since Open.
type Stats struct {
	// Writes is the number of write functions committed or failed.
	Writes uint64
	// Commits is the number of write transactions (each one fsync).
	Commits uint64
	// CommitTime is the total time write transactions held the write lock,
	// and CommitMax the longest single hold, since Open.
	CommitTime, CommitMax time.Duration
	// SlowCommits is the number of write transactions that held the lock
	// longer than 50 ms (each is also logged, at most once a second).
	SlowCommits uint64
	// FileSize is the size of the database file in bytes.
	FileSize int64
	// ReadTx is the number of read transactions started; OpenReadTx of
	// those still open.
	ReadTx, OpenReadTx int
	// FreePages is the number of free pages on the freelist.
	FreePages int
}

const (
	defaultTimeout = time.Second
	// maxBatch caps how many writes share one transaction, so that one
	// commit does not grow without bound under load.
	maxBatch = 256
)

var (
	bucketMeta         = []byte("meta")
	bucketUsers        = []byte("users")
	bucketUserIDs      = []byte("user_ids")
	bucketClients      = []byte("clients")
	bucketFamilies     = []byte("families")
	bucketTokens       = []byte("tokens")
	bucketUserFamilies = []byte("user_families")
	bucketExpiry       = []byte("expiry")
	bucketDeny         = []byte("deny")
	bucketKeys         = []byte("keys")
	bucketSecrets      = []byte("secrets")
	bucketLogins       = []byte("login_sessions")
	bucketCodes        = []byte("codes")
	bucketConsents     = []byte("consents")

	keySchemaVersion = []byte("schema_version")
)

// migrations bring the schema from version i to i+1. They only ever get
// appended to; the schema version of a file is the number it has run.
var migrations = []func(tx *bbolt.Tx) error{
	// 1: the buckets.
	func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{
			bucketUsers, bucketUserIDs, bucketClients, bucketFamilies,
			bucketTokens, bucketUserFamilies, bucketExpiry, bucketDeny,
			bucketKeys, bucketSecrets,
		} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	},
	// 2: clients get an Instance, which families (family format 2) and
	// access tokens record. Families stored before have none; rather than
	// walk them all (a million take seconds), the clients that exist now
	// are marked as theirs (LegacyFamilies), so they match only a client
	// that existed at this migration and was created before them
	// (storage.Client.Issued). A client created later never has the mark.
	func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketClients)
		type kv struct{ k, v []byte }
		var out []kv
		err := b.ForEach(func(k, v []byte) error {
			c, err := decodeClient(v)
			if err != nil {
				return fmt.Errorf("%q: %w", k, err)
			}
			if c.Instance == "" {
				c.Instance = newInstance()
			}
			c.LegacyFamilies = true
			nv, err := encodeClient(c)
			if err != nil {
				return err
			}
			out = append(out, kv{bytes.Clone(k), nv})
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range out {
			if err := b.Put(e.k, e.v); err != nil {
				return err
			}
		}
		return nil
	},
	// 3: families record their newest token's idle expiry (family format
	// 3), which a schema-2 binary cannot decode: the version moves on so
	// that such a binary refuses the file (ErrSchemaTooNew) instead of
	// failing on each new family. Nothing is rewritten: older families
	// read with a zero one and are written in format 3 when next changed.
	func(*bbolt.Tx) error { return nil },
	// 4: the authorization code flow (issue 14): buckets for sign-in
	// sessions, codes and consents, whose expiry entries share the
	// expiry index; families record their sign-in session (family format
	// 4), which a schema-3 binary cannot decode. Nothing is rewritten.
	func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketLogins, bucketCodes, bucketConsents} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	},
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() uint64 { return uint64(len(migrations)) }

// Open opens the database at path, creating it (mode 0600) if it does not
// exist, and migrates its schema to the current version. It fails with
// ErrLocked if another process has it open, ErrInvalidFile if the file is not
// a bbolt database and ErrSchemaTooNew if a newer binary wrote it.
func Open(path string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}

	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		o.Logger.Warn("database file is accessible to other users", "path", path, "mode", fi.Mode().Perm().String())
	}

	// The free-page list is not written on commit (as etcd runs bbolt):
	// written, it costs every commit time and bytes in proportion to the
	// free pages, and after a mass expiry (a sweep of 1M families frees
	// most of the file) that made each commit 20–200 ms instead of about
	// one. Close writes it once, so Open after a clean stop reads it;
	// after a crash Open rebuilds it by walking the file (about 1 s per
	// GiB here). A crash loses nothing either way.
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        o.Timeout,
		NoSync:         o.NoSync,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("bolt: open %s: %w (no lock after %v)", path, ErrLocked, o.Timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("bolt: open %s: %w: %w", path, ErrInvalidFile, err)
	case err != nil:
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}

	openTxid := txid(bdb)
	if err := migrate(bdb, o.Logger); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}

	db := &DB{
		db:       bdb,
		openTxid: openTxid,
		log:      o.Logger,
		now:      o.Now,
		calls:    make(chan *call, maxBatch),
		drained:  make(chan struct{}),
	}
	go db.commitLoop()
	return db, nil
}

// migrate runs the migrations the file lacks in one transaction.
func migrate(db *bbolt.DB, log *slog.Logger) error {
	var have uint64
	err := db.View(func(tx *bbolt.Tx) error {
		var err error
		have, err = schemaVersion(tx)
		return err
	})
	if err != nil {
		return err
	}
	want := SchemaVersion()
	switch {
	case have == want:
		return nil
	case have > want:
		return fmt.Errorf("%w: file has version %d, this binary knows up to %d", ErrSchemaTooNew, have, want)
	}
	return db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("create meta bucket: %w", err)
		}
		for v := have; v < want; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
			}
			log.Info("database schema migrated", "version", v+1)
		}
		return meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, want))
	})
}

// schemaVersion reads the schema version; 0 for a new file.
func schemaVersion(tx *bbolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		if hasBuckets(tx) {
			return 0, fmt.Errorf("%w: buckets but no schema version", ErrInvalidFile)
		}
		return 0, nil
	}
	v := meta.Get(keySchemaVersion)
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: bad schema version record", ErrInvalidFile)
	}
	return binary.BigEndian.Uint64(v), nil
}

func hasBuckets(tx *bbolt.Tx) bool {
	k, _ := tx.Cursor().First()
	return k != nil
}

// Stats reports the committer's counters.
func (db *DB) Stats() Stats {
	bs := db.db.Stats()
	st := Stats{
		Writes: db.writes.Load(), Commits: db.commits.Load(),
		CommitTime: time.Duration(db.commitNanos.Load()), CommitMax: time.Duration(db.commitMaxNanos.Load()),
		SlowCommits: db.slowCommits.Load(),
		ReadTx:      bs.TxN, OpenReadTx: bs.OpenTxN, FreePages: bs.FreePageN,
	}
	if fi, err := os.Stat(db.db.Path()); err == nil {
		st.FileSize = fi.Size()
	}
	return st
}

// Path is the database file's path.
func (db *DB) Path() string { return db.db.Path() }

// Ping reports whether the database is open and readable.
func (db *DB) Ping(ctx context.Context) error {
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("meta bucket missing")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: ping: %w", err)
	}
	return nil
}

// Close waits for pending writes to commit and closes the file. It is safe
// to call more than once; every method called after Close fails with
// storage.ErrClosed.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed.Load() {
		db.mu.Unlock()
		return nil
	}
	db.closed.Store(true)
	close(db.calls)
	db.mu.Unlock()
	<-db.drained
	// If anything was committed since Open, one more commit that writes
	// the free list, for a fast next Open (see Open). A file nothing was
	// written to is left byte for byte as it was. If the commit fails (a
	// full disk), the next Open rebuilds the list.
	if txid(db.db) != db.openTxid {
		db.db.NoFreelistSync = false
		if err := db.db.Update(func(*bbolt.Tx) error { return nil }); err != nil {
			db.log.Warn("could not save the free-page list; the next start will rebuild it", "error", err)
		}
	}
	if err := db.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

// txid is the id of the last committed transaction.
func txid(db *bbolt.DB) int {
	id := -1
	_ = db.View(func(tx *bbolt.Tx) error {
		id = tx.ID()
		return nil
	})
	return id
}

// Backup writes a consistent snapshot of the whole file to w from one read
// transaction; writes go on meanwhile. While it runs, bbolt cannot grow its
// memory map, so a write that needs a larger file waits for it to finish.
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("bolt: backup: %w", err)
	}
	return n, nil
}

// ctxWriter stops a long copy when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// read runs fn in a read-only transaction and returns its result. An
// error gets the method's context: fmt.Errorf(format, args..., err), so
// format ends in %w.
func read[T any](ctx context.Context, db *DB, fn func(tx *bbolt.Tx) (T, error), format string, args ...any) (T, error) {
	var out T
	err := db.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf(format, append(args, err)...)
	}
	return out, nil
}

// decodeAll decodes every value of b, in key order.
func decodeAll[T any](b *bbolt.Bucket, decode func(v []byte) (T, error)) ([]T, error) {
	var out []T
	err := b.ForEach(func(k, v []byte) error {
		x, err := decode(v)
		if err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// view runs fn in a read-only transaction. It returns fn's error as is;
// callers add their context.
func (db *DB) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if db.closed.Load() {
		return storage.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := db.db.View(fn)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return storage.ErrClosed
	}
	return err
}
