//! What an [`OtelConfig`] asks for, resolved as wasmCloud 1.9.2 resolves it: which
//! signals are on and where each is sent.

use lattice_proto::host_data::{OtelConfig, OtelProtocol};

/// One kind of telemetry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Counters, histograms.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// Every signal.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The OTLP/HTTP path of the signal.
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }

    /// `traces`, `metrics` or `logs`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

/// Whether `signal` is exported: its own switch, else the master switch.
pub fn enabled(config: &OtelConfig, signal: Signal) -> bool {
    let own = match signal {
        Signal::Traces => config.enable_traces,
        Signal::Metrics => config.enable_metrics,
        Signal::Logs => config.enable_logs,
    };
    own.unwrap_or(config.enable_observability)
}

/// Where `signal` is sent:
/// 1. its own endpoint, as given;
/// 2. else the endpoint for all signals: for HTTP with the signal's path added when it
///    has none, for gRPC with any path removed;
/// 3. else the local collector's default (`http://127.0.0.1:4318/v1/{signal}`, or
///    `http://127.0.0.1:4317` for gRPC).
pub fn endpoint(config: &OtelConfig, signal: Signal) -> String {
    let own = match signal {
        Signal::Traces => &config.traces_endpoint,
        Signal::Metrics => &config.metrics_endpoint,
        Signal::Logs => &config.logs_endpoint,
    };
    if let Some(endpoint) = own {
        return endpoint.clone();
    }
    let Some(shared) = &config.observability_endpoint else {
        return match config.protocol {
            OtelProtocol::Grpc => "http://127.0.0.1:4317".to_string(),
            OtelProtocol::Http => format!("http://127.0.0.1:4318{}", signal.http_path()),
        };
    };
    let Ok(mut url) = url::Url::parse(shared) else {
        return shared.clone(); // passed on for the exporter to refuse, naming it
    };
    match config.protocol {
        OtelProtocol::Grpc => {
            if let Ok(mut path) = url.path_segments_mut() {
                path.clear();
            }
            url.as_str().trim_end_matches('/').to_string()
        }
        OtelProtocol::Http if url.path() == "/" => {
            format!(
                "{}{}",
                url.as_str().trim_end_matches('/'),
                signal.http_path()
            )
        }
        OtelProtocol::Http => shared.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(protocol: OtelProtocol) -> OtelConfig {
        OtelConfig {
            protocol,
            ..Default::default()
        }
    }

    #[test]
    fn without_endpoints_the_local_collector_is_used() {
        let grpc = config(OtelProtocol::Grpc);
        let http = config(OtelProtocol::Http);
        for signal in Signal::ALL {
            assert_eq!(endpoint(&grpc, signal), "http://127.0.0.1:4317");
        }
        assert_eq!(
            endpoint(&http, Signal::Metrics),
            "http://127.0.0.1:4318/v1/metrics"
        );
    }

    #[test]
    fn a_shared_endpoint_gets_the_signal_path_or_loses_its_path() {
        let mut grpc = config(OtelProtocol::Grpc);
        grpc.observability_endpoint = Some("https://example.com:4318/path/does/not/exist".into());
        assert_eq!(endpoint(&grpc, Signal::Logs), "https://example.com:4318");
        let mut http = config(OtelProtocol::Http);
        http.observability_endpoint = Some("https://example.com:4318/".into());
        assert_eq!(
            endpoint(&http, Signal::Traces),
            "https://example.com:4318/v1/traces"
        );
        http.observability_endpoint = Some("https://example.com:4318/custom".into());
        assert_eq!(
            endpoint(&http, Signal::Traces),
            "https://example.com:4318/custom",
            "a path that is there is kept"
        );
    }

    #[test]
    fn a_signal_endpoint_is_used_as_given() {
        let mut grpc = config(OtelProtocol::Grpc);
        grpc.observability_endpoint = Some("http://shared:4317".into());
        grpc.traces_endpoint = Some("https://example.com:4318/path/does/not/exist".into());
        assert_eq!(
            endpoint(&grpc, Signal::Traces),
            "https://example.com:4318/path/does/not/exist"
        );
        assert_eq!(endpoint(&grpc, Signal::Metrics), "http://shared:4317");
    }

    #[test]
    fn signal_switches_fall_back_to_the_master_switch() {
        let mut c = OtelConfig {
            enable_observability: true,
            ..Default::default()
        };
        assert!(Signal::ALL.iter().all(|s| enabled(&c, *s)));
        c.enable_logs = Some(false);
        assert!(!enabled(&c, Signal::Logs));
        c.enable_observability = false;
        c.enable_traces = Some(true);
        assert!(enabled(&c, Signal::Traces) && !enabled(&c, Signal::Metrics));
    }
}
