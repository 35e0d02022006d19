//! The builtin http-client end to end: the componentize-js `fetch-js` fixture behind the
//! builtin http-server fetches from a local upstream through a link to a builtin
//! http-client: in-process on its own host, over wRPC on another host, and not at all
//! without a link. And the http-server reaching the component on another host.

use std::net::SocketAddr;

use bytes::Bytes;
use futures::StreamExt as _;
use hyper::StatusCode;
use lattice_test_support::WAIT;
use lattice_test_support::components::fixture;
use serde_json::json;

use super::http_server::{Lattice, free_addr, lattice, ready, request, send, settings, subjects};

impl Lattice {
    /// Starts the builtin http-client `id` on `host`.
    async fn start_client(&self, host: &str, id: &str) {
        let body = json!({"provider_id": id, "provider_ref": "wasmcloud+builtin://http-client",
            "host_id": host});
        self.ok(subjects().provider_start(host), body).await;
        let started = self
            .events
            .next_matching("provider_started", |e| e.data["provider_id"] == id)
            .await
            .unwrap();
        assert_eq!(started.data["image_ref"], "http-client");
        // Its first health answer comes once it serves.
        self.events
            .next_matching("health_check_passed", |e| e.data["provider_id"] == id)
            .await
            .unwrap();
    }

    /// Links `component`'s `wasi:http/outgoing-handler` to `client`.
    async fn link_out(&self, component: &str, client: &str) {
        let link = json!({"source_id": component, "target": client, "name": "default",
            "wit_namespace": "wasi", "wit_package": "http", "interfaces": ["outgoing-handler"]});
        self.ok(subjects().link_put(), link).await;
    }

    /// Serves `component` at a fresh address through the builtin http-server `server`.
    async fn serve(&self, server: &str, component: &str) -> SocketAddr {
        self.start_server(server, &[]).await;
        let addr = free_addr();
        self.config(
            "site",
            json!({"address": addr.to_string(), "max_content_len": "8M"}),
        )
        .await;
        self.link(server, "default", component, "site").await;
        addr
    }
}

/// Asks the fetch component at `addr` to fetch `url`, until the answer is not a 502 (the
/// link reaches the host a moment after `link.put` is acknowledged).
async fn fetched(addr: SocketAddr, url: &str, body: &[u8]) -> (StatusCode, String) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{addr} never listened"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            continue;
        };
        let answer = send(stream, false, request("/go", &[("x-fetch-url", url)], body)).await;
        if answer.0 != StatusCode::BAD_GATEWAY || tokio::time::Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// The first message on `subscriber` after everything before `marker`'s publish: proves
/// whether anything was published on its subjects before.
async fn first_before_marker(
    client: &async_nats::Client,
    subscriber: &mut async_nats::Subscriber,
    marker: &str,
) -> String {
    client
        .publish(marker.to_string(), Bytes::new())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let message = tokio::time::timeout(WAIT, subscriber.next())
        .await
        .unwrap()
        .unwrap();
    message.subject.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_components_request_goes_out_in_process_through_the_builtin_on_its_host() {
    let fetch = fixture("fetch-js").unwrap();
    let upstream = lattice_test_support::http_upstream().await.unwrap();
    let (_nats, _host, lattice) = lattice(|_| {}).await;
    lattice.scale("fetch", &fetch).await;
    let addr = lattice.serve("http", "fetch").await;
    let url = format!("http://{upstream}/hello");

    // No link for wasi:http/outgoing-handler: no outgoing HTTP.
    let (status, text) = ready(addr, "/go", &[("x-fetch-url", url.as_str())], &[]).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{text}");
    assert!(text.starts_with("fetch failed"), "{text}");

    lattice.start_client(&lattice.host, "client").await;
    let mut wrpc_calls = lattice
        .client
        .subscribe("default.client.wrpc.>")
        .await
        .unwrap();
    lattice.link_out("fetch", "client").await;
    assert_eq!(
        fetched(addr, &url, b"").await,
        (StatusCode::OK, "GET /hello 0 bytes x-from=fetch-js".into())
    );
    assert_eq!(
        fetched(addr, &format!("http://{upstream}/post"), &[b'p'; 3000]).await,
        (
            StatusCode::OK,
            "POST /post 3000 bytes x-from=fetch-js".into()
        )
    );
    // In-process: nothing went over wRPC to the client.
    let marker = "default.client.wrpc.marker";
    assert_eq!(
        first_before_marker(&lattice.client, &mut wrpc_calls, marker).await,
        marker
    );

    // A refused connection is an error to the component, and the host keeps serving.
    let closed = free_addr();
    let (status, text) = fetched(addr, &format!("http://{closed}/"), b"").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{text}");
    assert_eq!(fetched(addr, &url, b"").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_builtin_on_another_host_is_reached_over_wrpc_with_bodies_streamed() {
    let fetch = fixture("fetch-js").unwrap();
    let upstream = lattice_test_support::http_upstream().await.unwrap();
    let (nats, _host, lattice) = lattice(|_| {}).await;
    let other = nats.start_host(settings).await.unwrap();
    lattice.scale("fetch", &fetch).await;
    let addr = lattice.serve("http", "fetch").await;
    lattice.start_client(other.id(), "far-client").await;
    let mut wrpc_calls = lattice
        .client
        .subscribe("default.far-client.wrpc.>")
        .await
        .unwrap();
    lattice.link_out("fetch", "far-client").await;

    assert_eq!(
        fetched(addr, &format!("http://{upstream}/far"), b"").await,
        (StatusCode::OK, "GET /far 0 bytes x-from=fetch-js".into())
    );
    let call = tokio::time::timeout(WAIT, wrpc_calls.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        call.subject.as_str(),
        "default.far-client.wrpc.0.0.1.wrpc:http/outgoing-handler@0.1.0.handle"
    );
    assert_eq!(
        call.headers
            .as_ref()
            .and_then(|h| h.get("source-id"))
            .map(|v| v.as_str()),
        Some("fetch")
    );
    drop(wrpc_calls);

    // 3 MiB each way crosses NATS in many messages (max_payload is 1 MiB).
    let big = vec![b'b'; 3 << 20];
    let (status, echoed) = fetched(addr, &format!("http://{upstream}/echo"), &big).await;
    assert_eq!(status, StatusCode::OK);
    assert!(echoed.len() == big.len() && echoed.bytes().all(|b| b == b'b'));
    other.shutdown(std::time::Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_http_server_reaches_a_component_on_another_host_over_wrpc() {
    let fetch = fixture("fetch-js").unwrap();
    let upstream = lattice_test_support::http_upstream().await.unwrap();
    let (nats, _host, lattice) = lattice(|_| {}).await;
    let other = nats.start_host(settings).await.unwrap();
    // The component and its http-client on one host, the http-server on the other.
    lattice.scale_on(other.id(), "fetch", &fetch).await;
    lattice.start_client(other.id(), "client").await;
    lattice.link_out("fetch", "client").await;
    let mut calls = lattice
        .client
        .subscribe("default.fetch.wrpc.>")
        .await
        .unwrap();
    let addr = lattice.serve("http", "fetch").await;

    assert_eq!(
        fetched(addr, &format!("http://{upstream}/hi"), b"").await,
        (StatusCode::OK, "GET /hi 0 bytes x-from=fetch-js".into())
    );
    let call = tokio::time::timeout(WAIT, calls.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        call.subject.as_str(),
        "default.fetch.wrpc.0.0.1.wrpc:http/incoming-handler@0.1.0.handle"
    );
    drop(calls);
    // 3 MiB in and out: client → http-server → wRPC → component → upstream, and back.
    let big = vec![b'c'; 3 << 20];
    let (status, echoed) = fetched(addr, &format!("http://{upstream}/echo"), &big).await;
    assert_eq!(status, StatusCode::OK);
    assert!(echoed.len() == big.len() && echoed.bytes().all(|b| b == b'c'));
    other.shutdown(std::time::Duration::from_secs(5)).await;
}
