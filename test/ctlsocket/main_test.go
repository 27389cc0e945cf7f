// Package ctlsocket tests, on the built binary, whom the CLI trusts on the
// control socket when servers run as other users.
package ctlsocket

import (
	"os"
	"testing"

	"github.com/authd/authd/test/internal/authdtest"
)

func TestMain(m *testing.M) { os.Exit(authdtest.Main(m)) }
