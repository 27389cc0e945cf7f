// Package logline provides log/slog handlers that write exactly the lines of
// the standard library's TextHandler and JSONHandler, faster.
//
// A request log writes one line per request, and at tens of thousands of
// requests a second the standard handlers' general machinery (a handle state
// per record, a deferred recover per value, group bookkeeping) is a large
// part of a cheap request's cost. Most lines are flat: a message and a few
// strings, integers, booleans and durations. This package formats those
// with direct appends into a pooled buffer and hands every other record
// (groups, derived loggers, ReplaceAttr, AddSource, values of other kinds)
// to the standard handler it wraps, so the output is the same byte for byte
// either way; a differential test and fuzz target hold it to that.
package logline

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Handler is a slog.Handler; see the package documentation.
type Handler struct {
	json  bool
	level slog.Leveler
	fast  bool // false when options need the standard handler for every record
	out   *lockedWriter
	std   slog.Handler
	clock secondCache
}

// NewText returns a handler that writes what slog.NewTextHandler(w, opts)
// would.
func NewText(w io.Writer, opts *slog.HandlerOptions) *Handler {
	lw := &lockedWriter{w: w}
	return newHandler(false, lw, slog.NewTextHandler(lw, opts), opts)
}

// NewJSON returns a handler that writes what slog.NewJSONHandler(w, opts)
// would.
func NewJSON(w io.Writer, opts *slog.HandlerOptions) *Handler {
	lw := &lockedWriter{w: w}
	return newHandler(true, lw, slog.NewJSONHandler(lw, opts), opts)
}

func newHandler(json bool, lw *lockedWriter, std slog.Handler, opts *slog.HandlerOptions) *Handler {
	h := &Handler{json: json, out: lw, std: std, fast: true, level: slog.LevelInfo}
	if opts != nil {
		if opts.Level != nil {
			h.level = opts.Level
		}
		h.fast = opts.ReplaceAttr == nil && !opts.AddSource
	}
	return h
}

// lockedWriter serialises the writes of this package's fast path and of the
// standard handlers (each writes one whole line per call), so that lines
// never interleave, whichever path wrote them.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Enabled reports whether records of level l are written.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// WithAttrs returns the standard handler with the attributes: loggers
// derived this way are rare and take the general path.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler { return h.std.WithAttrs(as) }

// WithGroup returns the standard handler with the group.
func (h *Handler) WithGroup(name string) slog.Handler { return h.std.WithGroup(name) }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Handle writes the record as one line.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if !h.fast {
		return h.std.Handle(ctx, r)
	}
	bp := bufPool.Get().(*[]byte)
	b, ok := h.appendRecord((*bp)[:0], r)
	var err error
	if ok {
		_, err = h.out.Write(b)
	}
	if cap(b) <= 16<<10 { // keep the pool from holding on to rare huge lines
		*bp = b
		bufPool.Put(bp)
	}
	if !ok {
		return h.std.Handle(ctx, r)
	}
	return err
}

// flat reports whether an attribute is formatted here exactly as the
// standard handlers do: a non-empty key and a value of a kind whose
// formatting this package reproduces.
func flat(a slog.Attr) bool {
	if a.Key == "" {
		return false
	}
	switch a.Value.Kind() {
	case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindBool, slog.KindDuration:
		return true
	}
	return false
}

// appendRecord appends the line of r to b, or reports false if r has a time
// or an attribute that only the standard handler formats.
func (h *Handler) appendRecord(b []byte, r slog.Record) ([]byte, bool) {
	if y := r.Time.Year(); !r.Time.IsZero() && (y < 0 || y >= 10000) {
		return b, false
	}
	if h.json {
		b = append(b, '{')
	}
	sep := false
	if !r.Time.IsZero() {
		b = h.appendKey(b, slog.TimeKey, sep)
		sep = true
		if h.json {
			b = append(b, '"')
			b = h.clock.appendRFC3339Nano(b, r.Time)
			b = append(b, '"')
		} else {
			b = h.clock.appendRFC3339Millis(b, r.Time)
		}
	}
	b = h.appendKey(b, slog.LevelKey, sep)
	b = h.appendString(b, r.Level.String())
	b = h.appendKey(b, slog.MessageKey, true)
	b = h.appendString(b, r.Message)
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		if !flat(a) {
			ok = false
			return false
		}
		b = h.appendKey(b, a.Key, true)
		b = h.appendValue(b, a.Value)
		return true
	})
	if h.json {
		b = append(b, '}')
	}
	return append(b, '\n'), ok
}

func (h *Handler) appendKey(b []byte, key string, sep bool) []byte {
	if sep {
		if h.json {
			b = append(b, ',')
		} else {
			b = append(b, ' ')
		}
	}
	b = h.appendString(b, key)
	if h.json {
		return append(b, ':')
	}
	return append(b, '=')
}

func (h *Handler) appendString(b []byte, s string) []byte {
	if h.json {
		b = append(b, '"')
		b = appendEscapedJSONString(b, s)
		return append(b, '"')
	}
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func (h *Handler) appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return h.appendString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		if h.json {
			return strconv.AppendInt(b, int64(v.Duration()), 10)
		}
		return append(b, v.Duration().String()...)
	}
	panic("logline: appendValue of a kind flat does not accept")
}

// secondCache keeps the formatted date, time of day and zone of the last
// second seen, so that lines logged within one second format only their
// fraction. Times of years 0 to 9999 only (flat checks).
type secondCache struct{ p atomic.Pointer[second] }

type second struct {
	unix   int64
	loc    *time.Location
	prefix []byte // "2006-01-02T15:04:05"
	zone   []byte // "Z" or "-07:00"
}

func (c *secondCache) get(t time.Time) *second {
	s := c.p.Load()
	if s != nil && s.unix == t.Unix() && s.loc == t.Location() {
		return s
	}
	f := t.Truncate(time.Second).AppendFormat(nil, time.RFC3339)
	const n = len("2006-01-02T15:04:05")
	s = &second{unix: t.Unix(), loc: t.Location(), prefix: f[:n], zone: f[n:]}
	c.p.Store(s)
	return s
}

// appendRFC3339Millis is the text handler's time format: RFC 3339 with
// exactly three digits of fraction (truncated).
func (c *secondCache) appendRFC3339Millis(b []byte, t time.Time) []byte {
	s := c.get(t)
	ms := t.Nanosecond() / 1e6
	b = append(b, s.prefix...)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, s.zone...)
}

// appendRFC3339Nano is the JSON handler's time format, time.RFC3339Nano:
// up to nine digits of fraction without trailing zeros, and no fraction at
// all on a whole second.
func (c *secondCache) appendRFC3339Nano(b []byte, t time.Time) []byte {
	s := c.get(t)
	b = append(b, s.prefix...)
	if ns := t.Nanosecond(); ns != 0 {
		var d [10]byte
		d[0] = '.'
		for i := 9; i >= 1; i-- {
			d[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	return append(b, s.zone...)
}

// needsQuoting is the text handler's rule: quote empty strings, anything a
// JSON string would escape except a backslash, spaces, '=', invalid UTF-8
// and non-printing characters.
func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	i := 0
	// Eight bytes at a time while none of them is special.
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if !plain8(x) {
			break
		}
	}
	for i < len(s) {
		b := s[i]
		if b < utf8.RuneSelf {
			if !textSafe[b] {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// plain8 reports whether none of the eight bytes of x needs the text
// handler's quoting on its own: each is printable ASCII other than space,
// '"' and '=' (the classic "has a byte less than n" and "has a zero byte"
// tests, exact as to whether any byte matches).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	low := (x - ones*0x21) &^ x       // a byte below '!': a control or a space
	q := x ^ (ones * '"')             // a byte equal to '"' becomes zero
	e := x ^ (ones * '=')             // a byte equal to '=' becomes zero
	zero := (q-ones)&^q | (e-ones)&^e // a zero byte in q or e
	return (low|zero|x)&highs == 0    // x's high bits: bytes beyond ASCII
}

// appendEscapedJSONString is the JSON handler's string escaping (that of
// encoding/json without HTML escaping).
func appendEscapedJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safeSet[b] {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\')
			switch b {
			case '\\', '"':
				buf = append(buf, b)
			case '\n':
				buf = append(buf, 'n')
			case '\r':
				buf = append(buf, 'r')
			case '\t':
				buf = append(buf, 't')
			default:
				buf = append(buf, 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid in JSON but not in JavaScript
		// source; escaped as encoding/json does.
		if c == '\u2028' || c == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\u202`...)
			buf = append(buf, hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(buf, s[start:]...)
}

// textSafe holds true for the ASCII bytes the text handler leaves
// unquoted: those of safeSet but space and '=', and the backslash.
var textSafe = func() (s [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		s[b] = b != '"' && b != ' ' && b != '='
	}
	return s
}()

// safeSet holds true for the ASCII bytes a JSON string holds unescaped:
// all but the control characters, '"' and '\\'.
var safeSet = func() (s [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		s[b] = b != '"' && b != '\\'
	}
	return s
}()
