//! A capability provider built with the official `wasmcloud-provider-sdk` (0.17.1, as
//! pinned by wasmCloud v1.9.2), unmodified in how it talks to its host. Its shutdown
//! hook reports on `oracle.{provider_id}.shutdown_hook`; its link and config callbacks
//! report on `oracle.{provider_id}.seen`, so tests can see what the SDK delivered. It
//! sets up telemetry from HostData's `otel_config` with the SDK's macro, reports that
//! `otel_config` as the SDK decoded it on `oracle.{provider_id}.otel_config`, and counts
//! its start in a metric of its own, `oracle.provider.starts` (exported every
//! `OTEL_METRIC_EXPORT_INTERVAL`, 60 s by default). It serves `local:test/math@0.1.0`
//! `add` (`a + b + 2000`) over wRPC as official providers serve their exports
//! (wit-bindgen-wrpc bindings, the SDK's `serve_provider_exports`), in a span
//! `oracle_add` that continues the caller's trace (from the SDK's `Context`).

use wasmcloud_provider_sdk::{
    Context, LinkConfig, LinkDeleteInfo, Provider, ProviderConfigUpdate, ProviderInitConfig,
    get_connection, run_provider, serve_provider_exports,
};

mod bindings {
    wit_bindgen_wrpc::generate!({
        inline: "
            package local:test@0.1.0;
            interface math {
                add: func(a: u32, b: u32) -> u32;
            }
            world oracle {
                export math;
            }
        ",
        world: "oracle",
    });
}

#[derive(Clone)]
struct OracleProvider;

impl bindings::exports::local::test::math::Handler<Option<Context>> for OracleProvider {
    async fn add(&self, cx: Option<Context>, a: u32, b: u32) -> anyhow::Result<u32> {
        use tracing::Instrument as _;
        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
        // The span continues the caller's trace. Its parent is set before it is entered:
        // with the SDK's tracing stack (tracing-opentelemetry 0.32) a started span takes
        // no parent, so the SDK's own `propagate_trace_for_ctx!` inside an `#[instrument]`
        // handler leaves it a root span, silently.
        let span = tracing::info_span!("oracle_add", a, b);
        if let Some(cx) = &cx {
            let trace: Vec<(String, String)> = cx
                .tracing
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let parent =
                wasmcloud_provider_sdk::wasmcloud_tracing::context::get_span_context(&trace);
            let _ = span.set_parent(parent);
        }
        async move {
            tracing::info!("adding");
            Ok(a.wrapping_add(b).wrapping_add(2000))
        }
        .instrument(span)
        .await
    }
}

async fn report(seen: serde_json::Value) -> anyhow::Result<()> {
    let connection = get_connection();
    let subject = format!("oracle.{}.seen", connection.provider_id);
    connection
        .nats
        .publish(subject, serde_json::to_vec(&seen)?.into())
        .await?;
    Ok(())
}

impl Provider for OracleProvider {
    async fn init(&self, config: impl ProviderInitConfig) -> anyhow::Result<()> {
        // The provider's own secrets (HostData.secrets), as the SDK hands them over.
        let subject = format!("oracle.{}.init_secrets", config.get_provider_id());
        let secrets = serde_json::to_vec(config.get_secrets())?;
        // And the `otel_config` of its HostData, as the SDK decoded it.
        let otel_subject = format!("oracle.{}.otel_config", config.get_provider_id());
        let host_data = wasmcloud_provider_sdk::provider::load_host_data()?;
        let otel = serde_json::to_vec(&host_data.otel_config)?;
        // The SDK 0.17 connects only once init returns: report from a task, after that.
        tokio::spawn(async move {
            for _ in 0..50 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                if let Ok(connection) = std::panic::catch_unwind(get_connection) {
                    let _ = connection.nats.publish(subject, secrets.into()).await;
                    let _ = connection.nats.publish(otel_subject, otel.into()).await;
                    return;
                }
            }
        });
        Ok(())
    }

    async fn receive_link_config_as_target(&self, link: LinkConfig<'_>) -> anyhow::Result<()> {
        report(serde_json::json!({"kind": "link_put", "role": "target", "source_id": link.source_id, "config": link.config, "secrets": link.secrets})).await
    }

    async fn receive_link_config_as_source(&self, link: LinkConfig<'_>) -> anyhow::Result<()> {
        report(serde_json::json!({"kind": "link_put", "role": "source", "target": link.target_id, "config": link.config, "secrets": link.secrets})).await
    }

    async fn delete_link_as_target(&self, info: impl LinkDeleteInfo) -> anyhow::Result<()> {
        report(serde_json::json!({"kind": "link_del", "role": "target", "source_id": info.get_source_id()})).await
    }

    async fn delete_link_as_source(&self, info: impl LinkDeleteInfo) -> anyhow::Result<()> {
        report(serde_json::json!({"kind": "link_del", "role": "source", "target": info.get_target_id()})).await
    }

    async fn on_config_update(&self, update: impl ProviderConfigUpdate) -> anyhow::Result<()> {
        report(serde_json::json!({"kind": "config", "config": update.get_values()})).await
    }

    async fn shutdown(&self) -> anyhow::Result<()> {
        let connection = get_connection();
        let subject = format!("oracle.{}.shutdown_hook", connection.provider_id);
        connection.nats.publish(subject, "ran".into()).await?;
        connection.nats.flush().await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // As the official providers do: telemetry as HostData's `otel_config` asks.
    wasmcloud_provider_sdk::initialize_observability!(
        "oracle-provider",
        None::<std::path::PathBuf>
    );
    tracing::info!("oracle provider starting");
    opentelemetry::global::meter("oracle-provider")
        .u64_counter("oracle.provider.starts")
        .build()
        .add(1, &[]);
    let shutdown = run_provider(OracleProvider, "oracle-provider").await?;
    let connection = get_connection();
    let wrpc = connection
        .get_wrpc_client(connection.provider_key())
        .await?;
    serve_provider_exports(&wrpc, OracleProvider, shutdown, bindings::serve).await
}
