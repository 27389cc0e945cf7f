package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP is the address throttling and logs use: the peer's, or, when
// the peer is a trusted proxy, the nearest untrusted address of
// X-Forwarded-For.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	peer := remoteAddr(r)
	if len(s.cfg.TrustedProxies) == 0 || !s.trusted(peer) {
		return peer
	}
	// The hops of every X-Forwarded-For header in order, walked from the
	// nearest (the end of the last header) back to the first untrusted
	// one, without splitting or allocating: the work is that of the
	// trusted hops, whatever a client put before them.
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		h := hops[i]
		for {
			j := strings.LastIndexByte(h, ',')
			a, err := netip.ParseAddr(strings.TrimSpace(h[j+1:]))
			if err != nil {
				return peer
			}
			a = a.Unmap()
			if !s.trusted(a) {
				return a
			}
			peer = a
			if j < 0 {
				break
			}
			h = h[:j]
		}
	}
	return peer
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	return a.Unmap()
}
