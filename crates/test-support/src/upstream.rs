//! A local HTTP/1.1 server for outgoing-HTTP tests: `/echo` answers with the request
//! body; any other path with what it saw, `{method} {path} {body length} bytes
//! x-from={x-from header or -}`.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

/// Starts the server on a free loopback port; it runs until the runtime ends.
pub async fn http_upstream() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(
                |req: hyper::Request<hyper::body::Incoming>| async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await?.to_bytes();
                    if parts.uri.path() == "/echo" {
                        return Ok::<_, hyper::Error>(hyper::Response::new(Full::new(body)));
                    }
                    let from = parts
                        .headers
                        .get("x-from")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    let seen = format!(
                        "{} {} {} bytes x-from={from}",
                        parts.method,
                        parts.uri.path(),
                        body.len()
                    );
                    Ok(hyper::Response::new(Full::new(Bytes::from(seen))))
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    Ok(addr)
}
