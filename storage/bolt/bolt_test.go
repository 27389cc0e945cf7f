package bolt_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/bolt"
	"github.com/authd/authd/storage/storagetest"
)

func openTemp(t testing.TB, opts *bolt.Options) (*bolt.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authd.db")
	db, err := bolt.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db, path
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		db, _ := openTemp(t, nil)
		return db
	}, func(t *testing.T, backup []byte) storage.Storage {
		path := filepath.Join(t.TempDir(), "backup.db")
		if err := os.WriteFile(path, backup, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(path, nil)
		if err != nil {
			t.Fatalf("Open of the backup: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)

// testFamily returns family number i with its first token. Ids and hashes
// are random-looking and as long as the server's (22-character ids, 64-hex
// hashes), so that keys land in the file as they do in production.
func testFamily(i int, expires time.Time) (storage.Family, storage.RefreshToken) {
	id := randomID("fam", i)
	f := storage.Family{
		ID:         id,
		UserID:     randomID("usr", i%1000),
		ClientID:   "my-web-app",
		Scope:      []string{"openid", "profile", "read"},
		Audience:   "https://api.example.com",
		UserGen:    1,
		AuthTime:   t0,
		CreatedAt:  t0,
		LastUsedAt: t0,
		ExpiresAt:  expires,
	}
	tok := storage.RefreshToken{
		Hash:          tokenHash(fmt.Sprint("tok-", i)),
		FamilyID:      id,
		IssuedAt:      t0,
		IdleExpiresAt: expires,
	}
	return f, tok
}

func randomID(kind string, i int) string {
	sum := sha256.Sum256([]byte(fmt.Sprint(kind, i)))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func tokenHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestDB_Open_Persists(t *testing.T) {
	db, path := openTemp(t, nil)
	ctx := t.Context()
	if err := db.CreateUser(ctx, storage.User{ID: "u1", Username: "alice", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	f, tok := testFamily(1, t0.Add(time.Hour))
	if err := db.CreateFamily(ctx, f, tok); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db2.Close()
	if u, err := db2.GetUser(ctx, "alice"); err != nil || u.ID != "u1" {
		t.Errorf("GetUser after reopen: got %+v, %v", u, err)
	}
	if got, _, err := db2.GetRefreshToken(ctx, tok.Hash); err != nil || got.FamilyID != f.ID {
		t.Errorf("GetRefreshToken after reopen: got %+v, %v", got, err)
	}
}

func TestDB_Open_SchemaVersion(t *testing.T) {
	db, path := openTemp(t, nil)
	db.Close()
	raw, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var got uint64
	raw.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte("meta")); b != nil {
			if v := b.Get([]byte("schema_version")); len(v) == 8 {
				got = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	if got != bolt.SchemaVersion() || got == 0 {
		t.Errorf("schema version: got %d, want %d", got, bolt.SchemaVersion())
	}
}

func TestDB_Open_NewerSchema(t *testing.T) {
	db, path := openTemp(t, nil)
	db.Close()
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, bolt.SchemaVersion()+1))
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = bolt.Open(path, nil)
	if !errors.Is(err, bolt.ErrSchemaTooNew) {
		t.Errorf("Open of a newer schema: got %v, want ErrSchemaTooNew", err)
	}
}

func TestDB_Open_NotADatabase(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"text", []byte("hello, this is not a database\n")},
		{"zeros", make([]byte, 64<<10)},
		{"junk", bytes.Repeat([]byte("authd!"), 5000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(path, nil)
			if err == nil {
				db.Close()
			}
			if !errors.Is(err, bolt.ErrInvalidFile) {
				t.Errorf("Open: got %v, want ErrInvalidFile", err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, tt.data) {
				t.Error("Open changed the file")
			}
		})
	}
}

func TestDB_Open_ForeignBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("something-else"))
		return err
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bolt.Open(path, nil); !errors.Is(err, bolt.ErrInvalidFile) {
		t.Errorf("Open of another program's bbolt file: got %v, want ErrInvalidFile", err)
	}
}

func TestDB_Open_Unreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	path := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(path, nil, 0o000); err != nil {
		t.Fatal(err)
	}
	if _, err := bolt.Open(path, nil); !errors.Is(err, os.ErrPermission) {
		t.Errorf("Open: got %v, want a permission error", err)
	}
}

func TestDB_Open_Locked(t *testing.T) {
	_, path := openTemp(t, nil)
	start := time.Now()
	db, err := bolt.Open(path, &bolt.Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		db.Close()
	}
	if !errors.Is(err, bolt.ErrLocked) {
		t.Errorf("second Open: got %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v with a 100ms timeout", d)
	}
}

func TestDB_Open_FileMode(t *testing.T) {
	_, path := openTemp(t, nil)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode: got %v, want -rw-------", got)
	}
}

func TestDB_Open_LooseModeWarns(t *testing.T) {
	db, path := openTemp(t, nil)
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	db, err := bolt.Open(path, &bolt.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if !strings.Contains(logs.String(), "accessible to other users") {
		t.Errorf("Open of a 0644 file logged %q, want a warning", logs.String())
	}
}

func TestDB_Backup_Reopens(t *testing.T) {
	db, _ := openTemp(t, nil)
	ctx := t.Context()
	if err := db.CreateUser(ctx, storage.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	// Writes going on meanwhile do not disturb the copy.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			db.DenyAccessToken(ctx, fmt.Sprint("jti-", i), t0)
		}
	})
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Backup(ctx, f)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	copy, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatalf("Open backup: %v", err)
	}
	defer copy.Close()
	if u, err := copy.GetUser(ctx, "alice"); err != nil || u.ID != "u1" {
		t.Errorf("GetUser from backup: got %+v, %v", u, err)
	}
}

func TestDB_GroupCommit(t *testing.T) {
	db, _ := openTemp(t, nil)
	ctx := t.Context()
	before := db.Stats()
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := db.DenyAccessToken(ctx, fmt.Sprint("jti-", i), t0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := db.Stats()
	writes, commits := st.Writes-before.Writes, st.Commits-before.Commits
	t.Logf("%d writes in %d commits", writes, commits)
	if writes != n {
		t.Errorf("writes: got %d, want %d", writes, n)
	}
	if commits >= n {
		t.Errorf("commits: got %d for %d concurrent writes, want fewer", commits, n)
	}
}

func TestDB_GroupCommit_FailureIsolated(t *testing.T) {
	db, _ := openTemp(t, nil)
	ctx := t.Context()
	if err := db.CreateUser(ctx, storage.User{ID: "taken", Username: "taken"}); err != nil {
		t.Fatal(err)
	}
	// Many writers, some of which fail; the failures must not cost the
	// others their writes.
	const n = 100
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprint("user-", i)
			if i%10 == 0 {
				name = "taken"
			}
			errs[i] = db.CreateUser(ctx, storage.User{ID: fmt.Sprint("id-", i), Username: name})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if wantFail := i%10 == 0; wantFail != errors.Is(err, storage.ErrExists) {
			t.Errorf("writer %d: got %v", i, err)
		}
	}
	users, _ := db.ListUsers(ctx)
	if len(users) != 1+n-n/10 {
		t.Errorf("users: got %d, want %d", len(users), 1+n-n/10)
	}
}

func TestDB_Sweep_Many(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 2000
	}
	db, _ := openTemp(t, &bolt.Options{NoSync: true})
	fillFamilies(t, db, n, t0)
	total := storage.SweepStats{}
	for calls := 0; ; calls++ {
		st, err := db.Sweep(t.Context(), t0.Add(time.Second), 500)
		if err != nil {
			t.Fatal(err)
		}
		if st.Tokens+st.Families > 500 {
			t.Fatalf("Sweep removed %d items with limit 500", st.Tokens+st.Families)
		}
		if st.WriteTime <= 0 {
			t.Fatalf("Sweep reported WriteTime %v; bbolt measures its write lock", st.WriteTime)
		}
		total.Tokens += st.Tokens
		total.Families += st.Families
		if !st.More {
			break
		}
	}
	if total.Tokens != n || total.Families != n {
		t.Errorf("swept %d tokens, %d families, want %d each", total.Tokens, total.Families, n)
	}
	if fams, _ := storage.ListAllFamilies(t.Context(), db, storage.FamilyFilter{}); len(fams) != 0 {
		t.Errorf("%d families left", len(fams))
	}
}

// fillFamilies creates n families with one token each, expiring at exp, in
// large transactions.
func fillFamilies(tb testing.TB, db *bolt.DB, n int, exp time.Time) {
	tb.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f, tok := testFamily(i, exp)
			if err := db.CreateFamily(tb.Context(), f, tok); err != nil {
				tb.Error(err)
			}
		})
	}
	wg.Wait()
}

// metaFreelist reads bbolt's two meta pages from the file and returns the
// free-list page of the newer one (bbolt's on-disk format: a 16-byte page
// header, then magic, version, page size, flags, the root bucket (16
// bytes), the free-list page id, the high-water page id, the txid).
func metaFreelist(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int(binary.LittleEndian.Uint32(b[16+8:]))
	var best, txid uint64
	for i := range 2 {
		m := b[i*pageSize+16:]
		if binary.LittleEndian.Uint32(m) != 0xED0CDAED {
			t.Fatalf("page %d is not a bbolt meta page", i)
		}
		if id := binary.LittleEndian.Uint64(m[48:]); id >= txid {
			best, txid = binary.LittleEndian.Uint64(m[32:]), id
		}
	}
	return best
}

// TestDB_FreelistWrittenAtCloseOnly: commits leave the free list out (their
// cost must not grow with free pages); Close writes it, so that the next
// Open need not walk the whole file.
func TestDB_FreelistWrittenAtCloseOnly(t *testing.T) {
	const noFreelist = ^uint64(0)
	db, path := openTemp(t, nil)
	fillFamilies(t, db, 200, t0)
	if got := metaFreelist(t, path); got != noFreelist {
		t.Fatalf("after commits the newest meta page names free list page %d; want none written", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := metaFreelist(t, path); got == noFreelist {
		t.Fatal("after Close the newest meta page names no free list; the next Open would walk the file")
	}
	before, _ := os.ReadFile(path)
	db2, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fams, err := storage.ListAllFamilies(t.Context(), db2, storage.FamilyFilter{}); err != nil || len(fams) != 200 {
		t.Fatalf("after reopening: %d families, %v; want 200", len(fams), err)
	}
	if err := db2.Close(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("opening and closing without a write changed the file")
	}
}
