package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/authd/authd/server/admin"
)

func (a *app) session(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("session needs a subcommand: list or revoke")
	}
	sub, args := args[0], args[1:]
	var (
		asJSON bool
		user   string
	)
	fs := newFlagSet("session " + sub)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	switch sub {
	case "list", "revoke":
		fs.StringVar(&user, "user", "", "the sessions of this user")
	default:
		return usagef("unknown session subcommand %q", sub)
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	userGiven := false
	fs.Visit(func(f *flag.Flag) { userGiven = userGiven || f.Name == "user" })
	if userGiven && user == "" {
		return usagef("--user needs a username")
	}
	switch sub {
	case "list":
		if err := wantArgs(pos, 0, ""); err != nil {
			return err
		}
		path := "/admin/api/sessions"
		if user != "" {
			path += "?" + url.Values{"user": {user}}.Encode()
		}
		return a.withAPI(ctx, false, func(c *adminClient) error {
			var ss []admin.Session
			raw, err := c.doJSON(ctx, http.MethodGet, path, nil, &ss)
			if err != nil || asJSON {
				return a.emit(raw, err, asJSON)
			}
			t := newTable(a.stdout, "ID", "USER", "CLIENT", "SCOPE", "STATUS", "CREATED", "LAST USED", "IDLE EXPIRY", "EXPIRES")
			for _, s := range ss {
				t.row(s.ID, s.User, s.Client, strings.Join(s.Scope, " "), s.Status, fmtTime(s.CreatedAt),
					fmtTime(s.LastUsedAt), fmtTime(s.IdleExpiresAt), fmtTime(s.ExpiresAt))
			}
			return t.flush()
		})
	case "revoke":
		switch {
		case user != "" && len(pos) > 0:
			return usagef("give a session id or --user, not both")
		case user != "":
			return a.withAPI(ctx, false, func(c *adminClient) error {
				if _, err := c.do(ctx, http.MethodDelete, userPath(user)+"/sessions", nil); err != nil {
					return err
				}
				if !asJSON {
					fmt.Fprintf(a.stdout, "revoked all sessions of %s\n", strings.ToLower(user))
				}
				return nil
			})
		}
		if err := wantArgs(pos, 1, "the session (family) id or --user"); err != nil {
			return err
		}
		return a.withAPI(ctx, false, func(c *adminClient) error {
			if _, err := c.do(ctx, http.MethodDelete, "/admin/api/sessions/"+url.PathEscape(pos[0]), nil); err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(a.stdout, "revoked session %s\n", pos[0])
			}
			return nil
		})
	}
	return nil
}
