//! `wrpc:http` against `wrpc-interface-http` 0.34.0 on `wrpc-transport-nats` 0.29.0 (what
//! wasmCloud 1.9.2 ships): the official client sends requests through lattice's builtin
//! http-client (`outgoing-handler`) and into a lattice-hosted component
//! (`incoming-handler`, as 1.9.2's http-server provider calls it), and the official
//! server answers a lattice-hosted component's outgoing request through a link.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_nats_039 as nats039;
use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::{fixture, shared_compile_cache};
use lattice_test_support::{EventWatcher, TestNats, WAIT, ctl_request};
use serde_json::json;
use wrpc_interface_http::bindings::wasi::http::types::ErrorCode;
use wrpc_interface_http::bindings::wrpc::http::outgoing_handler;
use wrpc_interface_http::{HttpBody, ServeHttp, ServeOutgoingHandlerHttp, try_http_to_request};

fn subjects() -> CtlSubjects {
    CtlSubjects::new("wasmbus.ctl", "default")
}

async fn ok(client: &async_nats::Client, subject: String, body: serde_json::Value) {
    let reply = ctl_request(client, subject.clone(), body).await;
    assert!(reply.success, "{subject}: {}", reply.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_wrpc_http_client_sends_requests_through_the_lattice_builtin() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats.start_host(|_| {}).await.unwrap();
    let upstream = lattice_test_support::http_upstream().await.unwrap();
    let start = json!({"provider_id": "client", "provider_ref": "wasmcloud+builtin://http-client",
        "host_id": host.id()});
    ok(&client, subjects().provider_start(host.id()), start).await;
    events
        .next_matching("health_check_passed", |e| e.data["provider_id"] == "client")
        .await
        .unwrap();

    let official = wrpc_transport_nats::Client::new(
        nats039::connect(nats.url()).await.unwrap(),
        "default.client",
        None,
    )
    .await
    .unwrap();
    let send = |request: http::Request<Full<Bytes>>| {
        let official = &official;
        async move {
            let (request, _errors) = try_http_to_request(request).unwrap();
            let (response, io) = outgoing_handler::handle(official, None, request, None)
                .await
                .unwrap();
            if let Some(io) = io {
                tokio::spawn(io);
            }
            response
        }
    };

    // 2 MiB out and back: the official encoder's body chunks and lattice's.
    let big = Bytes::from(vec![b'o'; 2 << 20]);
    let request = http::Request::post(format!("http://{upstream}/echo"))
        .body(Full::new(big.clone()))
        .unwrap();
    let response = send(request).await.expect("a response");
    let response = http::Response::<HttpBody>::try_from(response).unwrap();
    assert_eq!(response.status(), 200);
    let echoed = response.into_body().collect().await.unwrap().to_bytes();
    assert!(echoed == big, "{} bytes came back", echoed.len());

    let request = http::Request::get(format!("http://{upstream}/plain?q=1"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = send(request).await.expect("a response");
    let response = http::Response::<HttpBody>::try_from(response).unwrap();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "GET /plain 0 bytes x-from=-");

    // A refused connection comes back as the error code, decoded by the official client.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let request = http::Request::get(format!("http://{closed}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let Err(refused) = send(request).await else {
        panic!("a response from a closed port");
    };
    assert!(
        matches!(refused, ErrorCode::ConnectionRefused),
        "{refused:?}"
    );
    host.shutdown(Duration::from_secs(5)).await;
}

/// The official server's answer: what it saw of the request.
#[derive(Clone)]
struct Official;

impl ServeOutgoingHandlerHttp<Option<nats039::HeaderMap>> for Official {
    async fn handle(
        &self,
        cx: Option<nats039::HeaderMap>,
        request: http::Request<HttpBody>,
        _options: Option<wrpc_interface_http::bindings::wrpc::http::types::RequestOptions>,
    ) -> anyhow::Result<
        Result<
            http::Response<
                impl hyper::body::Body<Data = Bytes, Error = std::convert::Infallible> + Send + 'static,
            >,
            ErrorCode,
        >,
    > {
        let source = cx
            .as_ref()
            .and_then(|h| h.get("source-id"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let seen = format!(
            "official saw {} {} {} bytes from {source}",
            parts.method,
            parts.uri,
            body.len()
        );
        Ok(Ok(http::Response::new(Full::new(Bytes::from(seen)))))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lattice_components_request_is_answered_by_the_official_wrpc_http_server() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats
        .start_host(|c| {
            c.allow_file_load = true;
            c.runtime.cache_dir = Some(shared_compile_cache());
            c.runtime.max_linear_memory_bytes = 256 << 20;
        })
        .await
        .unwrap();

    // The official server, as an http-client provider would serve it.
    let server = wrpc_transport_nats::Client::new(
        nats039::connect(nats.url()).await.unwrap(),
        "default.official-client",
        Some(Arc::from("default.official-client")),
    )
    .await
    .unwrap();
    let [(_, _, mut invocations)] =
        wrpc_interface_http::bindings::exports::wrpc::http::outgoing_handler::serve_interface(
            &server,
            ServeHttp(Official),
        )
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Some(invocation) = invocations.next().await {
            if let Ok(invocation) = invocation {
                tokio::spawn(invocation);
            }
        }
    });

    let fetch = fixture("fetch-js").unwrap();
    let scale = json!({"component_id": "fetch",
        "component_ref": format!("file://{}", fetch.display()), "count": 2, "host_id": host.id()});
    ok(&client, subjects().component_scale(host.id()), scale).await;
    events
        .next_matching_within(
            "component_scaled",
            lattice_test_support::COMPILE_WAIT,
            |e| e.data["component_id"] == "fetch",
        )
        .await
        .unwrap();
    let start = json!({"provider_id": "http", "provider_ref": "wasmcloud+builtin://http-server",
        "host_id": host.id()});
    ok(&client, subjects().provider_start(host.id()), start).await;
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    ok(
        &client,
        subjects().config_put("site"),
        json!({"address": addr.to_string()}),
    )
    .await;
    for link in [
        json!({"source_id": "http", "target": "fetch", "wit_namespace": "wasi",
            "wit_package": "http", "interfaces": ["incoming-handler"], "source_config": ["site"]}),
        json!({"source_id": "fetch", "target": "official-client", "wit_namespace": "wasi",
            "wit_package": "http", "interfaces": ["outgoing-handler"]}),
    ] {
        ok(&client, subjects().link_put(), link).await;
    }

    let deadline = tokio::time::Instant::now() + WAIT;
    let text = loop {
        match fetch_through(addr, "http://example.invalid/a?b=c", b"hello").await {
            Some((200, text)) => break text,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "no answer through the official server: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(
        text,
        "official saw POST http://example.invalid/a?b=c 5 bytes from fetch"
    );

    // The official client calls the component's incoming-handler over wRPC.
    let caller = wrpc_transport_nats::Client::new(
        nats039::connect(nats.url()).await.unwrap(),
        "default.fetch",
        None,
    )
    .await
    .unwrap();
    let request = http::Request::put("http://lattice.test/in")
        .header("x-fetch-url", "http://example.invalid/via-wrpc")
        .body(Full::new(Bytes::from_static(b"0123456789")))
        .unwrap();
    let (request, _errors) = try_http_to_request(request).unwrap();
    let (response, io) =
        wrpc_interface_http::bindings::wrpc::http::incoming_handler::handle(&caller, None, request)
            .await
            .unwrap();
    if let Some(io) = io {
        tokio::spawn(io);
    }
    let Ok(response) = response else {
        panic!("the component answered with an error code");
    };
    let response = http::Response::<HttpBody>::try_from(response).unwrap();
    assert_eq!(response.status(), 200);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        text,
        "official saw PUT http://example.invalid/via-wrpc 10 bytes from fetch"
    );
    host.shutdown(Duration::from_secs(5)).await;
}

/// POSTs `body` to the fetch component at `addr`, asking it to fetch `url`.
async fn fetch_through(addr: SocketAddr, url: &str, body: &[u8]) -> Option<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    let request = hyper::Request::post("/go")
        .header("host", "localhost")
        .header("x-fetch-url", url)
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    let response = sender.send_request(request).await.ok()?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}
