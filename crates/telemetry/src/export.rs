//! OTLP export of a process's own traces, metrics and logs, set up from an
//! [`OtelConfig`] as wasmCloud 1.9.2 sets it up: batch exporters on the tokio runtime,
//! HTTP (protobuf) or gRPC, the extra CAs of `--tls-ca-path` trusted by both (1.9.2
//! trusts them for HTTP only), `OTEL_RESOURCE_ATTRIBUTES` and the SDK's `OTEL_*`
//! batch and interval variables honoured.

use std::path::{Path, PathBuf};

use lattice_proto::host_data::{OtelConfig, OtelProtocol};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{Signal, enabled, endpoint};

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A `--tls-ca-path` file that cannot be read or is not PEM.
    #[error("cannot read the CA file {path} for OpenTelemetry export: {reason}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An exporter the OpenTelemetry crates refused (an endpoint that is not a URL).
    #[error("cannot set up the OTLP {signal} exporter to {endpoint}: {reason}")]
    Exporter {
        /// `traces`, `metrics` or `logs`.
        signal: &'static str,
        /// Where it was to send.
        endpoint: String,
        /// The refusal.
        reason: String,
    },
}

/// The exporters that are on. Shut it down before the process exits, so that what is
/// batched is sent.
#[derive(Default)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
    logger: Option<SdkLoggerProvider>,
}

/// A layer of the process's tracing subscriber.
pub type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

impl Telemetry {
    /// Starts the exporters `config` enables, as `service`; the meter provider becomes
    /// the global one (instruments made by `opentelemetry::global::meter` export).
    /// Must be called within a tokio runtime.
    pub fn start(service: &str, config: &OtelConfig) -> Result<Self, TelemetryError> {
        let mut telemetry = Telemetry::default();
        if !Signal::ALL.iter().any(|s| enabled(config, *s)) {
            return Ok(telemetry);
        }
        let resource = Resource::builder()
            .with_service_name(service.to_string())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        let clients = Clients::new(config)?;
        if enabled(config, Signal::Traces) {
            let exporter = clients.spans(config)?;
            let processor =
                opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                    exporter, Tokio,
                )
                .build();
            telemetry.tracer = Some(
                SdkTracerProvider::builder()
                    .with_resource(resource.clone())
                    .with_span_processor(processor)
                    .build(),
            );
        }
        if enabled(config, Signal::Metrics) {
            let exporter = clients.metrics(config)?;
            let reader = opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader::builder(
                exporter, Tokio,
            )
            .build();
            let meter = SdkMeterProvider::builder()
                .with_resource(resource.clone())
                .with_reader(reader)
                .build();
            opentelemetry::global::set_meter_provider(meter.clone());
            telemetry.meter = Some(meter);
        }
        if enabled(config, Signal::Logs) {
            let exporter = clients.logs(config)?;
            let processor =
                opentelemetry_sdk::logs::log_processor_with_async_runtime::BatchLogProcessor::builder(
                    exporter, Tokio,
                )
                .build();
            telemetry.logger = Some(
                SdkLoggerProvider::builder()
                    .with_resource(resource)
                    .with_log_processor(processor)
                    .build(),
            );
        }
        Ok(telemetry)
    }

    /// The layer that sends spans at `trace_level` and above as traces, and events at
    /// `log_level` and above as logs (`None` when neither is on). The exporters' own
    /// HTTP and gRPC stacks are left out, so exporting never feeds itself.
    pub fn layer<S>(
        &self,
        trace_level: tracing::Level,
        log_level: tracing::Level,
    ) -> Option<BoxedLayer<S>>
    where
        S: tracing::Subscriber + Send + Sync + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        let traces = self.tracer.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("lattice"))
                .with_filter(quiet(trace_level))
        });
        let logs = self.logger.as_ref().map(|provider| {
            opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(provider)
                .with_filter(quiet(log_level))
        });
        match (traces, logs) {
            (None, None) => None,
            (traces, logs) => Some(Box::new(Layer::and_then(traces, logs))),
        }
    }

    /// Whether any signal is exported.
    pub fn is_on(&self) -> bool {
        self.tracer.is_some() || self.meter.is_some() || self.logger.is_some()
    }

    /// Sends what is batched and stops the exporters.
    pub async fn shutdown(self) {
        // The providers block until their runtime tasks have flushed.
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(tracer) = self.tracer {
                let _ = tracer.shutdown();
            }
            if let Some(meter) = self.meter {
                let _ = meter.shutdown();
            }
            if let Some(logger) = self.logger {
                let _ = logger.shutdown();
            }
        })
        .await;
    }
}

/// One OTLP exporter of `$kind` for `$signal`, over the configured protocol, with the
/// shared HTTP client or gRPC TLS settings of `$clients`.
macro_rules! build {
    ($clients:expr, $config:expr, $signal:expr, $kind:ident) => {{
        let url = endpoint($config, $signal);
        let built = match $config.protocol {
            OtelProtocol::Http => opentelemetry_otlp::$kind::builder()
                .with_http()
                .with_http_client($clients.http.clone())
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(&url)
                .build(),
            OtelProtocol::Grpc => opentelemetry_otlp::$kind::builder()
                .with_tonic()
                .with_tls_config($clients.grpc_tls.clone())
                .with_endpoint(&url)
                .build(),
        };
        built.map_err(|e| exporter_error($signal, url, e))
    }};
}

/// The HTTP client and gRPC TLS settings every exporter shares.
struct Clients {
    http: reqwest::Client,
    grpc_tls: tonic::transport::ClientTlsConfig,
}

impl Clients {
    fn new(config: &OtelConfig) -> Result<Self, TelemetryError> {
        let mut http = reqwest::Client::builder();
        let mut grpc_tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
        for path in &config.additional_ca_paths {
            let pem = read_ca(path)?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TelemetryError::Ca {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
            grpc_tls = grpc_tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
        }
        let http = http
            .user_agent(concat!("lattice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TelemetryError::Exporter {
                signal: "http",
                endpoint: String::new(),
                reason: e.to_string(),
            })?;
        Ok(Clients { http, grpc_tls })
    }

    fn spans(
        &self,
        config: &OtelConfig,
    ) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
        build!(self, config, Signal::Traces, SpanExporter)
    }

    fn metrics(
        &self,
        config: &OtelConfig,
    ) -> Result<opentelemetry_otlp::MetricExporter, TelemetryError> {
        build!(self, config, Signal::Metrics, MetricExporter)
    }

    fn logs(&self, config: &OtelConfig) -> Result<opentelemetry_otlp::LogExporter, TelemetryError> {
        build!(self, config, Signal::Logs, LogExporter)
    }
}

/// `level` and above, without the crates that carry the exports themselves.
fn quiet(level: tracing::Level) -> EnvFilter {
    const EXPORT_STACK: &[&str] = &[
        "h2",
        "hyper",
        "hyper_util",
        "reqwest",
        "tonic",
        "tower",
        "rustls",
        "opentelemetry",
        "opentelemetry_sdk",
        "opentelemetry_otlp",
        "opentelemetry_http",
    ];
    let mut directives = level.as_str().to_ascii_lowercase();
    for target in EXPORT_STACK {
        directives.push_str(&format!(",{target}=off"));
    }
    EnvFilter::new(directives)
}

fn read_ca(path: &Path) -> Result<Vec<u8>, TelemetryError> {
    std::fs::read(path).map_err(|e| TelemetryError::Ca {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn exporter_error(
    signal: Signal,
    endpoint: String,
    error: opentelemetry_otlp::ExporterBuildError,
) -> TelemetryError {
    TelemetryError::Exporter {
        signal: signal.name(),
        endpoint,
        reason: error.to_string(),
    }
}
