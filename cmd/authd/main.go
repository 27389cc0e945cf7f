// Command authd is an OAuth 2.0 authorization server in one binary.
//
// "authd serve" runs the server; every other command manages it through the
// admin API: over the control socket when a server is running on the same
// database, or in-process on the database file when none is. See SPEC §1
// and "authd help".
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
