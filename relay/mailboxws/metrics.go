package mailboxws

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the wasmhole_mailbox_* collectors. Gauges and counters that
// the machine already keeps are read at scrape time (statsCollector), so
// the hot path pays nothing for them.
type metrics struct {
	reg           prometheus.Registerer
	stats         *statsCollector
	rejected      *prometheus.CounterVec
	storeErrors   prometheus.Counter
	commitSeconds prometheus.Histogram
	syncSeconds   prometheus.Histogram
	registered    []prometheus.Collector
}

func newMetrics(s *Server) *metrics {
	return &metrics{
		stats: &statsCollector{
			s:           s,
			connections: prometheus.NewDesc("wasmhole_mailbox_connections", "Open mailbox WebSocket connections.", nil, nil),
			nameplates:  prometheus.NewDesc("wasmhole_mailbox_nameplates", "Claimed nameplates.", nil, nil),
			mailboxes:   prometheus.NewDesc("wasmhole_mailbox_mailboxes", "Open mailboxes.", nil, nil),
			stored:      prometheus.NewDesc("wasmhole_mailbox_stored_messages", "Messages stored in open mailboxes.", nil, nil),
			storedBytes: prometheus.NewDesc("wasmhole_mailbox_stored_bytes",
				"What the stored messages count against the storage caps (body, phase, id, side, plus a fixed overhead each).", nil, nil),
			healthy: prometheus.NewDesc("wasmhole_mailbox_store_healthy",
				"1 while the store takes writes; 0 while a write failed and the server refuses changes until one succeeds.", nil, nil),
			messages: prometheus.NewDesc("wasmhole_mailbox_messages_total", "Messages added to mailboxes.", nil, nil),
			sessions: prometheus.NewDesc("wasmhole_mailbox_sessions_total",
				"Finished mailboxes (sessions) by result: happy, lonely, errory, scary, pruney, quiet, closed.", []string{"mood"}, nil),
			errors: prometheus.NewDesc("wasmhole_mailbox_errors_total", "Error messages sent to clients, by kind.", []string{"kind"}, nil),
		},
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmhole_mailbox_rejected_connections_total",
			Help: "Connections refused by a limit, by reason.",
		}, []string{"reason"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wasmhole_mailbox_store_errors_total",
			Help: "Failed store commits (each retried up to 3 times) and syncs.",
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wasmhole_mailbox_store_commit_seconds",
			Help:    "Duration of one batched store commit.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8),
		}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wasmhole_mailbox_store_sync_seconds",
			Help:    "Duration of one disk flush, which covers every commit before it (durable SQLite only).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8),
		}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	m.reg = reg
	for _, c := range []prometheus.Collector{m.stats, m.rejected, m.storeErrors, m.commitSeconds, m.syncSeconds} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return err
		}
		m.registered = append(m.registered, c)
	}
	return nil
}

// unregister lets a restarted Server register on the same registry.
func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

type statsCollector struct {
	s                                                                      *Server
	connections, nameplates, mailboxes, stored, messages, sessions, errors *prometheus.Desc
	storedBytes, healthy                                                   *prometheus.Desc
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connections, c.nameplates, c.mailboxes, c.stored, c.storedBytes, c.healthy, c.messages, c.sessions, c.errors} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(c.connections, prometheus.GaugeValue, float64(st.Connections))
	ch <- prometheus.MustNewConstMetric(c.nameplates, prometheus.GaugeValue, float64(st.Nameplates))
	ch <- prometheus.MustNewConstMetric(c.mailboxes, prometheus.GaugeValue, float64(st.Mailboxes))
	ch <- prometheus.MustNewConstMetric(c.stored, prometheus.GaugeValue, float64(st.Messages))
	ch <- prometheus.MustNewConstMetric(c.storedBytes, prometheus.GaugeValue, float64(st.Bytes))
	healthy := 1.0
	if c.s.Healthy() != nil {
		healthy = 0
	}
	ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, healthy)
	ch <- prometheus.MustNewConstMetric(c.messages, prometheus.CounterValue, float64(st.MessagesTotal))
	for mood, n := range st.Sessions {
		ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.CounterValue, float64(n), mood)
	}
	for kind, n := range st.Errors {
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(n), kind)
	}
}
