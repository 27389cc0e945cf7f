package bolt

import (
	"encoding/binary"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/storage"
)

// TestMigrate_ClientInstances opens a schema-1 file as the previous binary
// wrote it: clients without an instance, families in format 1. The
// migration gives the clients an instance and the legacy mark; the old
// families stay alive with their client, without being rewritten, and die
// when it is deleted and created again. A legacy family older than its
// client (left behind by a client deleted before the migration) is dead.
func TestMigrate_ClientInstances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authd.db")
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	user := storage.User{ID: "u1", Username: "alice", SessionGen: 1, CreatedAt: t0.Add(-48 * time.Hour)}
	app := storage.Client{ID: "app", Grants: []string{"refresh_token"}, Scopes: []string{"read"}, CreatedAt: t0.Add(-time.Hour)}
	fam := storage.Family{ID: "f1", UserID: "u1", ClientID: "app", Scope: []string{"read"}, UserGen: 1,
		AuthTime: t0, CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	// Logged in through an earlier client "app", deleted before the
	// migration without its families being revoked (the old two-step
	// delete, interrupted).
	orphan := fam
	orphan.ID, orphan.CreatedAt, orphan.AuthTime = "f0", t0.Add(-2*time.Hour), t0.Add(-2*time.Hour)
	tok := storage.RefreshToken{Hash: "h1", FamilyID: "f1", IssuedAt: t0, IdleExpiresAt: t0.Add(time.Hour)}

	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		if err := migrations[0](tx); err != nil {
			return err
		}
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, 1)); err != nil {
			return err
		}
		uv, _ := encodeUser(user)
		cv, _ := encodeClient(app)
		if err := tx.Bucket(bucketUsers).Put([]byte(user.Username), uv); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUserIDs).Put([]byte(user.ID), []byte(user.Username)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketClients).Put([]byte(app.ID), cv); err != nil {
			return err
		}
		for _, f := range []storage.Family{fam, orphan} {
			v1 := olderFamily(t, f, familyFormat1) // no instance
			if err := tx.Bucket(bucketFamilies).Put([]byte(f.ID), v1); err != nil {
				return err
			}
			if err := tx.Bucket(bucketUserFamilies).Put(userFamilyKey(f.UserID, f.ID), nil); err != nil {
				return err
			}
		}
		return putToken(tx, nil, fam, tok, fam)
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}

	db, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	ctx := t.Context()
	c, err := db.GetClient(ctx, "app")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if c.Instance == "" || !c.LegacyFamilies {
		t.Fatalf("migrated client: instance %q, legacy %v: want an instance and the legacy mark", c.Instance, c.LegacyFamilies)
	}
	state := func(id string) storage.FamilyState {
		t.Helper()
		f, err := db.GetFamily(ctx, id)
		if err != nil {
			t.Fatalf("GetFamily(%s): %v", id, err)
		}
		if f.ClientInstance != "" {
			t.Errorf("family %s: instance %q after migration, want none (not rewritten)", id, f.ClientInstance)
		}
		var cp *storage.Client
		if c, err := db.GetClient(ctx, "app"); err == nil {
			cp = &c
		}
		return f.State(&user, cp, t0)
	}
	if got := state("f1"); got != storage.FamilyLive {
		t.Errorf("legacy family of the migrated client: %v, want live", got)
	}
	if got := state("f0"); got != storage.FamilyClientDeleted {
		t.Errorf("legacy family older than the client: %v, want client deleted", got)
	}
	// The refresh grant sees the migrated client in its transaction.
	err = db.UpdateRefresh(ctx, "h1", func(st storage.RefreshState) (storage.RefreshChange, error) {
		if st.Client == nil || st.User == nil || st.Family.State(st.User, st.Client, t0) != storage.FamilyLive {
			t.Errorf("UpdateRefresh: user %v, client %v: want the legacy family live", st.User, st.Client)
		}
		return storage.RefreshChange{}, nil
	})
	if err != nil {
		t.Fatalf("UpdateRefresh: %v", err)
	}

	if err := db.DeleteClient(ctx, "app"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	app.CreatedAt = t0.Add(-time.Hour) // even with an old creation time
	if err := db.CreateClient(ctx, app); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	if got := state("f1"); got != storage.FamilyClientDeleted {
		t.Errorf("legacy family after its client was created again: %v, want client deleted", got)
	}

	// The migration ran once: a reopen changes nothing.
	c2, _ := db.GetClient(ctx, "app")
	db.Close()
	db, err = Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	c3, _ := db.GetClient(ctx, "app")
	if c3.Instance != c2.Instance || c3.LegacyFamilies {
		t.Errorf("after reopen: client %+v, want %+v unchanged", c3, c2)
	}
}

// TestMigrate_FamilyIdleExpiry opens a schema-2 file with a family in
// format 2 (no idle expiry). The schema moves on, so that a schema-2
// binary refuses the file rather than failing on the format 3 families
// written from now on; the old family reads with a zero idle expiry and
// is written in format 3, with one, at its next rotation.
func TestMigrate_FamilyIdleExpiry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authd.db")
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	user := storage.User{ID: "u1", Username: "alice", SessionGen: 1, CreatedAt: t0.Add(-48 * time.Hour)}
	app := storage.Client{ID: "app", Grants: []string{"refresh_token"}, Scopes: []string{"read"}, CreatedAt: t0.Add(-time.Hour), Instance: "i1"}
	fam := storage.Family{ID: "f1", UserID: "u1", ClientID: "app", Scope: []string{"read"}, UserGen: 1,
		AuthTime: t0, CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), ClientInstance: "i1"}
	tok := storage.RefreshToken{Hash: "h1", FamilyID: "f1", IssuedAt: t0, IdleExpiresAt: t0.Add(time.Hour)}

	db, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx := t.Context()
	if err := db.CreateUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateFamily(ctx, fam, tok); err != nil {
		t.Fatal(err)
	}
	db.Close()

	schema := func(raw *bbolt.DB) uint64 {
		var v uint64
		raw.View(func(tx *bbolt.Tx) error {
			if b := tx.Bucket(bucketMeta).Get(keySchemaVersion); len(b) == 8 {
				v = binary.BigEndian.Uint64(b)
			}
			return nil
		})
		return v
	}
	// As a schema-2 binary wrote it.
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, 2)); err != nil {
			return err
		}
		return tx.Bucket(bucketFamilies).Put([]byte(fam.ID), olderFamily(t, fam, familyFormat2))
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}

	db, err = Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got, err := db.GetFamily(ctx, "f1")
	if err != nil || !got.IdleExpiresAt.IsZero() || got.ClientInstance != "i1" {
		t.Fatalf("format 2 family after migration: %+v, %v: want it read with a zero idle expiry", got, err)
	}
	next := storage.RefreshToken{Hash: "h2", FamilyID: "f1", IssuedAt: t0.Add(time.Minute), IdleExpiresAt: t0.Add(time.Minute + time.Hour)}
	err = db.UpdateRefresh(ctx, "h1", func(st storage.RefreshState) (storage.RefreshChange, error) {
		tok, fam := st.Token, st.Family
		tok.SpentAt, tok.SuccessorHash = next.IssuedAt, next.Hash
		fam.LastUsedAt, fam.IdleExpiresAt = next.IssuedAt, next.IdleExpiresAt
		return storage.RefreshChange{Token: &tok, Family: &fam, Insert: &next}, nil
	})
	if err != nil {
		t.Fatalf("UpdateRefresh: %v", err)
	}
	db.Close()

	raw, err = bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if v := schema(raw); v != SchemaVersion() || v <= 2 {
		t.Errorf("schema version after Open: %d, want %d (> 2: a schema-2 binary cannot read format 3 families)", v, SchemaVersion())
	}
	raw.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketFamilies).Get([]byte("f1"))
		f, err := decodeFamily(v)
		if len(v) == 0 || v[0] != familyFormat || err != nil || !f.IdleExpiresAt.Equal(next.IdleExpiresAt) {
			t.Errorf("family after rotation: %x (%+v, %v): want format %d with the successor's idle expiry", v, f, err, familyFormat)
		}
		return nil
	})
}

// TestMigrate_AuthCodeBuckets opens a schema-3 file, as the binary before
// the authorization code flow wrote it: no buckets for sign-in sessions,
// codes and consents, a family in format 3. Open creates the buckets and
// moves the schema on (a schema-3 binary cannot read format 4 families,
// and would ignore the new buckets: it must refuse the file); the old
// family reads with an empty sign-in session id, and the new methods
// work on the migrated file.
func TestMigrate_AuthCodeBuckets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authd.db")
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	user := storage.User{ID: "u1", Username: "alice", SessionGen: 1, CreatedAt: t0.Add(-48 * time.Hour)}
	fam := storage.Family{ID: "f1", UserID: "u1", ClientID: "app", Scope: []string{"read"}, UserGen: 1,
		AuthTime: t0, CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), ClientInstance: "i1",
		IdleExpiresAt: t0.Add(time.Hour)}
	tok := storage.RefreshToken{Hash: "h1", FamilyID: "f1", IssuedAt: t0, IdleExpiresAt: t0.Add(time.Hour)}

	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		for _, m := range migrations[:3] {
			if err := m(tx); err != nil {
				return err
			}
		}
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, 3)); err != nil {
			return err
		}
		uv, _ := encodeUser(user)
		if err := tx.Bucket(bucketUsers).Put([]byte(user.Username), uv); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUserIDs).Put([]byte(user.ID), []byte(user.Username)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketFamilies).Put([]byte(fam.ID), olderFamily(t, fam, familyFormat3)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketUserFamilies).Put(userFamilyKey(fam.UserID, fam.ID), nil); err != nil {
			return err
		}
		return putToken(tx, nil, fam, tok, fam)
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}

	db, err := Open(path, &Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open of a schema-3 file: %v", err)
	}
	ctx := t.Context()
	if got, err := db.GetFamily(ctx, "f1"); err != nil || !reflect.DeepEqual(got, fam) {
		t.Fatalf("format 3 family after migration: %+v, %v: want %+v (empty sign-in session id)", got, err, fam)
	}
	ls := storage.LoginSession{Hash: "lh", ID: "sid-1", UserID: "u1", UserGen: 1, AuthTime: t0, CreatedAt: t0,
		LastSeenAt: t0, IdleExpiresAt: t0.Add(time.Hour), ExpiresAt: t0.Add(12 * time.Hour)}
	if err := db.CreateLoginSession(ctx, ls); err != nil {
		t.Fatalf("CreateLoginSession on the migrated file: %v", err)
	}
	code := storage.AuthCode{Hash: "ch", ClientID: "app", ClientInstance: "i1", UserID: "u1", UserGen: 1,
		Scope: []string{"read"}, LoginSessionID: "sid-1", IssuedAt: t0, ExpiresAt: t0.Add(time.Minute), ForgetAt: t0.Add(10 * time.Minute)}
	if err := db.CreateCode(ctx, code); err != nil {
		t.Fatalf("CreateCode on the migrated file: %v", err)
	}
	f2 := fam
	f2.ID, f2.LoginSessionID = "f2", "sid-1"
	err = db.RedeemCode(ctx, "ch", func(st storage.CodeState) (storage.CodeChange, error) {
		c := st.Code
		c.SpentAt, c.FamilyID = t0, "f2"
		return storage.CodeChange{Code: &c, Create: &f2, First: &storage.RefreshToken{Hash: "h2", FamilyID: "f2", IssuedAt: t0, IdleExpiresAt: t0.Add(time.Hour)}}, nil
	})
	if err != nil {
		t.Fatalf("RedeemCode on the migrated file: %v", err)
	}
	if err := db.PutConsent(ctx, storage.Consent{UserID: "u1", ClientID: "app", Scopes: []string{"read"}, GrantedAt: t0}); err != nil {
		t.Fatalf("PutConsent on the migrated file: %v", err)
	}
	db.Close()

	raw, err = bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get(keySchemaVersion); len(b) != 8 || binary.BigEndian.Uint64(b) != SchemaVersion() || SchemaVersion() <= 3 {
			t.Errorf("schema version after Open: %x, want %d (> 3)", b, SchemaVersion())
		}
		for _, name := range [][]byte{bucketLogins, bucketCodes, bucketConsents} {
			if tx.Bucket(name) == nil || tx.Bucket(name).Stats().KeyN != 1 {
				t.Errorf("bucket %s after migration and one write: missing or not one record", name)
			}
		}
		if v := tx.Bucket(bucketFamilies).Get([]byte("f2")); len(v) == 0 || v[0] != familyFormat {
			t.Errorf("family written after migration: %x, want format %d", v, familyFormat)
		}
		return nil
	})
}
