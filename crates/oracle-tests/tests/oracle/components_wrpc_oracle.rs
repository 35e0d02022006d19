//! Components on lattice hosts against the official wRPC crates of wasmCloud 1.9.2
//! (`wrpc-transport-nats` 0.29.0 on async-nats 0.39): the official client invokes an
//! export of a lattice-hosted component, and a lattice-hosted component's import is
//! served by the official server through a link.

use std::sync::Arc;
use std::time::Duration;

use async_nats_039 as nats039;
use futures::StreamExt as _;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::{CALC, COUNTERS, MATH, TALLY};
use lattice_test_support::{EventWatcher, TestNats, ctl_request};
use serde_json::json;
use wrpc_transport::{InvokeExt as _, ResourceBorrow, ResourceOwn, ServeExt as _};

#[tokio::test]
async fn the_official_wrpc_client_and_server_talk_to_lattice_hosted_components()
-> anyhow::Result<()> {
    let (nats, client, events, dir, host) = lattice_with_a_host().await?;
    scale_math_and_calc(&client, &events, host.id(), dir.path()).await?;

    // The official client calls the lattice-hosted `math`.
    let official =
        wrpc_transport_nats::Client::new(nats039::connect(nats.url()).await?, "default.math", None)
            .await?;
    let (sum,): (u32,) = official
        .invoke_values_blocking(
            None,
            "local:test/math@0.1.0",
            "add",
            (40u32, 2u32),
            Vec::<Vec<Option<usize>>>::new(),
        )
        .await?;
    assert_eq!(sum, 42);

    let caller =
        wrpc_transport_nats::Client::new(nats039::connect(nats.url()).await?, "default.calc", None)
            .await?;
    // A call that fails in the host (`calc` has no link yet) is an error to the official
    // client at once: lattice's close that says why (`lattice-error`) is a plain close to it.
    let unlinked = tokio::time::timeout(
        Duration::from_secs(5),
        caller.invoke_values_blocking::<_, (u32,), (u32,)>(
            None,
            "local:test/calc@0.1.0",
            "double",
            (21u32,),
            Vec::<Vec<Option<usize>>>::new(),
        ),
    )
    .await?;
    anyhow::ensure!(unlinked.is_err(), "no link, no sum: {unlinked:?}");

    // The official server answers `calc`'s import through a link to `official-math`.
    let mut headers_rx = serve_official_math(&client, nats.url(), 1000).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let doubled = loop {
        match caller
            .invoke_values_blocking::<_, (u32,), (u32,)>(
                None,
                "local:test/calc@0.1.0",
                "double",
                (21u32,),
                Vec::<Vec<Option<usize>>>::new(),
            )
            .await
        {
            Ok((n,)) => break n,
            Err(error) => anyhow::ensure!(tokio::time::Instant::now() < deadline, "{error:#}"),
        }
    };
    assert_eq!(
        doubled, 1042,
        "21 + 21 through the official server's add (+1000)"
    );
    let headers = tokio::time::timeout(Duration::from_secs(5), headers_rx.recv())
        .await?
        .expect("the official server saw the call");
    let headers = headers.expect("the host sends headers");
    assert_eq!(headers.get("source-id").map(|v| v.as_str()), Some("calc"));
    assert_eq!(
        headers.get("link-name").map(|v| v.as_str()),
        Some("default")
    );
    host.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

/// `counter` of `local:test/counters@0.1.0`, as the official crates type its handles.
struct Counter;

const COUNTERS_IFACE: &str = "local:test/counters@0.1.0";
const NO_PATHS: Vec<Vec<Option<usize>>> = Vec::new();
const NO_SERVED_PATHS: Vec<Box<[Option<usize>]>> = Vec::new();

#[tokio::test]
async fn resource_handles_cross_between_the_official_wrpc_crates_and_lattice_hosted_components()
-> anyhow::Result<()> {
    let (nats, client, events, dir, host) = lattice_with_a_host().await?;
    scale(
        &client,
        &events,
        host.id(),
        dir.path(),
        &[("counters", COUNTERS), ("tally", TALLY)],
    )
    .await?;

    // The official client holds a counter that the lattice-hosted `counters` exports.
    let official = wrpc_transport_nats::Client::new(
        nats039::connect(nats.url()).await?,
        "default.counters",
        None,
    )
    .await?;
    let (counter,): (ResourceOwn<Counter>,) = official
        .invoke_values_blocking(None, COUNTERS_IFACE, "counter", (7u32,), NO_PATHS)
        .await?;
    for expected in [8u32, 9] {
        let (n,): (u32,) = official
            .invoke_values_blocking(
                None,
                COUNTERS_IFACE,
                "counter.increment",
                (ResourceBorrow::<Counter>::from(counter.clone()),),
                NO_PATHS,
            )
            .await?;
        assert_eq!(n, expected);
    }
    let (total,): (u32,) = official
        .invoke_values_blocking(None, COUNTERS_IFACE, "counter.total", (counter,), NO_PATHS)
        .await?;
    assert_eq!(total, 9);

    // The official server serves counters (its handles are its own bytes); the
    // lattice-hosted `tally` uses them through a link.
    let served = serve_official_counters(nats.url()).await?;
    let link = json!({"source_id": "tally", "target": "official-counters",
        "wit_namespace": "local", "wit_package": "test", "interfaces": ["counters"]});
    let reply = ctl_request(
        &client,
        CtlSubjects::new("wasmbus.ctl", "default").link_put(),
        link,
    )
    .await;
    anyhow::ensure!(reply.success, "link: {}", reply.message);
    let caller = wrpc_transport_nats::Client::new(
        nats039::connect(nats.url()).await?,
        "default.tally",
        None,
    )
    .await?;
    let (counted,): (u32,) = caller
        .invoke_values_blocking(
            None,
            "local:test/tally@0.1.0",
            "count",
            (5u32, 3u32),
            NO_PATHS,
        )
        .await?;
    assert_eq!(
        counted, 8,
        "5 and 3 increments, through the official server"
    );
    let calls = served.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            "counter(5) -> c1",
            "counter.increment(c1) -> 6",
            "counter.increment(c1) -> 7",
            "counter.increment(c1) -> 8",
            "counter.total(c1) -> 8",
        ]
    );
    host.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

/// Serves `local:test/counters@0.1.0` as `official-counters` with the official wRPC
/// server, counters kept by handle (`c1`, `c2`, …); what it was asked comes back as text.
async fn serve_official_counters(url: &str) -> anyhow::Result<Arc<std::sync::Mutex<Vec<String>>>> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    let server = wrpc_transport_nats::Client::new(
        nats039::connect(url).await?,
        "default.official-counters",
        Some(Arc::from("default.official-counters")),
    )
    .await?;
    let calls = Arc::new(Mutex::new(Vec::new()));
    let counters = Arc::new(Mutex::new(HashMap::<Vec<u8>, u32>::new()));
    let name = |h: &[u8]| String::from_utf8_lossy(h).into_owned();

    let made = server
        .serve_values::<(u32,), (ResourceOwn<Counter>,)>(COUNTERS_IFACE, "counter", NO_SERVED_PATHS)
        .await?;
    let increments = server
        .serve_values::<(ResourceBorrow<Counter>,), (u32,)>(
            COUNTERS_IFACE,
            "counter.increment",
            NO_SERVED_PATHS,
        )
        .await?;
    let totals = server
        .serve_values::<(ResourceOwn<Counter>,), (u32,)>(
            COUNTERS_IFACE,
            "counter.total",
            NO_SERVED_PATHS,
        )
        .await?;
    let (log, held) = (calls.clone(), counters.clone());
    tokio::spawn(async move {
        let mut made = std::pin::pin!(made);
        while let Some(Ok((_, (start,), _, tx))) = made.next().await {
            let handle = {
                let mut held = held.lock().unwrap();
                let handle = format!("c{}", held.len() + 1).into_bytes();
                held.insert(handle.clone(), start);
                log.lock()
                    .unwrap()
                    .push(format!("counter({start}) -> {}", name(&handle)));
                handle
            };
            let _ = tx((ResourceOwn::from(handle),)).await;
        }
    });
    let (log, held) = (calls.clone(), counters.clone());
    tokio::spawn(async move {
        let mut increments = std::pin::pin!(increments);
        while let Some(Ok((_, (counter,), _, tx))) = increments.next().await {
            let handle: &[u8] = counter.as_ref();
            let n = {
                let mut held = held.lock().unwrap();
                let n = held.get_mut(handle).map(|n| {
                    *n += 1;
                    *n
                });
                let shown = n.map_or_else(|| "no such counter".to_string(), |n| n.to_string());
                log.lock()
                    .unwrap()
                    .push(format!("counter.increment({}) -> {shown}", name(handle)));
                n.unwrap_or_default()
            };
            let _ = tx((n,)).await;
        }
    });
    let (log, held) = (calls.clone(), counters);
    tokio::spawn(async move {
        let mut totals = std::pin::pin!(totals);
        while let Some(Ok((_, (counter,), _, tx))) = totals.next().await {
            let handle: &[u8] = counter.as_ref();
            let n = held.lock().unwrap().remove(handle).unwrap_or_default();
            log.lock()
                .unwrap()
                .push(format!("counter.total({}) -> {n}", name(handle)));
            let _ = tx((n,)).await;
        }
    });
    Ok(calls)
}

/// A server, a client following its events, a directory for components and a host that
/// loads them from files.
async fn lattice_with_a_host() -> anyhow::Result<(
    TestNats,
    async_nats::Client,
    EventWatcher,
    tempfile::TempDir,
    lattice_host::Host,
)> {
    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let events = EventWatcher::new(&client, "default").await?;
    let dir = tempfile::tempdir()?;
    let host = nats.start_host(|c| c.allow_file_load = true).await?;
    Ok((nats, client, events, dir, host))
}

/// Scales `math` and `calc` (one instance each, from the text format) on `host_id`.
async fn scale_math_and_calc(
    client: &async_nats::Client,
    events: &EventWatcher,
    host_id: &str,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    scale(
        client,
        events,
        host_id,
        dir,
        &[("math", MATH), ("calc", CALC)],
    )
    .await
}

/// Scales each of `components` (id, text) with four instances on `host_id`.
async fn scale(
    client: &async_nats::Client,
    events: &EventWatcher,
    host_id: &str,
    dir: &std::path::Path,
    components: &[(&str, &str)],
) -> anyhow::Result<()> {
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    for &(id, text) in components {
        let path = dir.join(format!("{id}.wasm"));
        std::fs::write(&path, wat::parse_str(text)?)?;
        let body = json!({"component_id": id, "component_ref": format!("file://{}", path.display()), "count": 4});
        let reply = ctl_request(client, subjects.component_scale(host_id), body).await;
        anyhow::ensure!(reply.success, "{id}: {}", reply.message);
        events
            .next_matching_within(
                "component_scaled",
                lattice_test_support::COMPILE_WAIT,
                |e| e.data["component_id"] == id,
            )
            .await?;
    }
    Ok(())
}

/// Serves `local:test/math@0.1.0#add` as `official-math` with the official wRPC server
/// (answering `a + b + plus`) and links `calc` to it; the headers of each call it
/// serves come out of the returned channel.
async fn serve_official_math(
    client: &async_nats::Client,
    url: &str,
    plus: u32,
) -> anyhow::Result<tokio::sync::mpsc::UnboundedReceiver<Option<nats039::HeaderMap>>> {
    let server = wrpc_transport_nats::Client::new(
        nats039::connect(url).await?,
        "default.official-math",
        Some(Arc::from("default.official-math")),
    )
    .await?;
    let served = server
        .serve_values::<(u32, u32), (u32,)>(
            "local:test/math@0.1.0",
            "add",
            Vec::<Box<[Option<usize>]>>::new(),
        )
        .await?;
    let (headers_tx, headers_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut served = std::pin::pin!(served);
        while let Some(item) = served.next().await {
            let Ok((cx, (a, b), _rx, tx)) = item else {
                continue;
            };
            let _ = headers_tx.send(cx);
            let _ = tx((a + b + plus,)).await;
        }
    });
    let link = json!({"source_id": "calc", "target": "official-math", "wit_namespace": "local",
        "wit_package": "test", "interfaces": ["math"]});
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let reply = ctl_request(client, subjects.link_put(), link).await;
    anyhow::ensure!(reply.success, "link: {}", reply.message);
    Ok(headers_rx)
}
