//! The host's metrics, served on `/metrics` of `--http-admin` in the OpenMetrics text
//! format (which Prometheus scrapes): what a supervisor of programs should expose.
//!
//! - `lattice_providers{state}`: providers by supervision state (at scrape time);
//! - `lattice_provider_restarts_total`: provider restarts;
//! - `lattice_health_check_duration_seconds`: health-check round trips that got an answer;
//! - `lattice_ctl_requests_total{op,outcome}` and `lattice_ctl_request_duration_seconds{op}`:
//!   control requests by operation;
//! - `lattice_events_published_total{event}`: lattice events;
//! - `lattice_nats_reconnects_total{connection}`: reconnects of the ctl and rpc connections
//!   (at scrape time).
//!
//! The counters and histograms are also OpenTelemetry instruments of the global meter
//! (`lattice.provider.restarts`, `lattice.health_check.duration`, `lattice.ctl.requests`,
//! `lattice.ctl.request.duration`, `lattice.events.published`,
//! `lattice.nats.reconnects{connection}`, and `lattice.providers{state}`, sampled every
//! few seconds): exported over OTLP when
//! `--enable-metrics` (or `--enable-observability`) installed a meter provider, no-ops
//! otherwise.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CtlLabels {
    op: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabel {
    connection: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~6.5 s.
    Histogram::new(exponential_buckets(0.0001, 3.0, 11))
}

/// The host's metrics. Cheap to clone; recording never blocks.
#[derive(Clone)]
pub(crate) struct Metrics(Arc<Inner>);

/// The OpenTelemetry side of the same measurements.
struct Otel {
    /// Read at each export: the reconnects of the host's connections.
    _reconnects: opentelemetry::metrics::ObservableCounter<u64>,
    /// Read at each export: the last sample of providers by state.
    _providers: opentelemetry::metrics::ObservableGauge<i64>,
    restarts: opentelemetry::metrics::Counter<u64>,
    health_latency: opentelemetry::metrics::Histogram<f64>,
    ctl_requests: opentelemetry::metrics::Counter<u64>,
    ctl_latency: opentelemetry::metrics::Histogram<f64>,
    events: opentelemetry::metrics::Counter<u64>,
}

impl Otel {
    fn new(
        connections: &[(&'static str, async_nats::Client)],
        provider_states: ProviderStates,
    ) -> Self {
        let meter = opentelemetry::global::meter("lattice-host");
        let connections = connections.to_vec();
        Otel {
            _providers: meter
                .i64_observable_gauge("lattice.providers")
                .with_description("Providers by supervision state")
                .with_callback(move |observer| {
                    for (state, count) in provider_states.lock().unwrap().iter() {
                        let state = opentelemetry::KeyValue::new("state", state.clone());
                        observer.observe(*count, &[state]);
                    }
                })
                .build(),
            _reconnects: meter
                .u64_observable_counter("lattice.nats.reconnects")
                .with_description("Reconnects of the host's NATS connections")
                .with_callback(move |observer| {
                    for (name, client) in &connections {
                        let connects = client
                            .statistics()
                            .connects
                            .load(std::sync::atomic::Ordering::Relaxed);
                        let connection = opentelemetry::KeyValue::new("connection", *name);
                        observer.observe(connects.saturating_sub(1), &[connection]);
                    }
                })
                .build(),
            restarts: meter
                .u64_counter("lattice.provider.restarts")
                .with_description("Provider restarts")
                .build(),
            health_latency: meter
                .f64_histogram("lattice.health_check.duration")
                .with_unit("s")
                .with_description("Round trip of answered provider health checks")
                .build(),
            ctl_requests: meter
                .u64_counter("lattice.ctl.requests")
                .with_description("Control requests by operation and outcome")
                .build(),
            ctl_latency: meter
                .f64_histogram("lattice.ctl.request.duration")
                .with_unit("s")
                .with_description("Time to handle a control request, by operation")
                .build(),
            events: meter
                .u64_counter("lattice.events.published")
                .with_description("Lattice events published")
                .build(),
        }
    }
}

/// The last sample of providers by state (for the OpenTelemetry gauge).
type ProviderStates = Arc<std::sync::Mutex<Vec<(String, i64)>>>;

struct Inner {
    otel: Otel,
    provider_states: ProviderStates,
    registry: Registry,
    providers: Family<StateLabel, Gauge>,
    restarts: Counter,
    health_latency: Histogram,
    ctl_requests: Family<CtlLabels, Counter>,
    ctl_latency: Family<OpLabel, Histogram, fn() -> Histogram>,
    events: Family<EventLabel, Counter>,
    reconnects: Family<ConnectionLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(&[])
    }
}

impl Metrics {
    /// The metrics of a host whose NATS `connections` (by name) are watched for reconnects.
    pub(crate) fn new(connections: &[(&'static str, async_nats::Client)]) -> Self {
        let mut registry = Registry::with_prefix("lattice");
        let providers = Family::<StateLabel, Gauge>::default();
        registry.register(
            "providers",
            "Providers by supervision state",
            providers.clone(),
        );
        let restarts = Counter::default();
        registry.register("provider_restarts", "Provider restarts", restarts.clone());
        let health_latency = latency_histogram();
        registry.register(
            "health_check_duration_seconds",
            "Round trip of answered provider health checks",
            health_latency.clone(),
        );
        let ctl_requests = Family::<CtlLabels, Counter>::default();
        registry.register(
            "ctl_requests",
            "Control requests by operation and outcome",
            ctl_requests.clone(),
        );
        let ctl_latency = Family::<OpLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "ctl_request_duration_seconds",
            "Time to handle a control request, by operation",
            ctl_latency.clone(),
        );
        let events = Family::<EventLabel, Counter>::default();
        registry.register(
            "events_published",
            "Lattice events published",
            events.clone(),
        );
        let reconnects = Family::<ConnectionLabel, Gauge>::default();
        registry.register(
            "nats_reconnects",
            "Reconnects of the host's NATS connections",
            reconnects.clone(),
        );
        let provider_states = ProviderStates::default();
        Metrics(Arc::new(Inner {
            otel: Otel::new(connections, provider_states.clone()),
            provider_states,
            registry,
            providers,
            restarts,
            health_latency,
            ctl_requests,
            ctl_latency,
            events,
            reconnects,
        }))
    }

    /// Providers by state now, for the OpenTelemetry gauge (`/metrics` reads them at
    /// each scrape).
    pub(crate) fn sample_providers(&self, states: Vec<(String, i64)>) {
        *self.0.provider_states.lock().unwrap() = states;
    }

    /// A provider was restarted.
    pub(crate) fn provider_restarted(&self) {
        self.0.restarts.inc();
        self.0.otel.restarts.add(1, &[]);
    }

    /// A health check got an answer after `took`.
    pub(crate) fn health_answered(&self, took: Duration) {
        self.0.health_latency.observe(took.as_secs_f64());
        self.0.otel.health_latency.record(took.as_secs_f64(), &[]);
    }

    /// A control request `op` was handled in `took`; `ok` says how.
    pub(crate) fn ctl_request(&self, op: &str, ok: bool, took: Duration) {
        let outcome = if ok { "success" } else { "error" };
        self.0
            .ctl_requests
            .get_or_create(&CtlLabels {
                op: op.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.0
            .ctl_latency
            .get_or_create(&OpLabel { op: op.to_string() })
            .observe(took.as_secs_f64());
        let op = opentelemetry::KeyValue::new("op", op.to_string());
        let outcome = opentelemetry::KeyValue::new("outcome", outcome);
        self.0.otel.ctl_requests.add(1, &[op.clone(), outcome]);
        self.0.otel.ctl_latency.record(took.as_secs_f64(), &[op]);
    }

    /// Event `name` was published.
    pub(crate) fn event_published(&self, name: &str) {
        self.0
            .events
            .get_or_create(&EventLabel {
                event: name.to_string(),
            })
            .inc();
        let event = opentelemetry::KeyValue::new("event", name.to_string());
        self.0.otel.events.add(1, &[event]);
    }

    /// The OpenMetrics text, with the gauges read now: `providers` by state and the
    /// reconnect counts of `connections`.
    pub(crate) fn render(
        &self,
        providers: &[(&str, i64)],
        connections: &[(&str, &async_nats::Client)],
    ) -> String {
        self.0.providers.clear();
        for (state, count) in providers {
            self.0
                .providers
                .get_or_create(&StateLabel {
                    state: state.to_string(),
                })
                .set(*count);
        }
        for (name, client) in connections {
            let connects = client
                .statistics()
                .connects
                .load(std::sync::atomic::Ordering::Relaxed);
            self.0
                .reconnects
                .get_or_create(&ConnectionLabel {
                    connection: name.to_string(),
                })
                .set(connects.saturating_sub(1) as i64);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.0.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// How often providers by state are sampled for the OpenTelemetry gauge.
const PROVIDER_SAMPLE: Duration = Duration::from_secs(5);

/// Samples `providers` by state into `metrics` until `stop`.
pub(crate) async fn sample_providers(
    metrics: Metrics,
    providers: crate::providers::ProviderManager,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(PROVIDER_SAMPLE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => metrics.sample_providers(providers.states().await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_are_rendered() {
        let metrics = Metrics::default();
        metrics.provider_restarted();
        metrics.ctl_request("host.ping", true, Duration::from_millis(2));
        metrics.event_published("host_started");
        metrics.health_answered(Duration::from_millis(1));
        let text = metrics.render(&[("running", 2), ("crash_loop", 1)], &[]);
        for expected in [
            "lattice_provider_restarts_total 1",
            r#"lattice_ctl_requests_total{op="host.ping",outcome="success"} 1"#,
            r#"lattice_events_published_total{event="host_started"} 1"#,
            r#"lattice_providers{state="running"} 2"#,
            r#"lattice_providers{state="crash_loop"} 1"#,
            "lattice_health_check_duration_seconds_count 1",
            "# EOF",
        ] {
            assert!(text.contains(expected), "{expected} missing in:\n{text}");
        }
    }
}
