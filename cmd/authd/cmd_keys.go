package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/server/admin"
)

// cachingWarning is printed when a command makes a key sign before every
// verifier can have fetched it (SPEC §2.3).
const cachingWarning = "resource servers that cache the JWKS may reject new tokens until they refetch it"

func (a *app) keys(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("keys needs a subcommand: list, rotate or revoke")
	}
	sub, args := args[0], args[1:]
	var asJSON, now, whenSafe bool
	fs := newFlagSet("keys " + sub)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	switch sub {
	case "rotate":
		fs.BoolVar(&now, "now", false, "activate the next key at once (the default; kept for scripts)")
		fs.BoolVar(&whenSafe, "when-safe", false, "wait until every caching verifier can have fetched the next key, if it was published too recently")
	case "list", "revoke":
	default:
		return usagef("unknown keys subcommand %q", sub)
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		if err := wantArgs(pos, 0, ""); err != nil {
			return err
		}
		return a.withAPI(ctx, false, func(c *adminClient) error {
			var ks []keys.Info
			raw, err := c.doJSON(ctx, http.MethodGet, "/admin/api/keys", nil, &ks)
			if err != nil || asJSON {
				return a.emit(raw, err, asJSON)
			}
			t := newTable(a.stdout, "KID", "STATE", "ALG", "BITS", "ENCRYPTED", "CREATED", "ACTIVATED", "RETIRED", "REMOVE AT", "NEXT CHANGE")
			for _, k := range ks {
				t.row(k.ID, k.State, k.Alg, fmt.Sprint(k.Bits), yesNo(k.Encrypted), fmtTime(k.CreatedAt),
					fmtTime(k.ActivatedAt), fmtTime(k.RetiredAt), fmtTime(k.RemoveAt), fmtTime(k.NextRotation))
			}
			return t.flush()
		})
	case "rotate":
		if err := wantArgs(pos, 0, ""); err != nil {
			return err
		}
		return a.withAPI(ctx, false, func(c *adminClient) error {
			var k keys.Info
			if now && whenSafe {
				return usagef("--now and --when-safe exclude each other")
			}
			raw, err := c.doJSON(ctx, http.MethodPost, "/admin/api/keys/rotate", admin.Rotate{WhenSafe: whenSafe}, &k)
			if err == nil && k.EarlyActivation {
				fmt.Fprintf(a.stderr, "warning: key %s was published too recently for every caching verifier to have it: %s (use --when-safe to wait instead)\n", k.ID, cachingWarning)
			}
			if err != nil || asJSON {
				return a.emit(raw, err, asJSON)
			}
			if k.State == "active" {
				fmt.Fprintf(a.stdout, "rotated: key %s is now active\n", k.ID)
			} else {
				at := k.NextRotation
				if at.IsZero() {
					at = k.ActivatedAt
				}
				fmt.Fprintf(a.stdout, "rotation scheduled: key %s becomes active at %s, once every caching verifier can have fetched it\n", k.ID, fmtTime(at))
			}
			return nil
		})
	case "revoke":
		if err := wantArgs(pos, 1, "the key id (kid)"); err != nil {
			return err
		}
		kid := pos[0]
		return a.withAPI(ctx, false, func(c *adminClient) error {
			var ks []keys.Info
			if _, err := c.doJSON(ctx, http.MethodGet, "/admin/api/keys", nil, &ks); err != nil {
				return err
			}
			wasActive := false
			for _, k := range ks {
				if k.ID == kid && k.State == "active" {
					wasActive = true
				}
			}
			if _, err := c.do(ctx, http.MethodDelete, "/admin/api/keys/"+url.PathEscape(kid), nil); err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(a.stdout, "revoked key %s: it left the JWKS and the tokens it signed are no longer valid\n", kid)
			}
			if wasActive {
				fmt.Fprintf(a.stderr, "warning: %s was the active key, so a new key signs from now on: %s\n", kid, cachingWarning)
			}
			return nil
		})
	}
	return nil
}
