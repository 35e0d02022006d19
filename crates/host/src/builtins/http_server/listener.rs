//! One HTTP listener of the http-server: accepts connections (TLS when configured),
//! serves HTTP/1.1 and HTTP/2 on each, routes every request to a component and calls
//! its `wasi:http/incoming-handler`: in-process when it runs on this host, else over
//! wRPC (`wrpc:http/incoming-handler@0.1.0.handle`, bodies streamed both ways; 1.9.2
//! fails such requests).
//!
//! Answers of its own: 404 (no route for the path), 400 (host mode without the
//! header, or a request without authority), 413 (a declared body over the limit),
//! 503 (the routed component runs nowhere in the lattice), 502 (the call to another
//! host failed on the way), 403 (that host's policy denied it), 504 (no response head
//! within the timeout), 500 (the component trapped, hit a limit or answered with an
//! error).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use lattice_runtime::InvokeError;
use lattice_runtime::http::{BodyError, HttpServeError, HyperOutgoingBody, Scheme};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::settings::{HEADER_READ_TIMEOUT, RequestLimits, RoutingMode, TlsFiles};
use crate::components::LocalComponents;
use crate::wrpc_http::client::{self as wrpc_http, CallError, Handler, Waits};
use crate::wrpc_http::wire::{HANDLE, INCOMING_HANDLER};

/// Where routed components are reached: on this host, else over wRPC.
#[derive(Clone)]
pub(crate) struct Targets {
    pub(crate) local: LocalComponents,
    /// Unset until the provider has its wRPC client.
    pub(crate) remote: Option<Remote>,
}

/// What a call to a component on another host needs.
#[derive(Clone)]
pub(crate) struct Remote {
    pub(crate) wrpc: lattice_wrpc::WrpcClient,
    pub(crate) lattice: String,
    pub(crate) provider_id: String,
}

/// How long connections get to finish their requests when a listener closes.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// How long a client has to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where one request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) component_id: String,
    pub(crate) limits: RequestLimits,
}

/// The routes of one listener.
#[derive(Debug)]
pub(crate) enum Routes {
    /// Address mode: everything to one component.
    Single(Route),
    /// Path mode: by exact path.
    Path(HashMap<String, Route>),
    /// Host mode: by the value of `header` (compared without case, port ignored when
    /// no route names it).
    Host {
        header: http::HeaderName,
        hosts: HashMap<String, Route>,
    },
}

impl Routes {
    /// Empty routes of a shared listener in `mode`.
    pub(crate) fn shared(mode: &RoutingMode) -> Self {
        match mode {
            RoutingMode::Host { header } => Routes::Host {
                header: header.clone(),
                hosts: HashMap::new(),
            },
            RoutingMode::Path | RoutingMode::Address => Routes::Path(HashMap::new()),
        }
    }

    fn route<B>(&self, request: &Request<B>) -> Result<&Route, Box<Response<HyperOutgoingBody>>> {
        match self {
            Routes::Single(route) => Ok(route),
            Routes::Path(paths) => paths.get(request.uri().path()).ok_or_else(|| {
                Box::new(text(
                    StatusCode::NOT_FOUND,
                    format!("no route for path {}", request.uri().path()),
                ))
            }),
            Routes::Host { header, hosts } => {
                let value = request
                    .headers()
                    .get(header)
                    .and_then(|v| v.to_str().ok())
                    .or_else(|| {
                        (header == http::header::HOST)
                            .then(|| request.uri().authority().map(|a| a.as_str()))
                            .flatten()
                    })
                    .ok_or_else(|| {
                        Box::new(text(
                            StatusCode::BAD_REQUEST,
                            format!("missing header {header}"),
                        ))
                    })?
                    .to_ascii_lowercase();
                let without_port = value.rsplit_once(':').map_or(value.as_str(), |(h, _)| h);
                hosts
                    .get(&value)
                    .or_else(|| hosts.get(without_port))
                    .ok_or_else(|| {
                        Box::new(text(
                            StatusCode::NOT_FOUND,
                            format!("no route for host {value}"),
                        ))
                    })
            }
        }
    }
}

/// A bound listener; closing it (or dropping it) stops accepting and lets the open
/// connections finish within a grace period.
pub(crate) struct Listener {
    pub(crate) routes: Arc<RwLock<Routes>>,
    stop: CancellationToken,
}

impl Listener {
    /// Binds `addr` and starts serving `routes`.
    pub(crate) async fn bind(
        addr: SocketAddr,
        tls: Option<&TlsFiles>,
        routes: Routes,
        targets: Targets,
    ) -> Result<Self, String> {
        let acceptor = tls.map(acceptor).transpose()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let addr = listener.local_addr().unwrap_or(addr);
        let routes = Arc::new(RwLock::new(routes));
        let stop = CancellationToken::new();
        let serving = Arc::new(Serving {
            routes: Arc::clone(&routes),
            targets,
            scheme: if acceptor.is_some() {
                Scheme::Https
            } else {
                Scheme::Http
            },
        });
        tokio::spawn(accept(listener, acceptor, serving, stop.clone()));
        tracing::info!(%addr, tls = tls.is_some(), "http-server listening");
        Ok(Listener { routes, stop })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What the request handler needs.
struct Serving {
    routes: Arc<RwLock<Routes>>,
    targets: Targets,
    scheme: Scheme,
}

fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read tls_cert_file {}: {e}", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("cannot read tls_priv_key_file {}: {e}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS: the certificate and key do not go together: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn accept(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    serving: Arc<Serving>,
    stop: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(%error, "http-server cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let serving = Arc::clone(&serving);
        let service = hyper::service::service_fn(move |request| {
            let serving = Arc::clone(&serving);
            async move { Ok::<_, Infallible>(handle(&serving, request).await) }
        });
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let served = match acceptor {
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let tls =
                        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "http connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(CLOSE_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("http connections still open after the close grace");
    }
}

async fn handle(serving: &Serving, request: Request<Incoming>) -> Response<HyperOutgoingBody> {
    let route = {
        let routes = serving.routes.read().expect("not poisoned");
        match routes.route(&request) {
            Ok(route) => route.clone(),
            Err(response) => return *response,
        }
    };
    let limit = route.limits.max_content_len;
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over the limit of {limit} bytes"),
        );
    }
    let Some(component) = serving.targets.local.get(&route.component_id) else {
        return match &serving.targets.remote {
            Some(remote) => call_remote(remote, &route, &serving.scheme, request).await,
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("component {} does not run on this host", route.component_id),
            ),
        };
    };
    let request = request.map(|body| {
        Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX)).map_err(move |error| {
            if error.is::<LengthLimitError>() {
                BodyError::HttpRequestBodySize(Some(limit))
            } else {
                match error.downcast::<hyper::Error>() {
                    Ok(error) => BodyError::Hyper(*error),
                    Err(other) => BodyError::InternalError(Some(other.to_string())),
                }
            }
        })
    });
    let handled = tokio::time::timeout(
        route.limits.timeout,
        component.handle_http(serving.scheme.clone(), request),
    )
    .await;
    match handled {
        Ok(Ok(response)) => response,
        Ok(Err(HttpServeError::Request(reason))) => text(StatusCode::BAD_REQUEST, reason),
        Ok(Err(HttpServeError::Invoke(InvokeError::DeadlineExceeded { limit }))) => text(
            StatusCode::GATEWAY_TIMEOUT,
            format!("the component ran out of its execution time ({limit:?})"),
        ),
        Ok(Err(error)) => {
            tracing::warn!(component_id = %route.component_id, %error, "http request failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
        }
        Err(_) => text(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the component gave no response within {:?} (timeout_ms)",
                route.limits.timeout
            ),
        ),
    }
}

/// Serves `request` with `route`'s component on another host, over wRPC.
async fn call_remote(
    remote: &Remote,
    route: &Route,
    scheme: &Scheme,
    request: Request<Incoming>,
) -> Response<HyperOutgoingBody> {
    let (mut parts, body) = request.into_parts();
    // The wire carries an absolute request: scheme, authority (from the URI or `Host`), path.
    let authority = parts.uri.authority().map(|a| a.to_string()).or_else(|| {
        parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    });
    let Some(authority) = authority else {
        return text(
            StatusCode::BAD_REQUEST,
            "the request names no authority (no Host header)".into(),
        );
    };
    let scheme = match scheme {
        Scheme::Https => "https",
        _ => "http",
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    parts.uri = match format!("{scheme}://{authority}{path}").parse() {
        Ok(uri) => uri,
        Err(error) => return text(StatusCode::BAD_REQUEST, format!("bad request URI: {error}")),
    };
    let limit = route.limits.max_content_len;
    let body = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let subject = lattice_wrpc::InvocationSubject::new(
        lattice_wrpc::SubjectPrefix::target(&remote.lattice, &route.component_id),
        INCOMING_HANDLER,
        HANDLE,
    );
    let mut headers: async_nats::HeaderMap = lattice_wrpc::InvocationHeaders::new()
        .with_source_id(&remote.provider_id)
        .into();
    lattice_telemetry::propagation::inject(&tracing::Span::current(), &mut headers);
    let waits = Waits {
        head: route.limits.timeout,
        between_bytes: Some(route.limits.timeout),
    };
    let called = wrpc_http::call(
        &remote.wrpc,
        &subject,
        &headers.into(),
        Request::from_parts(parts, body),
        Handler::Incoming,
        waits,
    )
    .await;
    let id = &route.component_id;
    match called {
        Ok(response) => response.map(wrpc_http::wasi_body),
        Err(CallError::NotServed(_)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("component {id} does not run in the lattice"),
        ),
        Err(CallError::Code(lattice_runtime::http::ErrorCode::HttpRequestDenied)) => text(
            StatusCode::FORBIDDEN,
            format!("the policy of component {id}'s host denied the request"),
        ),
        Err(CallError::Code(code)) => {
            tracing::warn!(component_id = %id, ?code, "http request failed on another host");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("component {id} answered with an error: {code:?}"),
            )
        }
        Err(CallError::Transport(error)) => {
            tracing::warn!(component_id = %id, %error, "http request to another host failed");
            text(
                StatusCode::BAD_GATEWAY,
                format!("component {id} on another host: {error}"),
            )
        }
    }
}

/// A plain-text answer of the server's own.
fn text(status: StatusCode, message: String) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(message + "\n"))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
