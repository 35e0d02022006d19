//! OpenTelemetry against wasmCloud 1.9.2's own code: a provider built with the official
//! SDK (its `initialize_observability!`) reads the `otel_config` a lattice host put in
//! its HostData and exports its traces, logs and metrics to the endpoint there, beside
//! the host's own; a call made in a trace runs through the host's `invocation` span of
//! a component into the provider's span. (How `lattice up` turns flags and variables
//! into that export is tested in `crates/cli/tests/cli/observability.rs`.)

use std::time::Duration;

use futures::StreamExt as _;
use lattice_proto::OtelConfig;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::otlp::OtlpReceiver;
use lattice_test_support::{TestNats, ctl_request};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt as _;

const OFFICIAL_PROVIDER: &str = env!("CARGO_BIN_EXE_official-sdk-provider");

#[tokio::test]
async fn a_provider_of_the_official_sdk_exports_where_its_host_data_says() -> anyhow::Result<()> {
    let receiver = OtlpReceiver::start().await?;
    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    // Every field the host sets (the sampler and batch fields it never sets).
    let otel = OtelConfig {
        enable_observability: true,
        enable_traces: Some(true),
        enable_metrics: Some(true),
        enable_logs: Some(true),
        observability_endpoint: Some(receiver.endpoint().to_string()),
        traces_endpoint: Some(format!("{}/v1/traces", receiver.endpoint())),
        metrics_endpoint: Some(format!("{}/v1/metrics", receiver.endpoint())),
        logs_endpoint: Some(format!("{}/v1/logs", receiver.endpoint())),
        protocol: lattice_proto::OtelProtocol::Http,
        additional_ca_paths: Vec::new(),
        trace_level: lattice_proto::Level::Debug,
        ..Default::default()
    };
    // The host exports as `lattice up` sets it up: the same exporters and layer, with the
    // subscriber scoped to this test's thread (the current-thread runtime polls every
    // task of the host here).
    let telemetry = lattice_telemetry::Telemetry::start("wasmcloud-host", &otel)?;
    let _scoped = tracing::subscriber::set_default(
        tracing_subscriber::registry()
            .with(telemetry.layer(tracing::Level::DEBUG, tracing::Level::INFO)),
    );
    let sent = otel.clone();
    let host = nats
        .start_host(move |c| {
            c.allow_file_load = true;
            c.otel = sent;
        })
        .await?;
    let mut decoded = client.subscribe("oracle.official.otel_config").await?;
    client.flush().await?;
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    // Its metrics every half second instead of every minute: the SDK's reader takes the
    // standard variable (the host passes `OTEL_*` on; a wrapper sets it here).
    let dir = tempfile::tempdir()?;
    let wrapper = dir.path().join("official.sh");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nOTEL_METRIC_EXPORT_INTERVAL=500 exec '{OFFICIAL_PROVIDER}'\n"),
    )?;
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let start =
        json!({"provider_id": "official", "provider_ref": format!("file://{}", wrapper.display())});
    let reply = ctl_request(&client, subjects.provider_start(host.id()), start).await;
    anyhow::ensure!(reply.success, "{}", reply.message);
    let decoded = tokio::time::timeout(Duration::from_secs(15), decoded.next())
        .await?
        .expect("the provider reports its otel_config");
    let decoded: wasmcloud_core::OtelConfig = serde_json::from_slice(&decoded.payload)?;
    assert!(decoded.enable_observability);
    assert_eq!(
        (
            decoded.enable_traces,
            decoded.enable_metrics,
            decoded.enable_logs
        ),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!(decoded.observability_endpoint, otel.observability_endpoint);
    assert_eq!(decoded.traces_endpoint, otel.traces_endpoint);
    assert_eq!(decoded.metrics_endpoint, otel.metrics_endpoint);
    assert_eq!(decoded.logs_endpoint, otel.logs_endpoint);
    assert_eq!(decoded.protocol, wasmcloud_core::OtelProtocol::Http);
    assert!(decoded.additional_ca_paths.is_empty());
    assert!(matches!(
        decoded.trace_level,
        wasmcloud_core::logging::Level::Debug
    ));
    let log = receiver
        .wait_for(
            "a log record of the official provider",
            Duration::from_secs(30),
            |r| {
                r.logs
                    .iter()
                    .find(|l| {
                        l.service == "oracle-provider"
                            && l.body.contains("oracle provider starting")
                    })
                    .cloned()
            },
        )
        .await?;
    assert_eq!(log.severity, "INFO", "{log:?}");
    // And its spans (the SDK's own `init_provider`).
    receiver
        .wait_for(
            "a span of the official provider",
            Duration::from_secs(30),
            |r| {
                r.spans
                    .iter()
                    .find(|s| s.service == "oracle-provider" && s.name == "init_provider")
                    .cloned()
            },
        )
        .await?;
    // A trace followed into it: the component `calc` calls the provider's `add` through
    // a link, and a call of `calc` made in a trace runs on into the provider's span.
    let events = lattice_test_support::EventWatcher::new(&client, "default").await?;
    let calc = dir.path().join("calc.wasm");
    std::fs::write(
        &calc,
        wat::parse_str(lattice_test_support::components::CALC)?,
    )?;
    let scale = json!({"component_id": "calc", "component_ref": format!("file://{}", calc.display()),
        "count": 2});
    let reply = ctl_request(&client, subjects.component_scale(host.id()), scale).await;
    anyhow::ensure!(reply.success, "{}", reply.message);
    events
        .next_matching_within(
            "component_scaled",
            lattice_test_support::COMPILE_WAIT,
            |e| e.data["component_id"] == "calc",
        )
        .await?;
    let link = json!({"source_id": "calc", "target": "official", "wit_namespace": "local",
        "wit_package": "test", "interfaces": ["math"]});
    let reply = ctl_request(&client, subjects.link_put(), link).await;
    anyhow::ensure!(reply.success, "{}", reply.message);
    let trace_id = format!(
        "{:032x}",
        0x1a7e_u128 << 64 | u128::from(std::process::id())
    );
    let headers = lattice_wrpc::InvocationHeaders::new()
        .with_traceparent(&format!("00-{trace_id}-00f067aa0ba902b7-01"));
    let wrpc = lattice_wrpc::WrpcClient::new(client.clone()).await?;
    let doubled = lattice_test_support::components::double_21_via_calc(&wrpc, &headers).await;
    anyhow::ensure!(
        doubled == Ok(2042),
        "21 + 21 by the provider (+2000): {doubled:?}"
    );
    // One trace: the caller's span, the host's `invocation` of `calc` under it, and the
    // official provider's `add` under a span of the host.
    let (invocation, add) = receiver
        .wait_for(
            "the host's and the provider's spans in the caller's trace",
            Duration::from_secs(30),
            |r| {
                let invocation = r.spans.iter().find(|s| {
                    s.service == "wasmcloud-host"
                        && s.name == "invocation"
                        && s.trace_id == trace_id
                })?;
                let add = r.spans.iter().find(|s| {
                    s.service == "oracle-provider"
                        && s.name == "oracle_add"
                        && s.trace_id == trace_id
                })?;
                Some((invocation.clone(), add.clone()))
            },
        )
        .await?;
    assert_eq!(
        invocation.parent_span_id, "00f067aa0ba902b7",
        "{invocation:?}"
    );
    let received = receiver.received();
    let parent = received
        .spans
        .iter()
        .find(|s| s.span_id == add.parent_span_id)
        .unwrap_or_else(|| panic!("the parent of {add:?} among {:?}", received.spans));
    assert_eq!(
        (parent.service.as_str(), parent.trace_id.as_str()),
        ("wasmcloud-host", trace_id.as_str()),
        "{parent:?}"
    );
    // And its metrics.
    receiver
        .wait_for(
            "a metric of the official provider",
            Duration::from_secs(30),
            |r| {
                r.metrics
                    .iter()
                    .find(|(service, name)| {
                        service == "oracle-provider" && name == "oracle.provider.starts"
                    })
                    .cloned()
            },
        )
        .await?;
    host.shutdown(Duration::from_secs(5)).await;
    // The host's metrics and logs (its metrics go out at the latest when it flushes).
    telemetry.shutdown().await;
    receiver
        .wait_for(
            "a metric and a log record of the host",
            Duration::from_secs(30),
            |r| {
                let metric = r.metrics.iter().any(|(service, name)| {
                    service == "wasmcloud-host" && name == "lattice.ctl.requests"
                });
                let log = r
                    .logs
                    .iter()
                    .any(|l| l.service == "wasmcloud-host" && l.severity == "INFO");
                (metric && log).then_some(())
            },
        )
        .await?;
    Ok(())
}
