//! The admin endpoint (`--http-admin ADDR`), for orchestrators and scrapers:
//!
//! - `GET|HEAD /livez`: `{"status":"ok"}` while the host runs (1.9.2's answer);
//! - `GET|HEAD /readyz`: `{"status":"ok"}` (200) once the control subscriptions exist and
//!   the lattice state has been read, `{"status":"failure"}` (500) before that and from
//!   the moment the host begins to stop (1.9.2 says ready from the start);
//! - `GET /metrics`: the host's metrics in the OpenMetrics text format (see
//!   [`crate::metrics`]), which 1.9.2 lacks.
//!
//! Other paths are 404, other methods 405. The endpoint serves until the host has
//! stopped, so `/readyz` is seen failing while it drains.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::HostError;
use crate::metrics::Metrics;
use crate::providers::ProviderManager;

/// What the endpoint reads.
pub(crate) struct Admin {
    pub(crate) ready: watch::Receiver<bool>,
    pub(crate) metrics: Metrics,
    pub(crate) providers: ProviderManager,
    pub(crate) connections: [(&'static str, async_nats::Client); 2],
}

/// Binds `addr` (at start, so a host that cannot serve it does not start).
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, HostError> {
    TcpListener::bind(addr).await.map_err(|e| HostError::Admin {
        addr,
        reason: e.to_string(),
    })
}

/// Serves until `token` is cancelled.
#[tracing::instrument(name = "admin", skip_all, fields(addr = ?listener.local_addr().ok()))]
pub(crate) async fn serve(listener: TcpListener, admin: Arc<Admin>, token: CancellationToken) {
    loop {
        let stream = tokio::select! {
            _ = token.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept an admin connection");
                    continue;
                }
            },
        };
        let admin = admin.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let admin = admin.clone();
                async move { Ok::<_, Infallible>(admin.respond(&request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                _ = token.cancelled() => {}
                result = connection => if let Err(error) = result {
                    tracing::debug!(%error, "admin connection ended");
                },
            }
        });
    }
}

impl Admin {
    async fn respond(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path();
        let method = request.method();
        let status_only = |ok: bool| {
            let (code, text) = match ok {
                true => (StatusCode::OK, r#"{"status":"ok"}"#),
                false => (StatusCode::INTERNAL_SERVER_ERROR, r#"{"status":"failure"}"#),
            };
            reply(
                code,
                "application/json",
                text.into(),
                method == Method::HEAD,
            )
        };
        match (path, method) {
            ("/livez" | "/readyz" | "/metrics", m) if m != Method::GET && m != Method::HEAD => {
                reply(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "text/plain",
                    "method not allowed\n".into(),
                    false,
                )
            }
            ("/livez", _) => status_only(true),
            ("/readyz", _) => status_only(*self.ready.borrow()),
            ("/metrics", _) => {
                let text = self.render().await;
                reply(
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    text,
                    method == Method::HEAD,
                )
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                "not found\n".into(),
                false,
            ),
        }
    }

    async fn render(&self) -> String {
        let states = self.providers.states().await;
        let states: Vec<(&str, i64)> = states.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        let connections: Vec<(&str, &async_nats::Client)> =
            self.connections.iter().map(|(n, c)| (*n, c)).collect();
        self.metrics.render(&states, &connections)
    }
}

fn reply(
    status: StatusCode,
    content_type: &str,
    body: String,
    head: bool,
) -> Response<Full<Bytes>> {
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(body)
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(body))
        .expect("static responses are valid")
}
