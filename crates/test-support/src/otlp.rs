//! A local OTLP receiver, over HTTP (protobuf, what `--observability-protocol http`
//! sends) and gRPC (`--observability-protocol grpc`) on one port: it keeps the spans,
//! metric names and log records it is sent, by service.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use tokio::sync::Notify;

/// One span, with its IDs in hex.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    /// `service.name` of the sender.
    pub service: String,
    /// The span's name.
    pub name: String,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// 16 hex digits, empty for a root span.
    pub parent_span_id: String,
}

/// One log record.
#[derive(Clone, Debug)]
pub struct ReceivedLog {
    /// `service.name` of the sender.
    pub service: String,
    /// `INFO`, `WARN`, …
    pub severity: String,
    /// The message.
    pub body: String,
}

/// Everything received so far.
#[derive(Clone, Debug, Default)]
pub struct Received {
    /// Spans.
    pub spans: Vec<ReceivedSpan>,
    /// `(service, metric name)`.
    pub metrics: Vec<(String, String)>,
    /// Log records.
    pub logs: Vec<ReceivedLog>,
}

/// Serves `/v1/traces`, `/v1/metrics`, `/v1/logs` and the three gRPC `Export` methods
/// on a free loopback port until dropped.
pub struct OtlpReceiver {
    endpoint: String,
    received: Arc<Mutex<Received>>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    /// Listens on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let received = Arc::new(Mutex::new(Received::default()));
        let arrived = Arc::new(Notify::new());
        let (store, notify) = (received.clone(), arrived.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (store, notify) = (store.clone(), notify.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let (store, notify) = (store.clone(), notify.clone());
                            async move {
                                let answer = answer(&store, request).await;
                                notify.notify_waiters();
                                answer
                            }
                        },
                    );
                    // HTTP/1.1 for OTLP/HTTP, HTTP/2 (prior knowledge) for OTLP/gRPC.
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    let _ = builder.serve_connection(io, service).await;
                });
            }
        });
        Ok(OtlpReceiver {
            endpoint,
            received,
            arrived,
            task,
        })
    }

    /// `http://127.0.0.1:{port}`: the endpoint for all signals.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What was received so far.
    pub fn received(&self) -> Received {
        self.received.lock().unwrap().clone()
    }

    /// Waits up to `within` until `pick` finds something in what was received.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        within: Duration,
        pick: impl Fn(&Received) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.arrived.notified();
            if let Some(found) = pick(&self.received.lock().unwrap()) {
                return Ok(found);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                anyhow::bail!(
                    "no {what} within {within:?}; received: {:#?}",
                    self.received()
                );
            }
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type AnswerBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// Stores one export, OTLP/HTTP or OTLP/gRPC, and answers it in kind.
async fn answer(
    store: &Mutex<Received>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<AnswerBody>, std::io::Error> {
    let path = request.uri().path().to_string();
    let grpc = path.ends_with("/Export");
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) => return Err(std::io::Error::other(error.to_string())),
    };
    let stored = match grpc {
        // A gRPC message: a compression flag, a 4-byte length, the protobuf.
        true => match body.get(5..) {
            Some(message) => store_export(store, &path, message),
            None => Err(anyhow::anyhow!("a gRPC message shorter than its prefix")),
        },
        false => store_export(store, &path, &body),
    };
    let response = match (grpc, stored) {
        (false, stored) => hyper::Response::builder()
            .status(if stored.is_ok() { 200 } else { 400 })
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::new()).boxed()),
        (true, stored) => {
            let mut trailers = hyper::HeaderMap::new();
            let status = if stored.is_ok() { "0" } else { "3" };
            trailers.insert(
                "grpc-status",
                hyper::header::HeaderValue::from_static(status),
            );
            let frames = futures::stream::iter([
                Ok(hyper::body::Frame::data(Bytes::from_static(&[
                    0, 0, 0, 0, 0,
                ]))),
                Ok(hyper::body::Frame::trailers(trailers)),
            ]);
            hyper::Response::builder()
                .status(200)
                .header("content-type", "application/grpc")
                .body(http_body_util::StreamBody::new(frames).boxed())
        }
    };
    response.map_err(|e| std::io::Error::other(e.to_string()))
}

fn store_export(store: &Mutex<Received>, path: &str, body: &[u8]) -> anyhow::Result<()> {
    let mut received = store.lock().unwrap();
    let signal = match path {
        "/v1/traces" | "/opentelemetry.proto.collector.trace.v1.TraceService/Export" => "traces",
        "/v1/metrics" | "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export" => {
            "metrics"
        }
        "/v1/logs" | "/opentelemetry.proto.collector.logs.v1.LogsService/Export" => "logs",
        other => anyhow::bail!("not an OTLP path: {other}"),
    };
    match signal {
        "traces" => {
            let request = ExportTraceServiceRequest::decode(body)?;
            for resource in request.resource_spans {
                let service = service_of(resource.resource.as_ref());
                for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                    received.spans.push(ReceivedSpan {
                        service: service.clone(),
                        name: span.name,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                    });
                }
            }
        }
        "metrics" => {
            let request = ExportMetricsServiceRequest::decode(body)?;
            for resource in request.resource_metrics {
                let service = service_of(resource.resource.as_ref());
                for metric in resource.scope_metrics.into_iter().flat_map(|s| s.metrics) {
                    received.metrics.push((service.clone(), metric.name));
                }
            }
        }
        _ => {
            let request = ExportLogsServiceRequest::decode(body)?;
            for resource in request.resource_logs {
                let service = service_of(resource.resource.as_ref());
                for record in resource.scope_logs.into_iter().flat_map(|s| s.log_records) {
                    received.logs.push(ReceivedLog {
                        service: service.clone(),
                        severity: record.severity_text,
                        body: record.body.as_ref().map(text).unwrap_or_default(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn service_of(resource: Option<&Resource>) -> String {
    resource
        .into_iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .map(text)
        .unwrap_or_default()
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
