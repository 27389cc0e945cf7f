package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logFlushInterval bounds how long a log line may wait in the buffer.
const logFlushInterval = 100 * time.Millisecond

// bufferedLog collects log lines and writes them out in batches: at most
// logFlushInterval late, at once when the buffer fills, and on Close. One
// write system call then serves many request lines, which at tens of
// thousands of requests a second is a large part of a cheap request's cost.
// A crash loses at most the last interval of lines. Safe for concurrent use.
type bufferedLog struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newBufferedLog(w io.Writer) *bufferedLog {
	b := &bufferedLog{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *bufferedLog) flush() {
	b.mu.Lock()
	b.w.Flush()
	b.mu.Unlock()
}

func (b *bufferedLog) loop() {
	defer close(b.done)
	t := time.NewTicker(logFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.flush()
		case <-b.stop:
			b.flush()
			return
		}
	}
}

// Close writes out what is buffered and stops the flusher. Lines written
// after Close still reach the buffer and are flushed by nobody; the server
// closes it last, after the final log line.
func (b *bufferedLog) Close() error {
	close(b.stop)
	<-b.done
	return nil
}
