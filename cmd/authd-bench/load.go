package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// requestFunc sends one request and reports whether its answer was the
// expected one. It is called from one worker goroutine only.
type requestFunc func(ctx context.Context) error

// loadSpec is one closed-loop load: Conns workers, each sending its next
// request as soon as the previous one is answered (after Pause, if set).
// Only answers that arrive after Warmup and before Warmup+Duration count
// towards throughput and latency; errors count over the whole run.
type loadSpec struct {
	Conns    int
	Warmup   time.Duration
	Duration time.Duration
	// MaxRequests bounds the number of requests sent, warm-up included.
	MaxRequests int64
	Pause       time.Duration
	// Stop, if not nil, ends the load early when closed; the window then
	// ends there.
	Stop <-chan struct{}
}

// loadResult is what a load measured.
type loadResult struct {
	Requests uint64        // answered as expected within the window
	Window   time.Duration // the measured window
	Errors   uint64        // unexpected answers and transport errors, whole run
	Kinds    map[string]uint64
	Hist     *hist
	// Truncated is true when MaxRequests ended the load before its time.
	Truncated bool
}

// RPS is the throughput of expected answers in the window.
func (r loadResult) RPS() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Window.Seconds()
}

// errorSummary lists the most frequent error kinds.
func (r loadResult) errorSummary() string {
	kinds := slices.Collect(maps.Keys(r.Kinds))
	slices.SortFunc(kinds, func(a, b string) int { return int(r.Kinds[b]) - int(r.Kinds[a]) })
	var parts []string
	for i, k := range kinds {
		if i == 3 {
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %s", r.Kinds[k], k))
	}
	return strings.Join(parts, "; ")
}

// runLoad runs a closed-loop load. newWorker is called once per worker
// before the clock starts. onBegin and onEnd (either may be nil) are called
// when the measured window opens and closes, to read the server's counters.
// Every worker stops at the end of the window, when MaxRequests have been
// sent or when ctx ends; a request still in flight then is bounded by the
// HTTP client's timeout.
func runLoad(ctx context.Context, spec loadSpec, newWorker func(i int) (requestFunc, error), onBegin, onEnd func()) (loadResult, error) {
	if spec.Conns < 1 {
		return loadResult{}, errors.New("load needs at least one connection")
	}
	if spec.MaxRequests <= 0 {
		spec.MaxRequests = 50_000_000
	}
	fns := make([]requestFunc, spec.Conns)
	for i := range fns {
		fn, err := newWorker(i)
		if err != nil {
			return loadResult{}, fmt.Errorf("prepare worker %d: %w", i, err)
		}
		fns[i] = fn
	}

	start := time.Now()
	begin := start.Add(spec.Warmup)
	end := begin.Add(spec.Duration)
	// In-flight requests get a little time after the window, then are
	// cancelled.
	wctx, cancel := context.WithDeadline(ctx, end.Add(30*time.Second))
	defer cancel()

	var (
		sent      atomic.Int64
		truncated atomic.Bool
		mu        sync.Mutex
		res       = loadResult{Window: spec.Duration, Kinds: map[string]uint64{}, Hist: new(hist)}
		wg        sync.WaitGroup
	)
	for _, fn := range fns {
		wg.Go(func() {
			h := new(hist)
			var n, nerr uint64
			kinds := map[string]uint64{}
			for wctx.Err() == nil && time.Now().Before(end) && !closed(spec.Stop) {
				if sent.Add(1) > spec.MaxRequests {
					truncated.Store(true)
					break
				}
				t0 := time.Now()
				err := fn(wctx)
				t1 := time.Now()
				switch {
				case errors.Is(err, errRefused):
					// counted by the caller
				case err != nil:
					if wctx.Err() != nil && t1.After(end) {
						break // cancelled after the window: not the server's fault
					}
					nerr++
					kinds[errorKind(err)]++
				case !t1.Before(begin) && !t1.After(end):
					n++
					h.record(t1.Sub(t0))
				}
				if spec.Pause > 0 {
					select {
					case <-time.After(spec.Pause):
					case <-wctx.Done():
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.Requests += n
			res.Errors += nerr
			res.Hist.merge(h)
			for k, v := range kinds {
				res.Kinds[k] += v
			}
		})
	}

	waitUntil(ctx, begin)
	if onBegin != nil {
		onBegin()
	}
	select {
	case <-time.After(time.Until(end)):
	case <-ctx.Done():
	case <-spec.Stop:
		res.Window = time.Since(begin)
	}
	if onEnd != nil {
		onEnd()
	}
	wg.Wait()
	res.Truncated = truncated.Load()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// closed reports whether c is closed; a nil channel never is.
func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func waitUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// statusError is an answer with an unexpected status.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.code, e.body)
}

// errorKind groups errors for the report: the status and OAuth error code,
// or the transport error without the URL.
func errorKind(err error) string {
	var se *statusError
	if errors.As(err, &se) {
		code := oauthErrorCode([]byte(se.body))
		if code == "" {
			code = truncate(se.body, 60)
		}
		return fmt.Sprintf("HTTP %d %s", se.code, code)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return truncate(err.Error(), 80)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// oauthErrorCode extracts "error" from an OAuth JSON error body.
func oauthErrorCode(body []byte) string {
	return jsonString(body, "error")
}

// jsonString finds the string value of a top-level key in a small JSON
// object without a full decode, to keep the load generator's own CPU cost
// low. It handles the bodies authd writes (no escapes inside these values);
// it returns "" when the key is absent.
func jsonString(body []byte, key string) string {
	pat := `"` + key + `":"`
	s := string(body)
	i := strings.Index(s, pat)
	if i < 0 {
		return ""
	}
	s = s[i+len(pat):]
	j := strings.IndexByte(s, '"')
	if j < 0 {
		return ""
	}
	return s[:j]
}

// newClient returns an HTTP client tuned for a closed-loop load of conns
// workers against one host: keep-alive, one idle connection per worker, no
// compression. With a local IP, connections come from that loopback
// address.
func newClient(conns int, localIP net.IP) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if localIP != nil {
		d.LocalAddr = &net.TCPAddr{IP: localIP}
	}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			MaxIdleConns:          conns,
			MaxIdleConnsPerHost:   conns,
			MaxConnsPerHost:       conns,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			DisableCompression:    true,
			ForceAttemptHTTP2:     false,
		},
	}
}

// exchange sends req and reads the whole answer into buf (reset first). It
// returns a *statusError when the status is not want.
func exchange(c *http.Client, req *http.Request, want int, buf *[]byte) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := resp.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = b
			return err
		}
		if len(b) > 1<<20 {
			return errors.New("answer longer than 1 MiB")
		}
	}
	*buf = b
	if resp.StatusCode != want {
		return &statusError{code: resp.StatusCode, body: truncate(string(b), 200)}
	}
	return nil
}
