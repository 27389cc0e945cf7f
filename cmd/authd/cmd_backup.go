package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

// backup writes a consistent copy of the database to FILE: the admin API
// streams it into a temporary file beside FILE, which is synced and then
// renamed over FILE, so FILE is either the old file or a complete copy.
func (a *app) backup(ctx context.Context, args []string) error {
	var asJSON bool
	fs := newFlagSet("backup")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, "the backup file"); err != nil {
		return err
	}
	file := pos[0]
	if same, err := samePath(file, a.db); err != nil {
		return err
	} else if same {
		return usagef("the backup file must not be the database itself")
	}
	return a.withAPI(ctx, false, func(c *adminClient) error {
		n, err := c.download(ctx, "/admin/api/backup", file)
		if err != nil {
			return err
		}
		if asJSON {
			raw, _ := json.Marshal(struct {
				File  string `json:"file"`
				Bytes int64  `json:"bytes"`
			}{file, n})
			return printJSON(a.stdout, raw)
		}
		fmt.Fprintf(a.stdout, "wrote a backup of %d bytes to %s\n", n, file)
		return nil
	})
}

// samePath reports whether a and b name the same file.
func samePath(a, b string) (bool, error) {
	aa, err := filepath.Abs(a)
	if err != nil {
		return false, err
	}
	ab, err := filepath.Abs(b)
	if err != nil {
		return false, err
	}
	if aa == ab {
		return true, nil
	}
	fa, errA := os.Stat(aa)
	fb, errB := os.Stat(ab)
	return errA == nil && errB == nil && os.SameFile(fa, fb), nil
}

// download streams the answer of a GET into file, mode 0600, atomically.
func (c *adminClient) download(ctx context.Context, path, file string) (int64, error) {
	resp, err := c.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return 0, answerErr(resp.StatusCode, raw)
	}
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("create the backup file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return 0, fmt.Errorf("create the backup file: %w", err)
	}
	n, err := io.Copy(tmp, resp.Body)
	if err != nil {
		return 0, fmt.Errorf("the backup was interrupted after %d bytes: %w", n, err)
	}
	if n == 0 {
		return 0, errors.New("the server sent an empty backup")
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("write the backup file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("write the backup file: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return 0, fmt.Errorf("write the backup file: %w", err)
	}
	ok = true
	// Make the rename durable.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return n, nil
}
