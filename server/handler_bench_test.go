package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authd/authd/server/logline"
)

// BenchmarkJWKS measures the in-process cost of one JWKS request through the
// whole middleware chain, with the request log written as text (by the
// standard handler and by the one authd uses), as JSON, and not at all; the
// differences are what the request line costs.
func BenchmarkJWKS(b *testing.B) {
	for _, lc := range []struct {
		name   string
		logger *slog.Logger
	}{
		{"std-text", slog.New(slog.NewTextHandler(io.Discard, nil))},
		{"text", slog.New(logline.NewText(io.Discard, nil))},
		{"json", slog.New(logline.NewJSON(io.Discard, nil))},
		{"nolog", slog.New(slog.DiscardHandler)},
	} {
		b.Run(lc.name, func(b *testing.B) {
			e := newEnv(b)
			e.srv.log = lc.logger
			h := e.srv.Handler()
			req := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
			req.RemoteAddr = "127.0.0.1:5555"
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
