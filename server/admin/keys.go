package admin

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/authd/authd/keys"
	"github.com/authd/authd/server/internal/httpapi"
)

func (h *handler) listKeys(c *gin.Context) *Error {
	ks, err := h.keys.List(c.Request.Context())
	if err != nil {
		return httpapi.ServerError(err)
	}
	if ks == nil {
		ks = []keys.Info{}
	}
	c.JSON(http.StatusOK, ks)
	return nil
}

// Rotate is the optional body of POST /admin/api/keys/rotate. By
// default the published next key takes over at once (SPEC §2.3); the answer
// has early_activation set when that key had been published for less than
// the full lead, so that caching verifiers may not have it yet. WhenSafe
// instead schedules the takeover for the moment the lead is met (at once if
// it already is). Now is accepted for scripts and means the default.
type Rotate struct {
	Now      bool `json:"now,omitempty"`
	WhenSafe bool `json:"when_safe,omitempty"`
}

func (h *handler) rotateKeys(c *gin.Context) *Error {
	var req Rotate
	if e := decode(c, MaxBody, true, &req); e != nil {
		return e
	}
	if req.Now && req.WhenSafe {
		return badRequest("now and when_safe exclude each other")
	}
	info, err := h.keys.Rotate(c.Request.Context(), !req.WhenSafe)
	if err != nil {
		return httpapi.ServerError(err)
	}
	h.audit(c, "key.rotate", slog.Bool("when_safe", req.WhenSafe), slog.String("kid", info.ID), slog.String("state", info.State), slog.Bool("early", info.EarlyActivation))
	c.JSON(http.StatusOK, info)
	return nil
}

func (h *handler) revokeKey(c *gin.Context) *Error {
	kid := c.Param("kid")
	info, err := h.keys.Revoke(c.Request.Context(), kid)
	if err != nil {
		return storeErr(err, "key "+strconv.Quote(kid))
	}
	h.audit(c, "key.revoke", slog.String("kid", info.ID))
	c.Status(http.StatusNoContent)
	return nil
}
