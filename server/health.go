package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (s *Server) handleHealthz(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", []byte(`{"status":"ok"}`+"\n"))
}

// handleReadyz: ready when the database answers and a signing key is
// active.
func (s *Server) handleReadyz(c *gin.Context) {
	if err := s.store.Ping(c.Request.Context()); err != nil {
		c.Data(http.StatusServiceUnavailable, "application/json", []byte(`{"status":"unavailable","reason":"database"}`+"\n"))
		return
	}
	if !s.keys.Ready() {
		c.Data(http.StatusServiceUnavailable, "application/json", []byte(`{"status":"unavailable","reason":"no active signing key"}`+"\n"))
		return
	}
	c.Data(http.StatusOK, "application/json", []byte(`{"status":"ready"}`+"\n"))
}
