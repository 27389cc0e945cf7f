package hostile

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowClients starts clients that send a byte a second (slowloris) or
// nothing at all, and checks that the server closes each on the timeout
// cmd/authd sets: ReadHeaderTimeout while the headers trickle, ReadTimeout
// while the body does. The function it returns gives one line per client
// once wg is done.
func slowClients(t *testing.T, addr string, wg *sync.WaitGroup) func() []string {
	t.Helper()
	type kind struct {
		name    string
		n       int
		prefix  string
		trickle string
		limit   time.Duration
	}
	kinds := []kind{
		{"headers a byte a second", 8, "POST /token HTTP/1.1\r\nHost: x\r\n", "X-Slow: " + strings.Repeat("a", 64), readHeaderTimeout},
		{"silent after connect", 2, "", "", readHeaderTimeout},
		{"request line a byte a second", 2, "", "GET /healthz HTTP/1.1", readHeaderTimeout},
		{"body a byte a second", 2, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n", "grant_type=password&" + strings.Repeat("a", 200), readTimeout},
	}
	var mu sync.Mutex
	results := make([]string, 0, 16)
	for _, k := range kinds {
		for i := 0; i < k.n; i++ {
			wg.Go(func() {
				d, reply, err := slowClient(addr, k.prefix, k.trickle, k.limit+slack)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("slow client (%s): %v", k.name, err)
					return
				}
				if d > k.limit+slack {
					t.Errorf("slow client (%s): closed after %s, want within %s", k.name, d.Round(time.Millisecond), k.limit)
				}
				results = append(results, fmt.Sprintf("slow client (%s): closed after %s (limit %s)%s", k.name, d.Round(100*time.Millisecond), k.limit, reply))
			})
		}
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return results
	}
}

// slowClient connects, writes prefix, then trickle a byte a second until
// the server closes the connection or answers, and returns how long that
// took. It gives up after max+2s.
func slowClient(addr, prefix, trickle string, max time.Duration) (time.Duration, string, error) {
	start := time.Now()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	conn.SetReadDeadline(start.Add(max + 2*time.Second))
	if prefix != "" {
		if _, err := io.WriteString(conn, prefix); err != nil {
			return 0, "", err
		}
	}
	closed := make(chan struct{})
	var reply string
	var readErr error
	go func() {
		defer close(closed)
		b, err := io.ReadAll(conn)
		reply = string(b)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			readErr = fmt.Errorf("the server kept the connection open for %s", max+2*time.Second)
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			d := time.Since(start)
			if readErr != nil {
				return d, "", readErr
			}
			if reply != "" {
				line, _, _ := strings.Cut(reply, "\r\n")
				reply = "; answered " + line
			}
			return d, reply, nil
		case <-tick.C:
			if trickle != "" {
				// A write error means the server closed; the reader sees it.
				conn.Write([]byte{trickle[i%len(trickle)]})
			}
		}
	}
}
