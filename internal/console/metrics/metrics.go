// Package metrics holds the console's Prometheus metrics: connections,
// messages and bytes in and out, slow consumers dropped, refused handshakes
// and monitor samples, with the Go runtime's and the process's own. Each
// Registry is separate, so tests can run several servers in one process.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is one server's set of metrics. Its methods are safe for
// concurrent use.
type Registry struct {
	reg *prometheus.Registry

	open        *prometheus.GaugeVec
	accepted    *prometheus.CounterVec
	refused     *prometheus.CounterVec
	msgsIn      *prometheus.CounterVec
	msgsOut     *prometheus.CounterVec
	bytesIn     *prometheus.CounterVec
	bytesOut    *prometheus.CounterVec
	slow        *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	badMessages *prometheus.CounterVec
	samples     prometheus.Counter
}

// New returns a Registry with every metric at zero.
func New() *Registry {
	byEndpoint := []string{"endpoint"}
	m := &Registry{
		reg: prometheus.NewRegistry(),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wsdeck_connections", Help: "WebSocket connections open now.",
		}, byEndpoint),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsdeck_connections_total", Help: "WebSocket connections accepted.",
		}, byEndpoint),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsdeck_requests_refused_total",
			Help: "Requests refused, WebSocket handshakes included, by reason (auth, origin, max_conns, handshake).",
		}, []string{"endpoint", "reason"}),
		msgsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsdeck_messages_received_total", Help: "WebSocket messages received.",
		}, byEndpoint),
		msgsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsdeck_messages_sent_total", Help: "WebSocket messages sent.",
		}, byEndpoint),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsdeck_received_bytes_total", Help: "Payload bytes of WebSocket messages received.",
		}, byEndpoint),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsdeck_sent_bytes_total", Help: "Payload bytes of WebSocket messages sent (before compression).",
		}, byEndpoint),
		slow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsdeck_slow_consumers_dropped_total", Help: "Connections closed because their send queue was full.",
		}, byEndpoint),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsdeck_messages_rate_limited_total", Help: "Messages refused for going over the per-connection rate.",
		}, byEndpoint),
		badMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsdeck_messages_invalid_total", Help: "Messages answered with an error: malformed, unknown type or refused.",
		}, byEndpoint),
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wsdeck_monitor_samples_total", Help: "System samples taken by the monitor.",
		}),
	}
	m.reg.MustRegister(m.open, m.accepted, m.refused, m.msgsIn, m.msgsOut, m.bytesIn, m.bytesOut,
		m.slow, m.rateLimited, m.badMessages, m.samples,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Gatherer returns the registry, for tests that read a value.
func (m *Registry) Gatherer() prometheus.Gatherer { return m.reg }

// Refused counts a refused handshake or request.
func (m *Registry) Refused(endpoint, reason string) {
	m.refused.WithLabelValues(endpoint, reason).Inc()
}

// SampleTaken counts one monitor sample.
func (m *Registry) SampleTaken() { m.samples.Inc() }

// Endpoint returns the metrics of one WebSocket endpoint.
func (m *Registry) Endpoint(name string) *Endpoint {
	return &Endpoint{
		open:        m.open.WithLabelValues(name),
		accepted:    m.accepted.WithLabelValues(name),
		msgsIn:      m.msgsIn.WithLabelValues(name),
		msgsOut:     m.msgsOut.WithLabelValues(name),
		bytesIn:     m.bytesIn.WithLabelValues(name),
		bytesOut:    m.bytesOut.WithLabelValues(name),
		slow:        m.slow.WithLabelValues(name),
		rateLimited: m.rateLimited.WithLabelValues(name),
		badMessages: m.badMessages.WithLabelValues(name),
	}
}

// Endpoint is the metrics of one WebSocket endpoint. A nil *Endpoint counts
// nothing, so code that takes one works without metrics.
type Endpoint struct {
	open                               prometheus.Gauge
	accepted                           prometheus.Counter
	msgsIn, msgsOut, bytesIn, bytesOut prometheus.Counter
	slow, rateLimited, badMessages     prometheus.Counter
}

// Opened counts a connection accepted; Closed, its end.
func (e *Endpoint) Opened() {
	if e != nil {
		e.open.Inc()
		e.accepted.Inc()
	}
}

// Closed counts the end of a connection that Opened counted.
func (e *Endpoint) Closed() {
	if e != nil {
		e.open.Dec()
	}
}

// Received counts one message of n bytes in.
func (e *Endpoint) Received(n int) {
	if e != nil {
		e.msgsIn.Inc()
		e.bytesIn.Add(float64(n))
	}
}

// Sent counts one message of n bytes out.
func (e *Endpoint) Sent(n int) {
	if e != nil {
		e.msgsOut.Inc()
		e.bytesOut.Add(float64(n))
	}
}

// SlowDropped counts a connection closed for a full send queue.
func (e *Endpoint) SlowDropped() {
	if e != nil {
		e.slow.Inc()
	}
}

// RateLimited counts a message refused for the rate limit.
func (e *Endpoint) RateLimited() {
	if e != nil {
		e.rateLimited.Inc()
	}
}

// Invalid counts a message answered with an error.
func (e *Endpoint) Invalid() {
	if e != nil {
		e.badMessages.Inc()
	}
}

// EngineStats are the figures of the console's connection to its engine
// (NATS): the same fields as engine.Stats, which converts to it.
type EngineStats struct {
	Connected  bool
	Reconnects uint64
	InMsgs     uint64
	InBytes    uint64
	OutMsgs    uint64
	OutBytes   uint64
}

// Engine exports the engine's figures, read from stats at each scrape:
// wsdeck_engine_connected (0 or 1) and counters of reconnects, and of
// messages and bytes in and out. It may be called once per Registry.
func (m *Registry) Engine(stats func() EngineStats) {
	m.reg.MustRegister(engineCollector(stats))
}

type engineCollector func() EngineStats

var (
	engineConnected  = prometheus.NewDesc("wsdeck_engine_connected", "1 while connected to the engine (NATS), else 0.", nil, nil)
	engineReconnects = prometheus.NewDesc("wsdeck_engine_reconnects_total", "Times the connection to the engine was re-established.", nil, nil)
	engineMsgsIn     = prometheus.NewDesc("wsdeck_engine_messages_received_total", "Messages received from the engine, JetStream API answers included.", nil, nil)
	engineBytesIn    = prometheus.NewDesc("wsdeck_engine_received_bytes_total", "Bytes received from the engine.", nil, nil)
	engineMsgsOut    = prometheus.NewDesc("wsdeck_engine_messages_sent_total", "Messages sent to the engine, JetStream API requests included.", nil, nil)
	engineBytesOut   = prometheus.NewDesc("wsdeck_engine_sent_bytes_total", "Bytes sent to the engine.", nil, nil)
)

func (c engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{engineConnected, engineReconnects, engineMsgsIn, engineBytesIn, engineMsgsOut, engineBytesOut} {
		ch <- d
	}
}

func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	s := c()
	connected := 0.0
	if s.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(engineConnected, prometheus.GaugeValue, connected)
	for _, v := range []struct {
		d *prometheus.Desc
		n uint64
	}{{engineReconnects, s.Reconnects}, {engineMsgsIn, s.InMsgs}, {engineBytesIn, s.InBytes}, {engineMsgsOut, s.OutMsgs}, {engineBytesOut, s.OutBytes}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n))
	}
}
