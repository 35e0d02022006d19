//! The builtin http-server end to end: a real `nats-server`, a real host, the
//! componentize-js hello-world component (built by `scripts/fixtures.sh`) and small
//! components in the text format, reached with HTTP/1.1, HTTP/2 and TLS clients.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use lattice_host::{BuiltinKind, HostConfig};
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::{HTTP_TRAP, fixture, shared_compile_cache, write_component};
use lattice_test_support::{EventWatcher, TestNats, WAIT, ctl_request};
use serde_json::json;

const HELLO: &str = "Hello from JavaScript";

pub(super) fn subjects() -> CtlSubjects {
    CtlSubjects::new("wasmbus.ctl", "default")
}

pub(super) fn settings(c: &mut HostConfig) {
    c.allow_file_load = true;
    c.runtime.cache_dir = Some(shared_compile_cache());
    c.runtime.max_linear_memory_bytes = 256 << 20;
    c.providers.health_interval = Duration::from_millis(200);
}

pub(super) fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

pub(super) struct Lattice {
    pub(super) client: async_nats::Client,
    pub(super) events: EventWatcher,
    pub(super) host: String,
}

impl Lattice {
    pub(super) async fn ok(&self, subject: String, body: serde_json::Value) {
        let reply = ctl_request(&self.client, subject.clone(), body).await;
        assert!(reply.success, "{subject}: {}", reply.message);
    }

    pub(super) async fn scale(&self, id: &str, path: &Path) {
        self.scale_on(&self.host, id, path).await;
    }

    /// Scales component `id` from `path` to 4 on `host`.
    pub(super) async fn scale_on(&self, host: &str, id: &str, path: &Path) {
        let body = json!({"component_id": id, "component_ref": format!("file://{}", path.display()),
            "count": 4, "host_id": host});
        self.ok(subjects().component_scale(host), body).await;
        // A cold compile of the 13 MB fixture takes seconds (more with tests beside it).
        let scaled = self
            .events
            .next_matching_within(
                "component_scaled",
                lattice_test_support::COMPILE_WAIT,
                |e| e.data["component_id"] == id,
            )
            .await
            .unwrap();
        assert_eq!(scaled.data["max_instances"], 4);
    }

    pub(super) async fn config(&self, name: &str, values: serde_json::Value) {
        self.ok(subjects().config_put(name), values).await;
    }

    /// Starts the builtin http-server `id` with the named `config`.
    pub(super) async fn start_server(&self, id: &str, config: &[&str]) {
        let body = json!({"provider_id": id, "provider_ref": "wasmcloud+builtin://http-server",
            "host_id": self.host, "config": config});
        self.ok(subjects().provider_start(&self.host), body).await;
        let started = self
            .events
            .next_matching("provider_started", |e| e.data["provider_id"] == id)
            .await
            .unwrap();
        assert_eq!(started.data["image_ref"], "http-server");
    }

    pub(super) async fn link(&self, server: &str, name: &str, component: &str, config: &str) {
        let link = json!({"source_id": server, "target": component, "name": name,
            "wit_namespace": "wasi", "wit_package": "http", "interfaces": ["incoming-handler"],
            "source_config": [config]});
        self.ok(subjects().link_put(), link).await;
    }
}

pub(super) async fn lattice(
    adjust: impl FnOnce(&mut HostConfig),
) -> (TestNats, lattice_host::Host, Lattice) {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let host = nats
        .start_host(|c| {
            settings(c);
            adjust(c);
        })
        .await
        .unwrap();
    let id = host.id().to_string();
    (
        nats,
        host,
        Lattice {
            client,
            events,
            host: id,
        },
    )
}

/// One request on a fresh connection: HTTP/1.1, or HTTP/2 with prior knowledge.
pub(super) async fn send<S>(
    stream: S,
    h2: bool,
    request: Request<Full<Bytes>>,
) -> (StatusCode, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(stream);
    let response = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    };
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

pub(super) fn request(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .uri(format!("http://localhost{path}"))
        .method(if body.is_empty() { "GET" } else { "POST" });
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap()
}

pub(super) async fn http(
    addr: SocketAddr,
    h2: bool,
    request: Request<Full<Bytes>>,
) -> (StatusCode, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    send(stream, h2, request).await
}

/// Waits until `addr` answers `path` with something other than `not_yet` (the link
/// reaches the provider a moment after `link.put` is acknowledged).
pub(super) async fn ready(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    not_yet: &[StatusCode],
) -> (StatusCode, String) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
            let answer = send(stream, false, request(path, headers, b"")).await;
            if !not_yet.contains(&answer.0) {
                return answer;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr}{path} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn address_mode_serves_a_component_over_http1_and_http2_and_reports_a_taken_address() {
    let hello = fixture("hello-js").unwrap();
    let (_nats, _host, lattice) = lattice(|_| {}).await;
    lattice.scale("hello", &hello).await;
    lattice.start_server("http", &[]).await;
    let addr = free_addr();
    lattice
        .config(
            "site",
            json!({"address": addr.to_string(), "max_content_len": "1K"}),
        )
        .await;
    lattice.link("http", "default", "hello", "site").await;

    assert_eq!(
        ready(addr, "/", &[], &[]).await,
        (StatusCode::OK, HELLO.to_string())
    );
    assert_eq!(
        http(addr, true, request("/any/path", &[], b"")).await,
        (StatusCode::OK, HELLO.to_string())
    );
    // A body within the limit reaches the component; one declared over it does not.
    assert_eq!(
        http(addr, false, request("/", &[], &[b'x'; 512])).await.0,
        StatusCode::OK
    );
    let (status, text) = http(addr, false, request("/", &[], &[b'x'; 2048])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");

    // A second link on the same address fails, loudly: an event and the health.
    lattice.link("http", "second", "hello", "site").await;
    let failed = lattice
        .events
        .next_matching("provider_link_failed", |e| e.data["name"] == "second")
        .await
        .unwrap();
    assert_eq!(failed.data["provider_id"], "http");
    let reason = failed.data["reason"].as_str().unwrap();
    assert!(
        reason.contains(&addr.to_string()) && reason.contains("already served"),
        "{reason}"
    );
    lattice
        .events
        .next_matching("health_check_failed", |e| e.data["provider_id"] == "http")
        .await
        .unwrap();
    // The first link still serves.
    assert_eq!(
        http(addr, false, request("/", &[], b"")).await.0,
        StatusCode::OK
    );

    // A route to a component that runs nowhere: 503 naming it.
    let other = free_addr();
    lattice
        .config("ghost", json!({"address": other.to_string()}))
        .await;
    lattice.link("http", "ghost", "nobody", "ghost").await;
    let (status, text) = ready(other, "/", &[], &[]).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text.contains("nobody"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn path_and_host_modes_route_requests_and_a_trapping_component_gets_a_500() {
    let hello = fixture("hello-js").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let trap = write_component(dir.path(), "trap.wasm", HTTP_TRAP);
    let (_nats, _host, lattice) = lattice(|_| {}).await;
    lattice.scale("hello", &hello).await;
    lattice.scale("trap", &trap).await;

    let by_path = free_addr();
    lattice
        .config(
            "paths",
            json!({"routing_mode": "path", "default_address": by_path.to_string()}),
        )
        .await;
    lattice.start_server("paths", &["paths"]).await;
    lattice
        .config("hello-path", json!({"path": "/hello"}))
        .await;
    lattice.config("trap-path", json!({"path": "/trap"})).await;
    lattice.link("paths", "hello", "hello", "hello-path").await;
    lattice.link("paths", "trap", "trap", "trap-path").await;
    let not_yet = [StatusCode::NOT_FOUND];
    assert_eq!(
        ready(by_path, "/hello", &[], &not_yet).await,
        (StatusCode::OK, HELLO.to_string())
    );
    let (status, text) = ready(by_path, "/trap", &[], &not_yet).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{text}");
    assert!(
        text.contains("unreachable") || text.contains("trap"),
        "{text}"
    );
    assert_eq!(
        http(by_path, false, request("/nope", &[], b"")).await.0,
        StatusCode::NOT_FOUND
    );
    // The host keeps serving after the trap.
    assert_eq!(
        http(by_path, true, request("/hello", &[], b"")).await.0,
        StatusCode::OK
    );
    // The same path twice: the second link fails.
    lattice.link("paths", "again", "trap", "hello-path").await;
    let failed = lattice
        .events
        .next_matching("provider_link_failed", |e| e.data["name"] == "again")
        .await
        .unwrap();
    assert!(
        failed.data["reason"].as_str().unwrap().contains("/hello"),
        "{failed:?}"
    );

    let by_host = free_addr();
    lattice
        .config(
            "hosts",
            json!({"routing_mode": "host", "header": "X-Tenant", "default_address": by_host.to_string()}),
        )
        .await;
    lattice.start_server("hosts", &["hosts"]).await;
    lattice.config("acme", json!({"host": "acme"})).await;
    lattice.link("hosts", "acme", "hello", "acme").await;
    let tenant = [("x-tenant", "ACME")];
    assert_eq!(
        ready(by_host, "/", &tenant, &not_yet).await,
        (StatusCode::OK, HELLO.to_string())
    );
    let (status, text) = http(by_host, false, request("/", &[], b"")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("x-tenant"), "{text}");
    let other = [("x-tenant", "globex")];
    assert_eq!(
        http(by_host, false, request("/", &other, b"")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_from_the_link_config_serves_https_with_http2() {
    let hello = fixture("hello-js").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();

    let (_nats, _host, lattice) = lattice(|_| {}).await;
    lattice.scale("hello", &hello).await;
    lattice.start_server("https", &[]).await;
    let addr = free_addr();
    lattice
        .config(
            "tls",
            json!({"address": addr.to_string(),
            "tls_cert_file": cert_file.display().to_string(),
            "tls_priv_key_file": key_file.display().to_string()}),
        )
        .await;
    lattice.link("https", "default", "hello", "tls").await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let deadline = tokio::time::Instant::now() + WAIT;
    let tcp = loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(tcp) => break tcp,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => panic!("the TLS listener never came up: {e}"),
        }
    };
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let request = Request::builder()
        .uri("https://localhost/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        send(tls, true, request).await,
        (StatusCode::OK, HELLO.to_string())
    );
}

#[tokio::test]
async fn builtins_that_are_off_or_unknown_are_refused_with_a_reply() {
    let (_nats, _host, lattice) = lattice(|c| {
        c.builtins.disabled.insert(BuiltinKind::HttpServer);
        c.builtins.disabled.insert(BuiltinKind::HttpClient);
    })
    .await;
    for (reference, expected) in [
        ("wasmcloud+builtin://http-server", "turned off on this host"),
        (
            "wasmcloud+builtin://http-client",
            "--disable-builtin http-client",
        ),
        ("wasmcloud+builtin://smtp", "unknown builtin provider"),
    ] {
        let body = json!({"provider_id": "b", "provider_ref": reference, "host_id": lattice.host});
        let reply = ctl_request(
            &lattice.client,
            subjects().provider_start(&lattice.host),
            body,
        )
        .await;
        assert!(!reply.success, "{reference}");
        assert!(
            reply.message.contains(expected),
            "{reference}: {}",
            reply.message
        );
    }
}
