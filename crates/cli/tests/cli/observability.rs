//! OpenTelemetry end to end: `lattice up --enable-observability` with a local OTLP/HTTP
//! receiver as the endpoint. The host exports its own spans, metrics and logs there; a
//! control request that carries a W3C trace context is handled in that trace; a call
//! into a component continues the caller's trace, and so does the component's call on
//! to a provider (one trace from caller to provider); and a provider finds the settings
//! in its HostData's `otel_config`, as 1.9.2 fills it.

use std::time::Duration;

use futures::StreamExt as _;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::{CALC, write_component};
use lattice_test_support::otlp::OtlpReceiver;
use lattice_test_support::{EventWatcher, TestNats, WAIT, ctl_request, workspace_bin};
use lattice_wrpc::{InvocationHeaders, WrpcClient};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::common::{LATTICE, host_id_of, spawn_until_up};

/// Exports arrive within a few seconds with the short batch delays the test sets.
const EXPORTED: Duration = Duration::from_secs(20);

#[tokio::test]
async fn the_host_exports_its_telemetry_and_continues_a_callers_trace() {
    let receiver = OtlpReceiver::start().await.unwrap();
    let nats = TestNats::start().await.unwrap();
    let (child, up_line) = up_exporting(
        &nats,
        &[
            "--allow-file-load",
            "--enable-observability",
            "--trace-level",
            "debug",
            "--override-observability-endpoint",
            receiver.endpoint(),
        ],
    )
    .await;
    let host_id = host_id_of(&up_line);
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");

    // A provider start sent in a trace of the caller's.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "traceparent",
        format!("00-{trace_id}-{caller_span}-01").as_str(),
    );
    let provider = workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap();
    let body = json!({"provider_id": "observed", "provider_ref": format!("file://{}", provider.display())});
    let reply = tokio::time::timeout(
        WAIT,
        client.request_with_headers(
            subjects.provider_start(&host_id),
            headers,
            serde_json::to_vec(&body).unwrap().into(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["success"], true, "{reply}");
    events
        .next_matching("health_check_passed", |e| {
            e.data["provider_id"] == "observed"
        })
        .await
        .unwrap();

    // The provider got the settings, field by field.
    let dump = client
        .request("lattice.test.observed.dump", "".into())
        .await
        .unwrap();
    let dump: Value = serde_json::from_slice(&dump.payload).unwrap();
    assert_eq!(
        dump["host_data"]["otel_config"],
        json!({"enable_observability": true, "observability_endpoint": receiver.endpoint(),
               "protocol": "Http", "additional_ca_paths": [], "trace_level": "debug"}),
    );

    // The host's span for the request continues the caller's trace.
    let span = receiver
        .wait_for("a span of the caller's trace", EXPORTED, |r| {
            r.spans
                .iter()
                .find(|s| s.trace_id == trace_id && s.parent_span_id == caller_span)
                .cloned()
        })
        .await
        .unwrap();
    assert_eq!(span.service, "wasmcloud-host");
    assert_eq!(span.name, "ctl_request", "{span:?}");

    // Metrics and logs arrive from the host too.
    receiver
        .wait_for(
            "the control request, reconnect and provider metrics",
            EXPORTED,
            |r| {
                let has = |metric: &str| {
                    r.metrics
                        .iter()
                        .any(|(service, name)| service == "wasmcloud-host" && name == metric)
                };
                let all = [
                    "lattice.ctl.requests",
                    "lattice.nats.reconnects",
                    "lattice.providers",
                ];
                all.iter().all(|m| has(m)).then_some(())
            },
        )
        .await
        .unwrap();
    let log = receiver
        .wait_for("a host log record", EXPORTED, |r| {
            r.logs
                .iter()
                .find(|l| l.service == "wasmcloud-host" && l.body.contains("provider running"))
                .cloned()
        })
        .await
        .unwrap();
    assert_eq!(log.severity, "INFO", "{log:?}");

    // A client command's request and the host's handling of it are one trace.
    let out = Command::new(LATTICE)
        .args([
            "--nats-url",
            nats.url(),
            "config",
            "put",
            "traced",
            "KEY=value",
        ])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("LATTICE_NATS_URL")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (sent, handled) = receiver
        .wait_for(
            "the CLI's request and its handling in one trace",
            EXPORTED,
            |r| {
                let sent = r
                    .spans
                    .iter()
                    .find(|s| s.service == "lattice-cli" && s.name == "ctl_send")?;
                let handled = r.spans.iter().find(|s| {
                    s.service == "wasmcloud-host"
                        && s.trace_id == sent.trace_id
                        && s.name == "ctl_request"
                })?;
                Some((sent.clone(), handled.clone()))
            },
        )
        .await
        .unwrap();
    assert_eq!(handled.parent_span_id, sent.span_id);

    // A call into `calc`, in a trace of the caller's: the host's invocation span is in
    // it, and calc's call on to the provider carries it.
    let dir = tempfile::tempdir().unwrap();
    let calc = write_component(dir.path(), "calc.wasm", CALC);
    let scale = json!({"component_id": "calc", "component_ref": format!("file://{}", calc.display()), "count": 1, "host_id": host_id});
    ctl_request(&client, subjects.component_scale(&host_id), scale).await;
    events
        .next_matching_within(
            "component_scaled",
            lattice_test_support::COMPILE_WAIT,
            |e| e.data["component_id"] == "calc",
        )
        .await
        .unwrap();
    let link = json!({"source_id": "calc", "target": "observed", "wit_namespace": "local",
        "wit_package": "test", "interfaces": ["math"]});
    assert!(
        ctl_request(&client, subjects.link_put(), link)
            .await
            .success
    );
    let mut invoked = client
        .subscribe("lattice.test.observed.invoked")
        .await
        .unwrap();
    client.flush().await.unwrap();
    let call_trace = "5b8aa5a2d2c872e8321cf37308d69df2";
    let call_parent = "051581bf3cb55c13";
    let wrpc = WrpcClient::new(client.clone()).await.unwrap();
    let headers =
        InvocationHeaders::new().with_traceparent(&format!("00-{call_trace}-{call_parent}-01"));
    let doubled = lattice_test_support::components::double_21_via_calc(&wrpc, &headers).await;
    assert_eq!(doubled, Ok(1042), "21 + 21 by the provider (+1000)");
    let seen = tokio::time::timeout(WAIT, invoked.next())
        .await
        .unwrap()
        .unwrap();
    let seen: Value = serde_json::from_slice(&seen.payload).unwrap();
    let traceparent = seen["traceparent"].as_str().unwrap_or_default();
    assert!(
        traceparent.starts_with(&format!("00-{call_trace}-")) && !traceparent.contains(call_parent),
        "calc's call carries the caller's trace, under the host's own span: {seen}"
    );
    let span = receiver
        .wait_for("the invocation span in the caller's trace", EXPORTED, |r| {
            r.spans
                .iter()
                .find(|s| s.trace_id == call_trace && s.name == "invocation")
                .cloned()
        })
        .await
        .unwrap();
    assert_eq!(span.parent_span_id, call_parent);
    assert!(
        traceparent.contains(&span.span_id),
        "the provider's caller is the invocation span: {traceparent} vs {span:?}"
    );

    stop(child).await;
}

/// gRPC instead of HTTP, traces alone: spans arrive over OTLP/gRPC, and nothing of the
/// signals left off.
#[tokio::test]
async fn over_grpc_only_the_signals_asked_for_are_exported() {
    let receiver = OtlpReceiver::start().await.unwrap();
    let nats = TestNats::start().await.unwrap();
    let (child, _) = up_exporting(
        &nats,
        &[
            "--enable-traces",
            "true",
            "--observability-protocol",
            "grpc",
            "--override-traces-endpoint",
            receiver.endpoint(),
        ],
    )
    .await;
    let client = nats.client().await.unwrap();
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let pong = client
        .request(subjects.host_ping(), "".into())
        .await
        .unwrap();
    assert!(!pong.payload.is_empty());
    receiver
        .wait_for("a span over gRPC", EXPORTED, |r| {
            r.spans.iter().find(|s| s.name == "ctl_request").cloned()
        })
        .await
        .unwrap();
    stop(child).await;
    let received = receiver.received();
    assert!(
        received.logs.is_empty() && received.metrics.is_empty(),
        "only traces were asked for: {received:?}"
    );
}

/// `--flame-graph FILE` (given by its official variable) writes the host's spans as
/// folded stacks (`thread; span; child … nanoseconds`, what `inferno-flamegraph` reads), complete
/// once the host has stopped; a file that cannot be created stops the start, naming it.
#[tokio::test]
async fn the_flame_graph_holds_the_hosts_spans_once_it_stops() {
    let nats = TestNats::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let folded = dir.path().join("host.folded");
    let mut command = Command::new(LATTICE);
    command
        .args(["up", "--nats-url", nats.url()])
        .env("WASMCLOUD_FLAME_GRAPH", &folded);
    let (child, _) = spawn_until_up(command).await;
    let client = nats.client().await.unwrap();
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    for _ in 0..3 {
        client
            .request(subjects.host_ping(), "".into())
            .await
            .unwrap();
    }
    stop(child).await;
    let stacks = std::fs::read_to_string(&folded).unwrap();
    let ctl: Vec<&str> = stacks
        .lines()
        .filter(|l| l.contains("::ctl_request:"))
        .collect();
    assert!(!ctl.is_empty(), "no ctl_request stack in:\n{stacks}");
    for line in stacks.lines() {
        let (_, nanos) = line.rsplit_once(' ').expect("stack and count");
        assert!(nanos.parse::<u64>().is_ok(), "{line}");
    }
    let missing = dir.path().join("no-such-dir/host.folded");
    let out = Command::new(LATTICE)
        .args(["up", "--nats-url", nats.url(), "--flame-graph"])
        .arg(&missing)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--flame-graph") && stderr.contains("no-such-dir"),
        "{stderr}"
    );
}

/// `lattice up ARGS` on `nats` with short export delays and none of the caller's
/// `WASMCLOUD_*` or `OTEL_EXPORTER_*` variables.
async fn up_exporting(nats: &TestNats, args: &[&str]) -> (tokio::process::Child, String) {
    let mut command = Command::new(LATTICE);
    command
        .args(["up", "--nats-url", nats.url()])
        .args(args)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "300");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("WASMCLOUD_") || name.starts_with("OTEL_EXPORTER_") {
            command.env_remove(name.as_ref());
        }
    }
    spawn_until_up(command).await
}

/// SIGTERM, then a clean exit (which flushes what is batched).
async fn stop(mut child: tokio::process::Child) {
    kill(Pid::from_raw(child.id().unwrap() as i32), Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}
