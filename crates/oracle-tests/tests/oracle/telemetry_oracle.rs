//! OpenTelemetry against wasmCloud 1.9.2's own code: a provider built with the official
//! SDK (its `initialize_observability!`) reads the `otel_config` a lattice host put in
//! its HostData and exports its telemetry to the endpoint there. (The host's own export
//! and the trace that runs through a component are `lattice up` tests, in
//! `crates/cli/tests/cli/observability.rs`.)

use std::time::Duration;

use lattice_proto::OtelConfig;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::otlp::OtlpReceiver;
use lattice_test_support::{TestNats, ctl_request};
use serde_json::json;

const OFFICIAL_PROVIDER: &str = env!("CARGO_BIN_EXE_official-sdk-provider");

#[tokio::test]
async fn a_provider_of_the_official_sdk_exports_where_its_host_data_says() -> anyhow::Result<()> {
    let receiver = OtlpReceiver::start().await?;
    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let host = nats
        .start_host(|c| {
            c.allow_file_load = true;
            c.otel = OtelConfig {
                enable_observability: true,
                observability_endpoint: Some(receiver.endpoint().to_string()),
                ..Default::default()
            };
        })
        .await?;
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let start =
        json!({"provider_id": "official", "provider_ref": format!("file://{OFFICIAL_PROVIDER}")});
    let reply = ctl_request(&client, subjects.provider_start(host.id()), start).await;
    anyhow::ensure!(reply.success, "{}", reply.message);
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
    host.shutdown(Duration::from_secs(5)).await;
    Ok(())
}
