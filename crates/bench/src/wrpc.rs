//! The wRPC scenarios: the latency of one hop (`add`) and two hops (`calc.double` → its
//! link → `math.add`, with `calc` on `math`'s host, where lattice makes the second hop
//! in-process, and on a second host, where it crosses NATS) beside a bare NATS round
//! trip (from lattice's client and from a raw-socket client, see [`crate::raw_nats`]),
//! and calls per second at several concurrencies.

use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::BytesMut;
use futures::StreamExt as _;
use lattice_wrpc::value::{Type, Value, encode_tuple};
use lattice_wrpc::{InvocationHeaders, InvocationSubject, SubjectPrefix, WrpcClient};
use serde_json::json;

use crate::components::{Artifacts, CALC_INSTANCE, ComponentSizes, MATH_INSTANCE, WAIT, ms};
use crate::harness::{HostUnderTest, LATTICE};
use crate::scenarios::Samples;

/// One call of `instance.func` on `target` with u32 arguments and one u32 result.
async fn call_u32s(
    wrpc: &WrpcClient,
    target: &str,
    instance: &str,
    func: &str,
    args: &[u32],
) -> anyhow::Result<u32> {
    let types: Vec<Type> = args.iter().map(|_| Type::U32).collect();
    let values: Vec<Value> = args.iter().map(|a| Value::U32(*a)).collect();
    let mut body = BytesMut::new();
    encode_tuple(&values, &types, &mut body)?;
    let subject = InvocationSubject::new(SubjectPrefix::target(LATTICE, target), instance, func);
    let mut invocation = wrpc
        .invoke(&subject, &InvocationHeaders::new(), body.freeze())
        .await?;
    match invocation.read_results(&[Type::U32]).await?.as_slice() {
        [Value::U32(n)] => Ok(*n),
        other => bail!("unexpected results {other:?}"),
    }
}

pub(crate) async fn add(wrpc: &WrpcClient, target: &str, a: u32, b: u32) -> anyhow::Result<()> {
    let got = call_u32s(wrpc, target, MATH_INSTANCE, "add", &[a, b]).await?;
    if got != a.wrapping_add(b) {
        bail!("{target} add({a}, {b}) returned {got}");
    }
    Ok(())
}

async fn double(wrpc: &WrpcClient, calc: &str, x: u32) -> anyhow::Result<()> {
    let got = call_u32s(wrpc, calc, CALC_INSTANCE, "double", &[x]).await?;
    if got != x.wrapping_add(x) {
        bail!("{calc} double({x}) returned {got}");
    }
    Ok(())
}

/// Links `calc` to `math`, waits until the link has reached it, then measures
/// `calc.double` (two hops).
async fn measure_two_hops(
    host: &HostUnderTest,
    wrpc: &WrpcClient,
    calc: &str,
    calls: usize,
) -> Samples {
    let link = json!({"source_id": calc, "target": "math", "wit_namespace": "local",
        "wit_package": "test", "interfaces": ["math"]});
    if let Err(e) = host.ctl(host.subjects.link_put(), link).await {
        return Err(format!("cannot link {calc} to math: {e:#}"));
    }
    // The link reaches the running component without a rescale; wait until it has.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match double(wrpc, calc, 21).await {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => {
                return Err(format!("{calc} never answered through its link: {e:#}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    latency(calls, |i| double(wrpc, calc, i)).await
}

/// Calls per second at one concurrency.
pub(crate) struct Throughput {
    pub(crate) concurrency: usize,
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) seconds: f64,
    pub(crate) first_error: Option<String>,
}

/// What the wRPC scenario measured.
pub(crate) struct WrpcFigures {
    pub(crate) nats_round_trip: Samples,
    /// Loopback TCP between two threads, no NATS (see [`crate::raw_nats`]).
    pub(crate) tcp_round_trip: Samples,
    /// The same with a blocking raw-socket client (see [`crate::raw_nats`]).
    pub(crate) raw_round_trip: Samples,
    /// One hop with that client.
    pub(crate) raw_one_hop: Samples,
    pub(crate) one_hop: Samples,
    /// `calc` on `math`'s host.
    pub(crate) two_hops: Samples,
    /// `calc` on a second host (on the same machine and NATS server).
    pub(crate) two_hops_across: Samples,
    pub(crate) throughput: Vec<Throughput>,
}

/// Sequential latency of `call`, after a few unmeasured calls.
async fn latency<F, Fut>(calls: usize, call: F) -> Samples
where
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    for i in 0..20 {
        if let Err(e) = call(i).await {
            return Err(format!("warm-up call failed: {e:#}"));
        }
    }
    let mut samples = Vec::with_capacity(calls);
    for i in 0..calls {
        let sent = Instant::now();
        if let Err(e) = call(i as u32).await {
            return Err(format!("call {i} failed: {e:#}"));
        }
        samples.push(ms(sent.elapsed()));
    }
    Ok(samples)
}

/// `math` (add) and `calc` (double, linked to `math`) on one host, and another `calc`
/// (`calc-beside`) on a second host, called from a second NATS connection of this
/// process with lattice's wRPC client.
pub(crate) async fn wrpc(
    command: &str,
    artifacts: &Artifacts,
    sizes: &ComponentSizes,
) -> anyhow::Result<WrpcFigures> {
    let dir = tempfile::tempdir()?;
    let mut host = HostUnderTest::start_with(command, Some(dir.path()), &[]).await?;
    // The concurrency cap is above the highest concurrency measured.
    let count = sizes.concurrency.iter().copied().max().unwrap_or(1).max(1) as u32 * 2;
    host.scale_component("math", &artifacts.add, count).await?;
    host.component_scaled("math", count, WAIT).await?;
    host.scale_component("calc", &artifacts.calc, count).await?;
    host.component_scaled("calc", count, WAIT).await?;
    let beside = host.start_beside(command).await?;
    host.scale_component_on(&beside.host_id, "calc-beside", &artifacts.calc, count)
        .await?;
    host.component_scaled("calc-beside", count, WAIT).await?;

    let caller = async_nats::connect(host.nats_url()).await?;
    // The floor under a hop: a plain NATS request answered by a task of this process
    // (another connection), through the same server.
    let mut echo = host.nats.subscribe("bench.echo").await?;
    let responder = host.nats.clone();
    let echoing = tokio::spawn(async move {
        while let Some(message) = echo.next().await {
            if let Some(reply) = message.reply {
                let _ = responder.publish(reply, message.payload).await;
            }
        }
    });
    lattice_nats::server_round_trip(&host.nats)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let nats_round_trip = latency(sizes.calls, |i| {
        let caller = caller.clone();
        async move {
            caller
                .request("bench.echo", i.to_le_bytes().to_vec().into())
                .await?;
            Ok(())
        }
    })
    .await;
    echoing.abort();

    let wrpc = WrpcClient::new(caller)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let one_hop = latency(sizes.calls, |i| add(&wrpc, "math", i, 7)).await;
    // The same two without a client library (blocking sockets, one thread each).
    let (url, calls) = (host.nats_url().to_string(), sizes.calls);
    let raw = tokio::task::spawn_blocking(move || {
        crate::raw_nats::measure(&url, LATTICE, "math", MATH_INSTANCE, calls)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|measured| measured.map_err(|e| format!("raw client: {e}")));
    let (tcp_round_trip, raw_round_trip, raw_one_hop) = match raw {
        Ok(raw) => (Ok(raw.tcp_round_trip), Ok(raw.round_trip), Ok(raw.one_hop)),
        Err(e) => (Err(e.clone()), Err(e.clone()), Err(e)),
    };

    let two_hops = measure_two_hops(&host, &wrpc, "calc", sizes.calls).await;
    let two_hops_across = measure_two_hops(&host, &wrpc, "calc-beside", sizes.calls).await;
    beside.stop().await;

    let mut throughput = Vec::new();
    for &concurrency in &sizes.concurrency {
        throughput.push(calls_per_second(&wrpc, concurrency, sizes.throughput_window).await);
    }
    host.stop().await;
    Ok(WrpcFigures {
        nats_round_trip,
        tcp_round_trip,
        raw_round_trip,
        raw_one_hop,
        one_hop,
        two_hops,
        two_hops_across,
        throughput,
    })
}

/// `concurrency` callers, each calling `add` in a loop for `window`.
async fn calls_per_second(wrpc: &WrpcClient, concurrency: usize, window: Duration) -> Throughput {
    let started = Instant::now();
    let deadline = started + window;
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let wrpc = wrpc.clone();
            tokio::spawn(async move {
                let (mut calls, mut errors, mut first_error) = (0u64, 0u64, None);
                let mut i = 0u32;
                while Instant::now() < deadline {
                    match add(&wrpc, "math", w as u32, i).await {
                        Ok(()) => calls += 1,
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                    i = i.wrapping_add(1);
                }
                (calls, errors, first_error)
            })
        })
        .collect();
    let mut total = Throughput {
        concurrency,
        calls: 0,
        errors: 0,
        seconds: 0.0,
        first_error: None,
    };
    for worker in workers {
        match worker.await {
            Ok((calls, errors, first_error)) => {
                total.calls += calls;
                total.errors += errors;
                if total.first_error.is_none() {
                    total.first_error = first_error;
                }
            }
            Err(e) => total.first_error = Some(format!("a caller task failed: {e}")),
        }
    }
    total.seconds = started.elapsed().as_secs_f64();
    total
}
