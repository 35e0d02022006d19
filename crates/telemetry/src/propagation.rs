//! W3C trace context (`traceparent`, `tracestate`) in NATS headers, as the official
//! control client, host and provider SDK carry it: a request and its handling on the
//! other side of NATS are one trace.
//!
//! Without an OpenTelemetry layer installed (observability off), spans carry no trace
//! context: nothing is added to headers, and extracted contexts go nowhere.

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

struct Inject<'a>(&'a mut HeaderMap);

impl Injector for Inject<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct Extract<'a>(&'a HeaderMap);

impl Extractor for Extract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// Adds the trace context of `span` to `headers` (nothing when it has none).
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    let context = span.context();
    TraceContextPropagator::new().inject_context(&context, &mut Inject(headers));
}

/// The current span's trace context as headers, or `None` when there is none (so a
/// plain publish stays a plain publish).
pub fn current_headers() -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    inject(&tracing::Span::current(), &mut headers);
    (headers.iter().next().is_some()).then_some(headers)
}

/// Makes `span` a child of the trace context carried by `headers`, if they carry one.
pub fn set_parent(span: &tracing::Span, headers: Option<&HeaderMap>) {
    let Some(headers) = headers else { return };
    if headers.get("traceparent").is_none() {
        return;
    }
    let context = TraceContextPropagator::new().extract(&Extract(headers));
    let _ = span.set_parent(context);
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn a_span_and_its_remote_child_share_a_trace() {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let sender = tracing::info_span!("request");
            let headers = sender.in_scope(current_headers).expect("a trace context");
            let traceparent = headers.get("traceparent").unwrap().as_str().to_string();
            assert!(traceparent.starts_with("00-"), "{traceparent}");

            let receiver = tracing::info_span!("handle");
            set_parent(&receiver, Some(&headers));
            let sent = sender.context().span().span_context().trace_id();
            let got = receiver.context().span().span_context().trace_id();
            assert_eq!(sent, got);
        });
    }

    #[test]
    fn without_a_layer_nothing_is_added() {
        let span = tracing::info_span!("plain");
        assert!(span.in_scope(current_headers).is_none());
        set_parent(&span, Some(&HeaderMap::new()));
    }
}
