package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/authd/authd/config"
	"github.com/authd/authd/keys"
	"github.com/authd/authd/storage"
	"github.com/authd/authd/storage/bolt"
)

// emptyDB is a database as a management command creates it: the schema and
// nothing else (no signing keys, no built-in client).
func emptyDB(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "authd.db")
	db, err := bolt.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// withStore runs fn on the database at path, opened in the test.
func withStore(t *testing.T, path string, fn func(db *bolt.DB)) {
	t.Helper()
	db, err := bolt.Open(path, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fn(db)
}

// storedKeys returns the signing keys as stored.
func storedKeys(t *testing.T, path string) []storage.Key {
	t.Helper()
	var ks []storage.Key
	withStore(t, path, func(db *bolt.DB) {
		var err error
		if ks, err = db.ListKeys(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	return ks
}

// ageKeys moves every time of the stored keys d into the past, so that the
// changes the key schedule asks for (a rotation, a removal) are due.
func ageKeys(t *testing.T, path string, d time.Duration) {
	t.Helper()
	back := func(tm time.Time) time.Time {
		if tm.IsZero() {
			return tm
		}
		return tm.Add(-d)
	}
	withStore(t, path, func(db *bolt.DB) {
		_, err := db.UpdateKeys(context.Background(), func(ks []storage.Key) ([]storage.Key, error) {
			out := slices.Clone(ks)
			for i := range out {
				k := &out[i]
				k.CreatedAt, k.PublishedAt, k.ActivatedAt = back(k.CreatedAt), back(k.PublishedAt), back(k.ActivatedAt)
				k.RetiredAt, k.RemoveAt, k.RevokedAt = back(k.RetiredAt), back(k.RemoveAt), back(k.RevokedAt)
			}
			return out, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// encryptKeys encrypts the stored keys with a new key-encryption key, as
// authd serve does when it is first given one, and returns its file.
func encryptKeys(t *testing.T, path string) string {
	t.Helper()
	kekFile := writeFile(t, filepath.Dir(path), "kek", randomKEK(t))
	kek, err := keys.LoadKEK(kekFile)
	if err != nil {
		t.Fatal(err)
	}
	withStore(t, path, func(db *bolt.DB) {
		if _, err := keys.New(context.Background(), keys.Config{Settings: config.Default(), Store: db, KEK: kek}); err != nil {
			t.Fatal(err)
		}
	})
	for _, k := range storedKeys(t, path) {
		if !k.Encrypted {
			t.Fatalf("key %s not encrypted", k.ID)
		}
	}
	return kekFile
}

// dbRecords reads every record of the database file: "bucket/key" → value.
func dbRecords(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			out[string(name)+"/"] = ""
			return b.ForEach(func(k, v []byte) error {
				out[string(name)+"/"+string(k)] = string(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// changedBuckets lists the buckets whose records differ between a and b.
func changedBuckets(a, b map[string]string) []string {
	set := map[string]bool{}
	for k := range a {
		if b[k] != a[k] || !hasKey(b, k) {
			set[strings.SplitN(k, "/", 2)[0]] = true
		}
	}
	for k := range b {
		if !hasKey(a, k) {
			set[strings.SplitN(k, "/", 2)[0]] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// TestCLI_OfflineReadsChangeNothing: with no server running, a command that
// only reads opens the database and leaves the file byte for byte as it
// was: no key is generated on a database without keys, no rotation is made
// when one is due, no key is encrypted or decrypted, no built-in client or
// server secret is created. Encrypted keys need no key-encryption key.
func TestCLI_OfflineReadsChangeNothing(t *testing.T) {
	dbs := []struct {
		name  string
		setup func(t *testing.T) string
	}{
		{"no keys", emptyDB},
		{"rotation due", func(t *testing.T) string {
			p := newDB(t)
			ageKeys(t, p, 72*time.Hour)
			return p
		}},
		{"encrypted keys", func(t *testing.T) string {
			p := newDB(t)
			encryptKeys(t, p)
			return p
		}},
		{"encrypted keys, rotation due", func(t *testing.T) string {
			p := newDB(t)
			encryptKeys(t, p)
			ageKeys(t, p, 72*time.Hour)
			return p
		}},
	}
	reads := [][]string{
		{"user", "list"}, {"user", "list", "--json"}, {"user", "show", "nobody"},
		{"client", "list"}, {"client", "list", "--json"}, {"client", "show", "nobody"},
		{"session", "list"}, {"session", "list", "--json"},
		{"consent", "list"}, {"consent", "list", "--json"},
		{"keys", "list"}, {"keys", "list", "--json"},
		{"backup", "{dir}/backup.db"},
	}
	for _, d := range dbs {
		t.Run(d.name, func(t *testing.T) {
			dbPath := d.setup(t)
			dir := filepath.Dir(dbPath)
			keysBefore := storedKeys(t, dbPath)
			before, err := os.ReadFile(dbPath)
			if err != nil {
				t.Fatal(err)
			}
			// No key-encryption key in the environment, whatever the keys.
			env := map[string]string{"AUTHD_DB": dbPath}
			for _, args := range reads {
				args = slices.Clone(args)
				for i := range args {
					args[i] = strings.ReplaceAll(args[i], "{dir}", dir)
				}
				r := cli(t, env, "", args...)
				want := 0
				if args[len(args)-1] == "nobody" {
					want = 1
				}
				if r.code != want {
					t.Errorf("authd %s: exit %d, want %d\n%v", strings.Join(args, " "), r.code, want, r)
				}
				if after, _ := os.ReadFile(dbPath); !bytes.Equal(before, after) {
					t.Fatalf("authd %s changed the database file", strings.Join(args, " "))
				}
			}
			if ks := storedKeys(t, dbPath); !reflect.DeepEqual(ks, keysBefore) {
				t.Errorf("stored keys changed: %d before, %d after", len(keysBefore), len(ks))
			}
			// The backup is the database as it was.
			if b, _ := os.ReadFile(filepath.Join(dir, "backup.db")); len(b) == 0 {
				t.Error("no backup written")
			}
		})
	}
}

// TestCLI_OfflineWritesChangeOnlyWhatWasAsked: with no server running, a
// command that changes users, clients or sessions changes those and nothing
// else: no keys generated, rotated, encrypted or decrypted (so encrypted
// keys need no key-encryption key), no server secret created. Client
// changes create the built-in client first, as a server would have (its id
// is reserved).
func TestCLI_OfflineWritesChangeOnlyWhatWasAsked(t *testing.T) {
	hash := "$2a$04$" + strings.Repeat("a", 53)
	for _, d := range []struct {
		name  string
		setup func(t *testing.T) string
	}{
		{"no keys", emptyDB},
		{"encrypted keys, rotation due", func(t *testing.T) string {
			p := newDB(t)
			encryptKeys(t, p)
			ageKeys(t, p, 72*time.Hour)
			return p
		}},
	} {
		t.Run(d.name, func(t *testing.T) {
			dbPath := d.setup(t)
			importFile := writeFile(t, filepath.Dir(dbPath), "users.htpasswd", "dave:"+hash+"\n")
			env := map[string]string{"AUTHD_DB": dbPath}
			keysBefore := storedKeys(t, dbPath)
			steps := []struct {
				args    []string
				stdin   string
				buckets []string // the buckets it may change
				before  func(t *testing.T, db *bolt.DB)
			}{
				{[]string{"user", "add", "alice", "--password-stdin", "--scope", "read"}, "alice-password\n", []string{"user_ids", "users"}, nil},
				{[]string{"user", "passwd", "alice", "--password-stdin"}, "alice-password-2\n", []string{"users"}, nil},
				{[]string{"user", "disable", "alice"}, "", []string{"users"}, nil},
				{[]string{"user", "enable", "alice"}, "", []string{"users"}, nil},
				{[]string{"user", "import", importFile}, "", []string{"user_ids", "users"}, nil},
				{[]string{"session", "revoke", "--user", "alice"}, "", []string{"users"}, nil},
				{[]string{"client", "add", "web", "--scope", "read", "--grant", "authorization_code", "--redirect-uri", "https://web.example/cb"}, "", []string{"clients"}, nil},
				{[]string{"client", "update", "web", "--first-party"}, "", []string{"clients"}, nil},
				{[]string{"consent", "revoke", "--user", "alice", "--client", "web"}, "", []string{"consents", "families"}, func(t *testing.T, db *bolt.DB) {
					ctx := context.Background()
					u, err := db.GetUser(ctx, "alice")
					if err != nil {
						t.Fatal(err)
					}
					cl, err := db.GetClient(ctx, "web")
					if err != nil {
						t.Fatal(err)
					}
					if err := db.PutConsent(ctx, storage.Consent{UserID: u.ID, ClientID: "web", ClientInstance: cl.Instance, Scopes: []string{"read"}, GrantedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
						t.Fatal(err)
					}
				}},
				{[]string{"client", "delete", "web"}, "", []string{"clients"}, nil},
				{[]string{"user", "delete", "dave"}, "", []string{"user_ids", "users"}, nil},
			}
			for _, s := range steps {
				if s.before != nil {
					withStore(t, dbPath, func(db *bolt.DB) { s.before(t, db) })
				}
				before := dbRecords(t, dbPath)
				r := cli(t, env, s.stdin, s.args...)
				if r.code != 0 {
					t.Fatalf("authd %s: %v", strings.Join(s.args, " "), r)
				}
				after := dbRecords(t, dbPath)
				for _, b := range changedBuckets(before, after) {
					if !slices.Contains(s.buckets, b) {
						t.Errorf("authd %s changed bucket %q (may change %v)", strings.Join(s.args, " "), b, s.buckets)
					}
				}
			}
			if ks := storedKeys(t, dbPath); !reflect.DeepEqual(ks, keysBefore) {
				t.Errorf("stored keys changed: %d before, %d after", len(keysBefore), len(ks))
			}
			// The built-in client exists once a client was changed, and its
			// id cannot be taken.
			r := cli(t, env, "", "client", "show", "authd-console", "--json")
			if r.code != 0 || !strings.Contains(r.stdout, `"built_in": true`) {
				t.Errorf("client show authd-console: %v", r)
			}
		})
	}
}

// TestCLI_OfflineKeysCommands: keys list needs no key-encryption key (it
// shows no private part); keys rotate and revoke, which decrypt keys, need
// it when the keys are encrypted, and say so in one sentence without
// changing anything.
func TestCLI_OfflineKeysCommands(t *testing.T) {
	dbPath := newDB(t)
	kekFile := encryptKeys(t, dbPath)
	env := map[string]string{"AUTHD_DB": dbPath}
	withKEK := map[string]string{"AUTHD_DB": dbPath, "AUTHD_KEY_ENCRYPTION_KEY_FILE": kekFile}

	r := mustCLI(t, env, "", "keys", "list", "--json")
	var ks []keys.Info
	if err := json.Unmarshal([]byte(r.stdout), &ks); err != nil || len(ks) != 2 {
		t.Fatalf("keys list: %v (%v)", r, err)
	}
	for _, k := range ks {
		if !k.Encrypted {
			t.Errorf("key %s listed as not encrypted", k.ID)
		}
	}

	before, _ := os.ReadFile(dbPath)
	for _, args := range [][]string{{"keys", "rotate"}, {"keys", "revoke", "--", ks[0].ID}} {
		r := cli(t, env, "", args...)
		if r.code != 1 || !strings.Contains(r.stderr, "AUTHD_KEY_ENCRYPTION_KEY_FILE") ||
			strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("authd %s without the key-encryption key: %v", strings.Join(args, " "), r)
		}
		if after, _ := os.ReadFile(dbPath); !bytes.Equal(before, after) {
			t.Errorf("authd %s without the key-encryption key changed the database", strings.Join(args, " "))
		}
	}
	r = mustCLI(t, withKEK, "", "keys", "rotate", "--json")
	if !strings.Contains(r.stdout, `"state": "active"`) {
		t.Errorf("keys rotate with the key-encryption key: %v", r)
	}
	for _, k := range storedKeys(t, dbPath) {
		if !k.Encrypted {
			t.Errorf("key %s stored unencrypted after the rotation", k.ID)
		}
	}
}

// TestCLI_OfflineKeys_SigningAlg: management commands that open the keys
// take --signing-alg from AUTHD_SIGNING_ALG as serve does: on RS256 keys,
// keys rotate --when-safe with ES256 replaces the next key by an ES256 one
// (scheduled, not yet signing: it was published just now), and keys list
// shows each key's algorithm.
func TestCLI_OfflineKeys_SigningAlg(t *testing.T) {
	dbPath := newDB(t)
	env := map[string]string{"AUTHD_DB": dbPath, "AUTHD_SIGNING_ALG": "ES256"}
	r := mustCLI(t, env, "", "keys", "rotate", "--when-safe", "--json")
	var k keys.Info
	if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || k.Alg != "ES256" || k.State != "next" {
		t.Fatalf("keys rotate with ES256: %+v, %v (%v)", k, err, r)
	}
	algs := map[string]string{}
	for _, sk := range storedKeys(t, dbPath) {
		algs[string(sk.State)] = sk.Alg
	}
	if algs["active"] != "RS256" || algs["next"] != "ES256" {
		t.Errorf("stored keys by state: %v, want the RS256 key active and an ES256 one next", algs)
	}
	r = mustCLI(t, env, "", "keys", "list")
	if !strings.Contains(r.stdout, "ALG") || !strings.Contains(r.stdout, "ES256") || !strings.Contains(r.stdout, "RS256") {
		t.Errorf("keys list does not show the algorithms:\n%s", r.stdout)
	}
}
