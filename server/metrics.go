package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own so
// that several servers (tests) never collide. Labels never carry a token,
// secret, password or username.
type metrics struct {
	reg              *prometheus.Registry
	tokensIssued     *prometheus.CounterVec
	tokenErrors      *prometheus.CounterVec
	refreshReuse     prometheus.Counter
	loginsThrottled  prometheus.Counter
	loginsRejected   prometheus.Counter
	loginsOverloaded prometheus.Counter
	// Client authentication on /token, /revoke and /introspect.
	clientAuthThrottled prometheus.Counter
	clientAuthRejected  prometheus.Counter
	revocations         *prometheus.CounterVec
	requestDuration     *prometheus.HistogramVec
	swept               *prometheus.CounterVec

	// codeReplays counts spent authorization codes presented again (code
	// exchanges are tokensIssued{grant_type="authorization_code"}).
	codeReplays prometheus.Counter

	// observers caches requestDuration's children by label values.
	observers sync.Map // observerKey → prometheus.Observer
}

type observerKey struct {
	route, method string
	code          int
}

// observe records a request's latency. The child of the label values is
// looked up once and cached; method is folded to "other" unless standard,
// so that clients cannot create label values at will.
func (m *metrics) observe(route, method string, code int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = "other"
	}
	k := observerKey{route, method, code}
	o, ok := m.observers.Load(k)
	if !ok {
		o, _ = m.observers.LoadOrStore(k, m.requestDuration.WithLabelValues(route, method, strconv.Itoa(code)))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_tokens_issued_total", Help: "Token responses issued, by grant type.",
		}, []string{"grant_type"}),
		tokenErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_token_errors_total", Help: "Token endpoint errors, by OAuth error code.",
		}, []string{"error"}),
		refreshReuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_refresh_reuse_detected_total", Help: "Spent refresh tokens presented again; each revoked its family.",
		}),
		loginsThrottled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_logins_throttled_total", Help: "Password grants delayed or refused by throttling.",
		}),
		loginsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_logins_rejected_total", Help: "Password grants with wrong credentials.",
		}),
		loginsOverloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_logins_overloaded_total", Help: "Password grants refused with 503 because every hashing slot stayed busy.",
		}),
		clientAuthThrottled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_client_auth_throttled_total", Help: "Client authentications delayed or refused by throttling.",
		}),
		clientAuthRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authd_client_auth_rejected_total", Help: "Client authentications with an unknown client or a wrong secret.",
		}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_revocations_total", Help: "Tokens revoked through /revoke, by token type.",
		}, []string{"token_type"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authd_http_request_duration_seconds", Help: "HTTP request latency, by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "code"}),
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authd_swept_total", Help: "Expired items removed by the background sweep, by kind.",
		}, []string{"kind"}),
	}
	m.codeReplays = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authd_code_replay_detected_total", Help: "Spent authorization codes presented again; each revoked the tokens issued from it.",
	})
	m.reg.MustRegister(m.codeReplays)
	m.reg.MustRegister(m.swept, m.tokensIssued, m.tokenErrors, m.refreshReuse, m.loginsThrottled,
		m.loginsRejected, m.loginsOverloaded, m.clientAuthThrottled, m.clientAuthRejected, m.revocations, m.requestDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_signing_key_age_seconds", Help: "Seconds since the active signing key began to sign.",
		}, func() float64 { return s.keyGauge(false) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authd_signing_key_next_rotation_seconds", Help: "Seconds until the next scheduled key rotation.",
		}, func() float64 { return s.keyGauge(true) }),
	)
	for _, c := range s.cfg.Collectors {
		m.reg.MustRegister(c)
	}
	return m
}

// keyGauge reports the active key's age, or the time to its rotation, from
// the key manager's state in memory: a scrape reads no storage.
func (s *Server) keyGauge(untilRotation bool) float64 {
	k, ok := s.keys.Active()
	if !ok {
		return 0
	}
	now := s.now()
	if untilRotation {
		if k.NextRotation.IsZero() {
			return 0
		}
		return k.NextRotation.Sub(now).Seconds()
	}
	return now.Sub(k.ActivatedAt).Seconds()
}

func (m *metrics) handler() gin.HandlerFunc {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return gin.WrapH(h)
}
