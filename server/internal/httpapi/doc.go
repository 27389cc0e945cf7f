// Package httpapi holds what authd's two HTTP surfaces share: the OAuth
// endpoints of package server and the admin API of package server/admin.
// It has the error value both return and render in one place (Error,
// WriteError), the no-store headers, the request id carried in the
// request's context, and the names both use (scopes, grants, the
// built-in client).
//
// It imports gin and nothing of the project.
package httpapi
