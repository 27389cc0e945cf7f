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

// consent runs "authd consent list [--user NAME]" and "authd consent
// revoke --user NAME --client ID" (SPEC 1): the consents users gave on the
// consent page of the authorization code flow.
func (a *app) consent(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("consent needs a subcommand: list or revoke")
	}
	sub, args := args[0], args[1:]
	var (
		asJSON       bool
		user, client string
	)
	fs := newFlagSet("consent " + sub)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.StringVar(&user, "user", "", "the user whose consents")
	switch sub {
	case "list":
	case "revoke":
		fs.StringVar(&client, "client", "", "the client the consent was given to")
	default:
		return usagef("unknown consent subcommand %q", sub)
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, ""); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["user"] && user == "" {
		return usagef("--user needs a username")
	}
	switch sub {
	case "list":
		path := "/admin/api/consents"
		if user != "" {
			path += "?" + url.Values{"user": {user}}.Encode()
		}
		return a.withAPI(ctx, false, func(c *adminClient) error {
			var cs []admin.Consent
			raw, err := c.doJSON(ctx, http.MethodGet, path, nil, &cs)
			if err != nil || asJSON {
				return a.emit(raw, err, asJSON)
			}
			t := newTable(a.stdout, "USER", "CLIENT", "SCOPES", "GRANTED", "UPDATED")
			for _, cn := range cs {
				t.row(cn.User, cn.Client, strings.Join(cn.Scopes, " "), fmtTime(cn.GrantedAt), fmtTime(cn.UpdatedAt))
			}
			return t.flush()
		})
	case "revoke":
		switch {
		case user == "" && client == "":
			return usagef("consent revoke needs --user NAME and --client ID")
		case user == "":
			return usagef("consent revoke needs --user NAME")
		case client == "":
			return usagef("consent revoke needs --client ID")
		}
		path := "/admin/api/consents/" + url.PathEscape(strings.ToLower(user)) + "/" + url.PathEscape(client)
		return a.withAPI(ctx, false, func(c *adminClient) error {
			if _, err := c.do(ctx, http.MethodDelete, path, nil); err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(a.stdout, "revoked the consent of %s for client %s and ended %s's sessions of that client\n",
					strings.ToLower(user), client, strings.ToLower(user))
			}
			return nil
		})
	}
	return nil
}
