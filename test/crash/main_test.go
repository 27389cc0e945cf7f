package crash

import (
	"os"
	"testing"

	"github.com/authd/authd/test/internal/authdtest"
)

func TestMain(m *testing.M) { os.Exit(authdtest.Main(m)) }
