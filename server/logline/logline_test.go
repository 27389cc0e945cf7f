package logline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC)

// both returns what the standard handler and this package's handler of the
// same kind write for the record made by mk.
func both(t testing.TB, json bool, opts *slog.HandlerOptions, log func(*slog.Logger)) (want, got string) {
	t.Helper()
	var wb, gb bytes.Buffer
	var std, fast slog.Handler
	if json {
		std, fast = slog.NewJSONHandler(&wb, opts), NewJSON(&gb, opts)
	} else {
		std, fast = slog.NewTextHandler(&wb, opts), NewText(&gb, opts)
	}
	log(slog.New(std))
	log(slog.New(fast))
	return wb.String(), gb.String()
}

func record(tm time.Time, level slog.Level, msg string, attrs ...slog.Attr) func(*slog.Logger) {
	return func(l *slog.Logger) {
		r := slog.NewRecord(tm, level, msg, 0)
		r.AddAttrs(attrs...)
		if l.Handler().Enabled(context.Background(), level) {
			l.Handler().Handle(context.Background(), r)
		}
	}
}

func TestSameAsStandardHandlers(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts *slog.HandlerOptions
		log  func(*slog.Logger)
	}{
		{"request line", nil, record(t0, slog.LevelInfo, "request",
			slog.String("method", "GET"), slog.String("path", "/.well-known/jwks.json"), slog.Int("status", 200),
			slog.Duration("duration", 53*time.Microsecond+17), slog.String("request_id", "a1b2c3"),
			slog.String("client_ip", "127.0.0.1"))},
		{"no attributes", nil, record(t0, slog.LevelWarn, "plain")},
		{"zero time", nil, record(time.Time{}, slog.LevelInfo, "no time", slog.Int("n", 1))},
		{"time on a millisecond", nil, record(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), slog.LevelInfo, "m")},
		{"time zone", nil, record(t0.In(time.FixedZone("X", -7*3600-30*60)), slog.LevelInfo, "m")},
		{"year 10000 goes to the standard handler", nil, record(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, "m")},
		{"negative year goes to the standard handler", nil, record(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, "m")},
		{"odd levels", nil, record(t0, slog.LevelError+3, "m")},
		{"below the level is dropped", &slog.HandlerOptions{Level: slog.LevelWarn}, record(t0, slog.LevelInfo, "dropped")},
		{"debug enabled", &slog.HandlerOptions{Level: slog.LevelDebug}, record(t0, slog.LevelDebug, "kept")},
		{"strings that need quoting", nil, record(t0, slog.LevelInfo, "a message with spaces",
			slog.String("empty", ""), slog.String("space", "a b"), slog.String("eq", "a=b"), slog.String("quote", `say "hi"`),
			slog.String("backslash", `C:\dir`), slog.String("newline", "a\nb"), slog.String("tab", "a\tb"), slog.String("ctl", "\x01\x1f\x7f"),
			slog.String("bad utf8", "a\xffb"), slog.String("unicode", "héllo wörld"), slog.String("nbsp", "a\u00a0b"),
			slog.String("separators", "\u2028\u2029"), slog.String("html", "<a href='x'>&</a>"), slog.String("emoji", "🔑"))},
		{"keys that need quoting", nil, record(t0, slog.LevelInfo, "m", slog.String("a key", "v"), slog.String("k=v", "v"), slog.String("ключ", "v"))},
		{"numbers", nil, record(t0, slog.LevelInfo, "m", slog.Int64("min", math.MinInt64), slog.Int64("max", math.MaxInt64),
			slog.Uint64("umax", math.MaxUint64), slog.Int("zero", 0), slog.Bool("t", true), slog.Bool("f", false))},
		{"durations", nil, record(t0, slog.LevelInfo, "m", slog.Duration("zero", 0), slog.Duration("neg", -1500*time.Millisecond),
			slog.Duration("ns", 7), slog.Duration("long", 49*time.Hour+time.Nanosecond))},
		{"error values go to the standard handler", nil, record(t0, slog.LevelError, "failed", slog.Any("error", errors.New("boom")))},
		{"times go to the standard handler", nil, record(t0, slog.LevelInfo, "m", slog.Time("at", t0))},
		{"floats go to the standard handler", nil, record(t0, slog.LevelInfo, "m", slog.Float64("f", 0.1))},
		{"slices go to the standard handler", nil, record(t0, slog.LevelInfo, "m", slog.Any("scopes", []string{"a", "b"}))},
		{"groups go to the standard handler", nil, record(t0, slog.LevelInfo, "m", slog.Group("g", slog.Int("a", 1)))},
		{"empty keys go to the standard handler", nil, record(t0, slog.LevelInfo, "m", slog.String("", "v"), slog.Attr{})},
		{"ReplaceAttr goes to the standard handler", &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == "secret" {
				a.Value = slog.StringValue("REDACTED")
			}
			return a
		}}, record(t0, slog.LevelInfo, "m", slog.String("secret", "hunter2"))},
		{"AddSource goes to the standard handler", &slog.HandlerOptions{AddSource: true}, func(l *slog.Logger) { l.Info("m", "k", "v") }},
		{"derived loggers", nil, func(l *slog.Logger) {
			l.With("component", "keys").Info("m", "k", 1)
			l.WithGroup("g").Info("m", "k", 1)
		}},
		{"through Logger", nil, func(l *slog.Logger) {
			l.Info("hello", "k", "v", "n", 3, "d", time.Second)
			l.Debug("dropped")
		}},
	} {
		for _, json := range []bool{false, true} {
			name := tc.name + "/text"
			if json {
				name = tc.name + "/json"
			}
			t.Run(name, func(t *testing.T) {
				want, got := both(t, json, tc.opts, tc.log)
				if tc.opts != nil && tc.opts.AddSource {
					// The source line differs (two call sites); the rest must not.
					want, got = dropSource(want), dropSource(got)
				}
				if strings.Contains(tc.name, "Logger") || strings.Contains(tc.name, "AddSource") || strings.Contains(tc.name, "derived") {
					// Logged through a Logger, at the time of each call.
					want, got = clockTime.ReplaceAllString(want, "T"), clockTime.ReplaceAllString(got, "T")
				}
				if got != want {
					t.Errorf("lines differ\n got: %q\nwant: %q", got, want)
				}
				if want == "" && !strings.Contains(tc.name, "dropped") {
					t.Errorf("nothing written")
				}
			})
		}
	}
}

// clockTime matches the time of day in both formats.
var clockTime = regexp.MustCompile(`T\d\d:\d\d:\d\d\.\d+`)

func dropSource(s string) string {
	var out []string
	for _, f := range strings.Fields(s) {
		if !strings.HasPrefix(f, "source=") && !strings.HasPrefix(f, `"source":`) {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

// TestFastPathTaken makes sure the request line is formatted here and not by
// the standard handler, which the differential test cannot see.
func TestFastPathTaken(t *testing.T) {
	r := slog.NewRecord(t0, slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("method", "GET"), slog.Int("status", 200), slog.Duration("duration", time.Millisecond),
		slog.Bool("ok", true), slog.Uint64("n", 1), slog.String("client_ip", "::1"))
	for _, json := range []bool{false, true} {
		h := NewText(io.Discard, nil)
		if json {
			h = NewJSON(io.Discard, nil)
		}
		if _, ok := h.appendRecord(nil, r); !ok {
			t.Fatal("request line not on the fast path")
		}
		h.std = nil // the standard handler must not be reached
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		r2 := r.Clone()
		r2.AddAttrs(slog.Any("error", errors.New("x")))
		if _, ok := h.appendRecord(nil, r2); ok {
			t.Fatal("an error value on the fast path")
		}
	}
}

// TestConcurrentLines writes from many goroutines through both paths into a
// writer that is not safe for concurrent use: every line must come out whole.
func TestConcurrentLines(t *testing.T) {
	for _, json := range []bool{false, true} {
		var buf bytes.Buffer
		var h *Handler
		if json {
			h = NewJSON(&buf, nil)
		} else {
			h = NewText(&buf, nil)
		}
		l := slog.New(h)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 200 {
					if i%2 == 0 {
						l.Info("fast", "g", g, "i", i)
					} else {
						l.Info("slow", "err", errors.New("e"), "g", g)
					}
				}
			})
		}
		wg.Wait()
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if len(lines) != 8*200 {
			t.Fatalf("json=%v: %d lines, want %d", json, len(lines), 8*200)
		}
		for _, ln := range lines {
			if json && (!strings.HasPrefix(ln, `{"time":`) || !strings.HasSuffix(ln, "}")) ||
				!json && !strings.HasPrefix(ln, "time=") {
				t.Fatalf("json=%v: torn line %q", json, ln)
			}
		}
	}
}

// FuzzSameAsStandardHandlers holds the fast path to the standard handlers'
// output for arbitrary strings, numbers, levels and times.
func FuzzSameAsStandardHandlers(f *testing.F) {
	f.Add("request", "path", "/token", int64(200), uint64(1), true, int64(53000), int64(1795000000123456789), 0, int32(0))
	f.Add("", "", "", int64(-1), uint64(0), false, int64(-1), int64(0), -4, int32(3600))
	f.Add("a b", "k=v", "\"\\\n\x00\xff\u2028", int64(math.MinInt64), uint64(math.MaxUint64), true, int64(math.MaxInt64), int64(-62135596800000000), 12, int32(-34200))
	f.Add("m", "k", "v", int64(0), uint64(0), false, int64(0), int64(1795000000000000000), 0, int32(3208)) // whole second, odd offset
	f.Add("m", "k", "v", int64(0), uint64(0), false, int64(0), int64(-1500000000), 0, int32(-1))           // before 1970
	f.Fuzz(func(t *testing.T, msg, key, s string, i int64, u uint64, b bool, d int64, unixNano int64, level int, zone int32) {
		tm := time.Unix(0, unixNano).UTC()
		if unixNano == 0 {
			tm = time.Time{}
		}
		attrs := []slog.Attr{slog.String(key, s), slog.Int64("i", i), slog.Uint64(key+"u", u), slog.Bool("b", b), slog.Duration("d", time.Duration(d))}
		// Several lines through one handler, so that its cache of the
		// formatted second is both hit and missed: the same second in
		// another zone, the next nanosecond, the previous second.
		loc := time.FixedZone("", int(zone%(18*3600)))
		lines := func(l *slog.Logger) {
			for _, tm := range []time.Time{tm, tm, tm.In(loc), tm.Add(1), tm.Add(-time.Second)} {
				if tm.Equal(time.Time{}.Add(1)) || tm.Equal(time.Time{}.Add(-time.Second)) {
					continue // zero time only as itself
				}
				record(tm, slog.Level(level), msg, attrs...)(l)
			}
		}
		for _, json := range []bool{false, true} {
			want, got := both(t, json, &slog.HandlerOptions{Level: slog.LevelDebug - 8}, lines)
			if got != want {
				t.Fatalf("json=%v: lines differ\n got: %q\nwant: %q", json, got, want)
			}
		}
	})
}

// TestPlain8 checks the word-at-a-time test against the byte table for
// every byte value in every position.
func TestPlain8(t *testing.T) {
	base := []byte("abcdefgh")
	for pos := range 8 {
		for c := range 256 {
			w := append([]byte(nil), base...)
			w[pos] = byte(c)
			var x uint64
			for i := range 8 {
				x |= uint64(w[i]) << (8 * i)
			}
			want := c < utf8.RuneSelf && textSafe[c]
			if got := plain8(x); got != want {
				t.Fatalf("byte %#x at %d: plain8 %v, want %v", c, pos, got, want)
			}
		}
	}
}

func BenchmarkRequestLine(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    slog.Handler
	}{
		{"record-only", slog.DiscardHandler},
		{"std-text", slog.NewTextHandler(io.Discard, nil)},
		{"text", NewText(io.Discard, nil)},
		{"std-json", slog.NewJSONHandler(io.Discard, nil)},
		{"json", NewJSON(io.Discard, nil)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
				r.AddAttrs(slog.String("method", "GET"), slog.String("path", "/.well-known/jwks.json"), slog.Int("status", 200),
					slog.Duration("duration", 53*time.Microsecond), slog.String("request_id", "6f1c2a9b3d4e5f60000000000000002a"))
				r.AddAttrs(slog.String("client_ip", "127.0.0.1"))
				bc.h.Handle(ctx, r)
			}
		})
	}
}
