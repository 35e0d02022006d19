//! A provider for lattice's tests, built with lattice's SDK. It behaves, or misbehaves,
//! as its flags say (a test wraps it in a script to pass them, since the host passes
//! no arguments):
//!
//! - `--exit-at-start CODE`: print a line to stderr and exit at once;
//! - `--hang-on-shutdown`: never finish the shutdown hook, so neither the shutdown
//!   request nor SIGTERM ends it;
//!
//! and it answers, under `lattice.test.{provider_id}.`:
//!
//! - `dump`: its raw stdin line, environment, pid and HostData as JSON;
//! - `health` with body `healthy`, `unhealthy` or `silent`: how to answer health checks
//!   from now on (`silent` never answers);
//! - `print` with body `{"stdout": [lines], "stderr": [lines]}`: prints each line to
//!   that stream (stdout first), flushes, then answers `ok`;
//!
//! and it serves `local:test/math@0.1.0` `add(a: u32, b: u32) -> u32` over wRPC (the sum
//! plus 1000, so a test can tell who answered) for components linked to it, reporting
//! each call's headers as a JSON object on `lattice.test.{provider_id}.invoked`;
//!
//! and it serves `wrpc:keyvalue/{store,atomics,batch}@0.2.0-draft` from memory (see
//! `keyvalue.rs`), so components' `wasi:keyvalue` can be linked to it, and
//! `wrpc:blobstore/blobstore@0.2.0` from memory (see `blobstore.rs`) for their
//! `wasi:blobstore`;
//!
//! and it reports every link put, link delete and config update it receives as JSON on
//! `lattice.test.{provider_id}.seen` (`{"kind": "link_put" | "link_del" | "config", …}`).
//!
//! Every hook prints a line, so tests can read the captured output.

mod blobstore;
mod keyvalue;

use std::collections::BTreeMap;
use std::sync::Mutex;

use futures::StreamExt as _;
use lattice_provider_sdk::{
    BoxError, HealthCheckResponse, HostData, InterfaceLinkDefinition, LinkConfig, LinkRole,
    Provider, ProviderContext, run_provider_with,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum HealthMode {
    Healthy,
    Unhealthy,
    Silent,
}

struct TestProvider {
    seen: tokio::sync::OnceCell<(async_nats::Client, String)>,
    stdin_line: Vec<u8>,
    hang_on_shutdown: bool,
    health: std::sync::Arc<Mutex<HealthMode>>,
}

impl Provider for TestProvider {
    async fn init(&self, ctx: &ProviderContext) -> Result<(), BoxError> {
        println!(
            "init {} instance {}",
            ctx.provider_id(),
            ctx.host_data.instance_id
        );
        futures::try_join!(serve_math(ctx), keyvalue::serve(ctx), blobstore::serve(ctx))?;
        let prefix = format!("lattice.test.{}", ctx.provider_id());
        let _ = self.seen.set((ctx.nats.clone(), format!("{prefix}.seen")));
        let mut dump = ctx.nats.subscribe(format!("{prefix}.dump")).await?;
        let mut health = ctx.nats.subscribe(format!("{prefix}.health")).await?;
        let mut print = ctx.nats.subscribe(format!("{prefix}.print")).await?;
        let nats = ctx.nats.clone();
        let body = serde_json::to_vec(&serde_json::json!({
            "stdin_line": String::from_utf8_lossy(&self.stdin_line),
            "env": std::env::vars().collect::<BTreeMap<_, _>>(),
            "pid": std::process::id(),
            "host_data": ctx.host_data,
        }))?;
        let mode = self.health.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(msg) = dump.next() => {
                        if let Some(reply) = msg.reply {
                            let _ = nats.publish(reply, body.clone().into()).await;
                        }
                    }
                    Some(msg) = health.next() => {
                        let new = match &msg.payload[..] {
                            b"unhealthy" => HealthMode::Unhealthy,
                            b"silent" => HealthMode::Silent,
                            _ => HealthMode::Healthy,
                        };
                        *mode.lock().unwrap() = new;
                        if let Some(reply) = msg.reply {
                            let _ = nats.publish(reply, "ok".into()).await;
                        }
                    }
                    Some(msg) = print.next() => {
                        print_lines(&msg.payload);
                        if let Some(reply) = msg.reply {
                            let _ = nats.publish(reply, "ok".into()).await;
                        }
                    }
                    else => return,
                }
            }
        });
        Ok(())
    }

    async fn health(&self) -> HealthCheckResponse {
        let mode = *self.health.lock().unwrap();
        match mode {
            HealthMode::Healthy => HealthCheckResponse {
                healthy: true,
                message: None,
            },
            HealthMode::Unhealthy => HealthCheckResponse {
                healthy: false,
                message: Some("told to be unhealthy".into()),
            },
            HealthMode::Silent => std::future::pending().await,
        }
    }

    async fn link_put(&self, link: LinkConfig) -> Result<(), BoxError> {
        println!(
            "link put {} -> {} config {:?}",
            link.link.source_id, link.link.target, link.config
        );
        self.report(
            serde_json::json!({"kind": "link_put", "link": link.link, "config": link.config, "secrets": link.secrets}),
        )
        .await
    }

    async fn link_del(
        &self,
        link: &InterfaceLinkDefinition,
        _role: LinkRole,
    ) -> Result<(), BoxError> {
        println!("link del {} -> {}", link.source_id, link.target);
        self.report(serde_json::json!({"kind": "link_del", "link": link}))
            .await
    }

    async fn config_update(&self, config: &BTreeMap<String, String>) -> Result<(), BoxError> {
        println!("config update {config:?}");
        self.report(serde_json::json!({"kind": "config", "config": config}))
            .await
    }

    async fn shutdown(&self) {
        println!("shutdown requested");
        if self.hang_on_shutdown {
            std::future::pending::<()>().await;
        }
    }
}

impl TestProvider {
    async fn report(&self, seen: serde_json::Value) -> Result<(), BoxError> {
        if let Some((nats, subject)) = self.seen.get() {
            nats.publish(subject.clone(), serde_json::to_vec(&seen)?.into())
                .await?;
        }
        Ok(())
    }
}

/// Prints the lines a `print` request names, each in one write.
fn print_lines(body: &[u8]) {
    use std::io::Write as _;
    #[derive(serde::Deserialize)]
    struct Print {
        #[serde(default)]
        stdout: Vec<String>,
        #[serde(default)]
        stderr: Vec<String>,
    }
    let Ok(print) = serde_json::from_slice::<Print>(body) else {
        eprintln!("undecodable print request");
        return;
    };
    let mut stdout = std::io::stdout().lock();
    for line in &print.stdout {
        let _ = stdout.write_all(format!("{line}\n").as_bytes());
    }
    let _ = stdout.flush();
    let mut stderr = std::io::stderr().lock();
    for line in &print.stderr {
        let _ = stderr.write_all(format!("{line}\n").as_bytes());
    }
    let _ = stderr.flush();
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "--exit-at-start") {
        let code: i32 = args.get(pos + 1).and_then(|c| c.parse().ok()).unwrap_or(1);
        eprintln!("exiting at start with {code}, as told");
        std::process::exit(code);
    }
    let stdin_line = lattice_provider_sdk::read_host_data_line()?;
    let host_data = HostData::from_stdin_line(&stdin_line)?;
    let provider = TestProvider {
        seen: tokio::sync::OnceCell::new(),
        stdin_line,
        hang_on_shutdown: args.iter().any(|a| a == "--hang-on-shutdown"),
        health: std::sync::Arc::new(Mutex::new(HealthMode::Healthy)),
    };
    run_provider_with(provider, host_data).await?;
    println!("test provider exiting");
    Ok(())
}

/// Serves every subject at once: one round trip to the NATS server, not one per
/// subject (a provider that takes long to start is restarted as unhealthy).
async fn serve_all(
    wrpc: &lattice_provider_sdk::wrpc::WrpcClient,
    subjects: impl Iterator<Item = lattice_provider_sdk::wrpc::InvocationSubject>,
) -> Result<Vec<lattice_provider_sdk::wrpc::Invocations>, BoxError> {
    let served = futures::future::try_join_all(
        subjects.map(|subject| async move { wrpc.serve(&subject).await }),
    )
    .await?;
    Ok(served)
}

/// Serves `local:test/math@0.1.0` `add` over wRPC: `a + b + 1000`; reports the headers.
async fn serve_math(ctx: &ProviderContext) -> Result<(), BoxError> {
    use lattice_provider_sdk::wrpc::InvocationSubject;
    use lattice_provider_sdk::wrpc::value::{Type, Value};
    let wrpc = ctx.wrpc().await?;
    let subject = InvocationSubject::new(ctx.wrpc_prefix(), "local:test/math@0.1.0", "add");
    let mut calls = wrpc.serve(&subject).await?;
    let (nats, invoked) = (
        ctx.nats.clone(),
        format!("lattice.test.{}.invoked", ctx.provider_id()),
    );
    tokio::spawn(async move {
        let _wrpc = wrpc;
        while let Some(call) = calls.next().await {
            let Ok(mut call) = call else { continue };
            let headers: BTreeMap<String, String> = call
                .headers()
                .as_map()
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.first()?.to_string())))
                .collect();
            let report = serde_json::to_vec(&headers).unwrap_or_default();
            let _ = nats.publish(invoked.clone(), report.into()).await;
            tokio::spawn(async move {
                let params = call.read_params(&[Type::U32, Type::U32]).await;
                let sum = match params.as_deref() {
                    Ok([Value::U32(a), Value::U32(b)]) => a.wrapping_add(*b).wrapping_add(1000),
                    _ => 0,
                };
                let _ = call.write_results(&[Value::U32(sum)], &[Type::U32]).await;
            });
        }
    });
    Ok(())
}
