package admin

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/server/internal/httpapi"
)

// backup streams a consistent copy of the database. A failure after
// the first byte aborts the connection, so that the client sees a truncated
// transfer rather than a short file that looks complete.
func (h *handler) backup(c *gin.Context) *Error {
	// A large database may take longer than the server's write timeout.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
	name := "authd-" + h.now().UTC().Format("20060102T150405Z") + ".db"
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	c.Status(http.StatusOK)
	n, err := h.store.Backup(c.Request.Context(), c.Writer)
	if err != nil {
		h.log.LogAttrs(c.Request.Context(), slog.LevelError, "backup failed",
			slog.String("request_id", requestID(c)), slog.Int64("bytes", n), slog.Any("error", err))
		if !c.Writer.Written() {
			return httpapi.ServerError(err)
		}
		panic(http.ErrAbortHandler)
	}
	h.audit(c, "backup", slog.Int64("bytes", n))
	return nil
}
