package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/authd/authd/server/account"
	"github.com/authd/authd/server/admin"
)

// maxSecretLine bounds a password or secret read from stdin.
const maxSecretLine = 4096

// withAPI connects to the admin API, runs fn and disconnects.
func (a *app) withAPI(ctx context.Context, create bool, fn func(*adminClient) error) error {
	c, err := a.connect(ctx, create)
	if err != nil {
		return err
	}
	defer c.close()
	return fn(c)
}

func userPath(name string) string {
	return "/admin/api/users/" + url.PathEscape(strings.ToLower(name))
}

func (a *app) user(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("user needs a subcommand: add, list, show, delete, disable, enable, passwd or import")
	}
	sub, args := args[0], args[1:]
	var (
		asJSON, fromStdin, isAdmin bool
		scopes                     listFlag
	)
	fs := newFlagSet("user " + sub)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	switch sub {
	case "add":
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from stdin")
		fs.Var(&scopes, "scope", "a scope the user may be granted (repeatable, comma-separated)")
		fs.BoolVar(&isAdmin, "admin", false, "the user may be granted authd:admin")
	case "passwd":
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from stdin")
	case "list", "show", "delete", "disable", "enable", "import":
	default:
		return usagef("unknown user subcommand %q", sub)
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
			var users []admin.User
			raw, err := c.doJSON(ctx, http.MethodGet, "/admin/api/users", nil, &users)
			if err != nil || asJSON {
				return a.emit(raw, err, asJSON)
			}
			t := newTable(a.stdout, "USERNAME", "ID", "ADMIN", "DISABLED", "SCOPES", "CREATED")
			for _, u := range users {
				t.row(u.Username, u.ID, yesNo(u.Admin), yesNo(u.Disabled), userScopes(u.Scopes, false), fmtTime(u.CreatedAt))
			}
			return t.flush()
		})
	case "show":
		if err := wantArgs(pos, 1, "the username"); err != nil {
			return err
		}
		return a.withAPI(ctx, false, func(c *adminClient) error {
			var u admin.User
			raw, err := c.doJSON(ctx, http.MethodGet, userPath(pos[0]), nil, &u)
			if err != nil || asJSON {
				return a.emit(raw, err, asJSON)
			}
			return printUser(a.stdout, u)
		})
	case "add":
		if err := wantArgs(pos, 1, "the username"); err != nil {
			return err
		}
		pw, err := a.readPassword(fromStdin, "--password-stdin", "Password for "+pos[0]+": ")
		if err != nil {
			return err
		}
		return a.withAPI(ctx, true, func(c *adminClient) error {
			var u admin.User
			raw, err := c.doJSON(ctx, http.MethodPost, "/admin/api/users", admin.CreateUser{
				Username: pos[0], Password: pw, Scopes: scopes, Admin: isAdmin,
			}, &u)
			if err != nil || asJSON {
				return a.emit(raw, err, asJSON)
			}
			fmt.Fprintf(a.stdout, "created user %s (id %s) who may be granted %s\n", u.Username, u.ID, userScopes(u.Scopes, u.Admin))
			return nil
		})
	case "passwd":
		if err := wantArgs(pos, 1, "the username"); err != nil {
			return err
		}
		pw, err := a.readPassword(fromStdin, "--password-stdin", "New password for "+pos[0]+": ")
		if err != nil {
			return err
		}
		return a.patchUser(ctx, pos[0], admin.PatchUser{Password: &pw}, asJSON,
			"changed the password of %s and revoked all of the user's sessions\n")
	case "disable", "enable":
		if err := wantArgs(pos, 1, "the username"); err != nil {
			return err
		}
		disabled := sub == "disable"
		msg := "enabled user %s\n"
		if disabled {
			msg = "disabled user %s and revoked all of the user's sessions\n"
		}
		return a.patchUser(ctx, pos[0], admin.PatchUser{Disabled: &disabled}, asJSON, msg)
	case "delete":
		if err := wantArgs(pos, 1, "the username"); err != nil {
			return err
		}
		return a.withAPI(ctx, false, func(c *adminClient) error {
			if _, err := c.do(ctx, http.MethodDelete, userPath(pos[0]), nil); err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(a.stdout, "deleted user %s and revoked all of the user's sessions\n", strings.ToLower(pos[0]))
			}
			return nil
		})
	case "import":
		if err := wantArgs(pos, 1, "the file to import"); err != nil {
			return err
		}
		return a.importUsers(ctx, pos[0], asJSON)
	}
	return nil
}

func (a *app) patchUser(ctx context.Context, name string, p admin.PatchUser, asJSON bool, msg string) error {
	return a.withAPI(ctx, false, func(c *adminClient) error {
		var u admin.User
		raw, err := c.doJSON(ctx, http.MethodPatch, userPath(name), p, &u)
		if err != nil || asJSON {
			return a.emit(raw, err, asJSON)
		}
		fmt.Fprintf(a.stdout, msg, u.Username)
		return nil
	})
}

// emit finishes a command: it returns err, or prints raw as JSON if asked.
func (a *app) emit(raw []byte, err error, asJSON bool) error {
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(a.stdout, raw)
	}
	return nil
}

func printUser(w io.Writer, u admin.User) error {
	return fields(w,
		"username", u.Username,
		"id", u.ID,
		"admin", yesNo(u.Admin),
		"disabled", yesNo(u.Disabled),
		"scopes", userScopes(u.Scopes, u.Admin),
		"created", fmtTime(u.CreatedAt),
		"updated", fmtTime(u.UpdatedAt),
	)
}

// importUsers reads bcrypt (or argon2id) users from file ("-" for stdin)
// with account.ParseImport and sends them to the admin API in one request.
// Users that already exist are skipped, never changed.
func (a *app) importUsers(ctx context.Context, file string, asJSON bool) error {
	var r io.Reader = a.stdin
	name := "stdin"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("open %s: %w", file, err)
		}
		defer f.Close()
		r, name = f, file
	}
	users, err := account.ParseImport(r)
	if err != nil {
		var ie *account.ImportError
		if errors.As(err, &ie) {
			if ie.Line > 0 {
				return fmt.Errorf("%s: line %d: %s", name, ie.Line, ie.Msg)
			}
			return fmt.Errorf("%s: %s", name, ie.Msg)
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	req := admin.Import{Users: make([]admin.ImportUser, 0, len(users))}
	for _, u := range users {
		req.Users = append(req.Users, admin.ImportUser{
			Username: u.Username, PasswordHash: u.Hash, Scopes: u.Scopes, Admin: u.Admin, Disabled: u.Disabled,
		})
	}
	return a.withAPI(ctx, true, func(c *adminClient) error {
		var res admin.ImportResult
		raw, err := c.doJSON(ctx, http.MethodPost, "/admin/api/users/import", req, &res)
		if err != nil || asJSON {
			return a.emit(raw, err, asJSON)
		}
		fmt.Fprintf(a.stdout, "imported %s", plural(len(res.Created), "user", "users"))
		if len(res.Skipped) > 0 {
			fmt.Fprintf(a.stdout, "; skipped %s that already existed: %s", plural(len(res.Skipped), "user", "users"), strings.Join(res.Skipped, ", "))
		}
		fmt.Fprintln(a.stdout)
		return nil
	})
}

// readPassword reads a password: one line of stdin with fromStdin, else
// twice from the terminal without echo.
func (a *app) readPassword(fromStdin bool, flagName, prompt string) (string, error) {
	if fromStdin {
		pw, err := readLine(a.stdin)
		if err != nil {
			return "", err
		}
		if pw == "" {
			return "", errors.New("the password read from stdin is empty")
		}
		return pw, nil
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("stdin is not a terminal to prompt for the password; use %s", flagName)
	}
	fd := int(f.Fd())
	fmt.Fprint(a.stderr, prompt)
	first, err := term.ReadPassword(fd)
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	fmt.Fprint(a.stderr, "Repeat it: ")
	second, err := term.ReadPassword(fd)
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if string(first) != string(second) {
		return "", errors.New("the two passwords differ")
	}
	if len(first) == 0 {
		return "", errors.New("the password is empty")
	}
	return string(first), nil
}

// readLine reads one line from r, without its line end.
func readLine(r io.Reader) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, maxSecretLine+2))
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read stdin: %w", err)
	}
	if errors.Is(err, io.EOF) && len(line) > maxSecretLine {
		return "", fmt.Errorf("the line read from stdin is longer than %d bytes", maxSecretLine)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}
