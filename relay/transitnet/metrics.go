package transitnet

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wasmhole/wasmhole/relay/transit"
)

// ErrorKinds are the values of the errors_total "kind" label.
var ErrorKinds = []string{
	"accept", "per_ip_conns", "per_ip_rate", "websocket_upgrade",
	"bad_handshake", "line_too_long", "handshake_timeout", "impatient", "unpaired_timeout",
	"idle_timeout", "byte_cap", "text_message", "linger_timeout", "shutdown", "io",
}

var moods = []transit.Mood{
	transit.MoodHappy, transit.MoodJilted, transit.MoodLonely,
	transit.MoodRedundant, transit.MoodImpatient, transit.MoodErrory,
}

type metrics struct {
	connTotal *prometheus.CounterVec
	connOpen  *prometheus.GaugeVec
	pairs     *prometheus.CounterVec
	bytes     prometheus.Counter
	sessions  *prometheus.CounterVec
	errors    *prometheus.CounterVec
	funcs     []prometheus.Collector
}

func newMetrics(s *Server) *metrics {
	const ns, sub = "wasmhole", "transit"
	m := &metrics{
		connTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "connections_total", Help: "Transit client connections accepted, by transport (tcp, websocket; upstream: bridge connections to --transit-upstream)."}, []string{"transport"}),
		connOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connections_open", Help: "Transit client connections open now, by transport."}, []string{"transport"}),
		pairs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "pairs_total", Help: "Pairs formed (transfers relayed), by transports (tcp-tcp, tcp-websocket, websocket-websocket; upstream-websocket: bridged)."}, []string{"transports"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "bytes_relayed_total", Help: "Bytes relayed, both directions."}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "sessions_total", Help: "Finished connections by usage mood (happy, jilted, lonely, redundant, impatient, errory)."}, []string{"mood"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "errors_total", Help: "Transit errors by kind."}, []string{"kind"}),
	}
	m.funcs = []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "waiting", Help: "Connections that sent their handshake and wait for a partner."},
			func() float64 { return float64(s.Stats().Waiting) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "pairs_active", Help: "Pairs currently relaying."},
			func() float64 { return float64(s.Stats().ActivePairs) }),
	}
	// Pre-create the label values so dashboards see zeros, not gaps.
	for _, t := range []string{transportTCP, transportWS} {
		m.connTotal.WithLabelValues(t)
		m.connOpen.WithLabelValues(t)
	}
	for _, k := range []string{pairKind(transportTCP, transportTCP), pairKind(transportTCP, transportWS), pairKind(transportWS, transportWS)} {
		m.pairs.WithLabelValues(k)
	}
	for _, k := range ErrorKinds {
		m.errors.WithLabelValues(k)
	}
	for _, mood := range moods {
		m.sessions.WithLabelValues(string(mood))
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range append([]prometheus.Collector{m.connTotal, m.connOpen, m.pairs, m.bytes, m.sessions, m.errors}, m.funcs...) {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// pairKind is the transports label of a pair, independent of order.
func pairKind(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "-" + b
}
