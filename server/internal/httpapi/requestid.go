package httpapi

import "context"

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request it serves. The
// server's request log middleware sets it on every request, so that
// handlers and the admin API, whatever router they run in, log the same id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
