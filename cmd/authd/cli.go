package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// Exit statuses (SPEC §1).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usageText = `usage: authd [--db PATH] [--socket PATH] COMMAND [ARGS]

Commands:
  serve [flags]                            run the server (authd serve -h for its flags)
  user add NAME [--password-stdin] [--scope S ...] [--admin]
  user list | show NAME | delete NAME | disable NAME | enable NAME
  user passwd NAME [--password-stdin]      (ends all of that user's sessions and sign-ins)
  user import FILE                         import bcrypt users (htpasswd or JSON lines; - for stdin)
  client add ID [--public] [--secret-stdin] [--grant G ...] [--scope S ...] [--audience A ...]
                [--redirect-uri URI ...] [--first-party]
  client update ID [--grant G ...] [--scope S ...] [--audience A ...] [--redirect-uri URI ...]
                [--first-party=true|false]
                                           replace those lists; sessions live on
  client list | show ID | delete ID
  keys list | rotate [--when-safe] | revoke KID
  session list [--user NAME] | revoke FAMILY_ID | revoke --user NAME
  consent list [--user NAME] | revoke --user NAME --client ID
                                           remembered consents of the authorization code
                                           flow; revoking ends that client's sessions of the user
  backup FILE                              consistent copy of the database
  version

Global flags (before the command; also read from AUTHD_DB and AUTHD_SOCKET):
  --db PATH       the database file (default authd.db)
  --socket PATH   the control socket (default PATH.sock beside the database)

Management commands print a table, or JSON with --json. They talk to a
running server over its control socket, or open the database directly when
no server runs. Exit status: 0 success, 1 failure, 2 usage error.
`

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// app is one invocation of the command: its streams, environment and global
// flags. Commands are methods of app so that tests run them in-process.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string

	db     string
	socket string

	// lockWait bounds how long a management command waits for a database
	// held by a process that does not answer on the control socket.
	lockWait time.Duration
	// helpShown is set once a command has printed its own help.
	helpShown bool
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env, lockWait: 10 * time.Second}
	return a.run(ctx, args)
}

func (a *app) run(ctx context.Context, args []string) int {
	err := a.dispatch(ctx, args)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		if !a.helpShown {
			fmt.Fprint(a.stdout, usageText)
		}
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "authd: %s (see authd help)\n", sentence(ue.msg))
		return exitUsage
	default:
		fmt.Fprintf(a.stderr, "authd: %s\n", sentence(err.Error()))
		return exitFailure
	}
}

// sentence makes an error message one line.
func sentence(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\n", "; "))
	return strings.TrimSuffix(s, ".")
}

func (a *app) dispatch(ctx context.Context, args []string) error {
	fs := newFlagSet("authd")
	fs.StringVar(&a.db, "db", "authd.db", "")
	fs.StringVar(&a.socket, "socket", "", "")
	if err := parseGlobal(fs, args, a.env); err != nil {
		return err
	}
	if a.db == "" {
		return usagef("--db must not be empty")
	}
	if a.socket == "" {
		a.socket = a.db + ".sock"
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usagef("no command given")
	}
	cmd, rest := rest[0], rest[1:]
	if cmd != "serve" && len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "help") {
		return flag.ErrHelp
	}
	switch cmd {
	case "serve":
		return a.serve(ctx, rest)
	case "user":
		return a.user(ctx, rest)
	case "client":
		return a.client(ctx, rest)
	case "keys":
		return a.keys(ctx, rest)
	case "session":
		return a.session(ctx, rest)
	case "consent":
		return a.consent(ctx, rest)
	case "backup":
		return a.backup(ctx, rest)
	case "version":
		return a.version(rest)
	case "help":
		fmt.Fprint(a.stdout, usageText)
		return nil
	default:
		return usagef("unknown command %q", cmd)
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints nothing itself.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseGlobal parses the flags before the command, then fills the flags not
// given from the environment.
func parseGlobal(fs *flag.FlagSet, args []string, env func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return flagErr(fs, args, err)
	}
	return applyEnv(fs, env)
}

// parseArgs parses flags and positional arguments in any order (flags may
// follow the positional ones, as in "user add NAME --admin"); "--" ends the
// flags. It returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagErr(fs, args, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse stops at the first non-flag or after "--".
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagErr turns an error of fs.Parse(args) into a usage error.
func flagErr(fs *flag.FlagSet, args []string, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if name, ok := undefinedFlag(fs, args); ok {
		// Key and session ids are base64url: one in 64 begins with "-".
		return usagef(`unknown flag -%s; if -%s is an argument, not a flag, put "--" before it`, name, name)
	}
	return &usageError{msg: err.Error()}
}

// undefinedFlag returns the name of the flag, not defined in fs, that a
// failed fs.Parse(args) stopped at. It follows the flag package's rules to
// find it: one or two dashes, a value after "=" or, for a flag that is not
// boolean, in the next argument; "--" and the first non-flag end the flags.
// The flag package has no error type that names the flag.
func undefinedFlag(fs *flag.FlagSet, args []string) (string, bool) {
	for i := 0; i < len(args); i++ {
		s := args[i]
		if len(s) < 2 || s[0] != '-' || s == "--" {
			return "", false
		}
		name := strings.TrimPrefix(s[1:], "-")
		if name == "" || name[0] == '-' || name[0] == '=' {
			return "", false // bad flag syntax
		}
		name, _, hasValue := strings.Cut(name, "=")
		f := fs.Lookup(name)
		switch {
		case f == nil && (name == "help" || name == "h"):
			return "", false
		case f == nil:
			return name, true
		case hasValue || isBoolFlag(f):
		default:
			i++ // the flag's value
		}
	}
	return "", false
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// envName is the environment variable of a flag: AUTHD_ and the flag name
// in upper snake case.
func envName(flagName string) string {
	return "AUTHD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag of fs not given on the command line from its
// environment variable, if that is set: the flag wins over the environment.
func applyEnv(fs *flag.FlagSet, env func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		name := envName(f.Name)
		v := env(name)
		if v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = usagef("invalid value %q in %s: %v", v, name, e)
		}
	})
	return err
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// repeatFlag is a repeatable flag whose values are taken whole (redirect
// URIs may hold commas). An empty value adds nothing, so that
// an empty --redirect-uri empties the list in an update.
type repeatFlag []string

func (l *repeatFlag) String() string { return strings.Join(*l, " ") }

func (l *repeatFlag) Set(v string) error {
	if v = strings.TrimSpace(v); v != "" {
		*l = append(*l, v)
	}
	return nil
}

// wantArgs checks the number of positional arguments.
func wantArgs(pos []string, n int, what string) error {
	switch {
	case len(pos) < n:
		return usagef("missing %s", what)
	case len(pos) > n:
		return usagef("unexpected argument %q", pos[n])
	}
	return nil
}
