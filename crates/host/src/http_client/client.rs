//! The builtin http-client's client: pooled HTTP/1.1 and HTTP/2 (ALPN) connections over
//! TCP or rustls, with the roots its config names.
//!
//! Config (the provider's, as 1.9.2 reads it): `load_native_certs` (default `true`: the
//! system's roots), `load_webpki_certs` (default `true`: Mozilla's roots, built in),
//! `ssl_certs_file` (a PEM file of extra roots). Lattice adds `idle_timeout_secs` (how
//! long an idle pooled connection is kept, default 90 s as in 1.9.2).
//!
//! Per request (`wasi:http` request options): `connect-timeout` (default 600 s) bounds
//! opening a connection, `first-byte-timeout` (default 600 s) the wait for the response
//! head (`connection-read-timeout` when it runs out, as in 1.9.2) and, beyond 1.9.2,
//! `between-bytes-timeout` (default none) each wait for the next piece of the response
//! body. A request without a `user-agent` gets `lattice-http-client/{version}`.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lattice_runtime::http::{DnsErrorPayload, ErrorCode, RequestOptions, TlsAlertReceivedPayload};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

type BoxError = Box<dyn StdError + Send + Sync>;
type RequestBody = UnsyncBoxBody<Bytes, BoxError>;

/// How long to wait for a connection or the response head when the request does not say.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// The longest wait for a response head the request `options` allow: a connection, then
/// the first byte.
pub(crate) fn head_wait(options: &RequestOptions) -> Duration {
    let connect = options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT);
    connect.saturating_add(options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT))
}

/// How long an idle pooled connection is kept.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Clients kept for distinct connect timeouts beyond the default.
const MAX_TIMEOUT_CLIENTS: usize = 16;

/// The client's config, read from the provider config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientSettings {
    pub(crate) load_native_certs: bool,
    pub(crate) load_webpki_certs: bool,
    pub(crate) ssl_certs_file: Option<std::path::PathBuf>,
    pub(crate) idle_timeout: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            load_native_certs: true,
            load_webpki_certs: true,
            ssl_certs_file: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl ClientSettings {
    /// Reads the config keys; a value that does not parse is an error naming its key.
    pub(crate) fn from_config(
        config: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let flag = |key: &str| -> Result<bool, String> {
            match config.get(key).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(true),
                Some(v) if v == "true" => Ok(true),
                Some(v) if v == "false" => Ok(false),
                Some(v) => Err(format!("`{key}` must be true or false, not `{v}`")),
            }
        };
        let idle_timeout = match config.get("idle_timeout_secs") {
            None => DEFAULT_IDLE_TIMEOUT,
            Some(v) => Duration::from_secs(v.trim().parse().map_err(|_| {
                format!("`idle_timeout_secs` must be a number of seconds, not `{v}`")
            })?),
        };
        Ok(ClientSettings {
            load_native_certs: flag("load_native_certs")?,
            load_webpki_certs: flag("load_webpki_certs")?,
            ssl_certs_file: config.get("ssl_certs_file").map(Into::into),
            idle_timeout,
        })
    }

    /// The root store these settings name.
    fn roots(&self) -> Result<rustls::RootCertStore, String> {
        let mut roots = rustls::RootCertStore::empty();
        if self.load_native_certs {
            let native = rustls_native_certs::load_native_certs();
            for error in &native.errors {
                tracing::debug!(%error, "a system root certificate was not loaded");
            }
            let (added, ignored) = roots.add_parsable_certificates(native.certs);
            tracing::debug!(added, ignored, "system root certificates");
        }
        if self.load_webpki_certs {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if let Some(path) = &self.ssl_certs_file {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("ssl_certs_file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "ssl_certs_file {}: no PEM certificates in it",
                    path.display()
                ));
            }
            let (_, ignored) = roots.add_parsable_certificates(certs);
            if ignored > 0 {
                return Err(format!(
                    "ssl_certs_file {}: {ignored} certificate(s) cannot be used as roots",
                    path.display()
                ));
            }
        }
        Ok(roots)
    }
}

/// Sends requests for one builtin http-client. Cheap to share.
pub(crate) struct OutgoingClient {
    tls: Arc<rustls::ClientConfig>,
    idle_timeout: Duration,
    /// One pooled client per connect timeout (the connector holds it).
    clients: Mutex<HashMap<Duration, Client<HttpsConnector<HttpConnector>, RequestBody>>>,
}

impl OutgoingClient {
    /// A client with `settings`' roots.
    pub(crate) fn new(settings: &ClientSettings) -> Result<Self, String> {
        let roots = settings.roots()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(OutgoingClient {
            tls: Arc::new(tls),
            idle_timeout: settings.idle_timeout,
            clients: Mutex::new(HashMap::new()),
        })
    }

    fn client(
        &self,
        connect_timeout: Duration,
    ) -> Client<HttpsConnector<HttpConnector>, RequestBody> {
        let mut clients = self.clients.lock().expect("not poisoned");
        let key =
            match clients.contains_key(&connect_timeout) || clients.len() < MAX_TIMEOUT_CLIENTS {
                true => connect_timeout,
                false => DEFAULT_TIMEOUT,
            };
        clients
            .entry(key)
            .or_insert_with(|| {
                let mut http = HttpConnector::new();
                http.enforce_http(false);
                http.set_nodelay(true);
                http.set_connect_timeout(Some(key));
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((*self.tls).clone())
                    .https_or_http()
                    .enable_http1()
                    .enable_http2()
                    .wrap_connector(http);
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(self.idle_timeout)
                    .build(https)
            })
            .clone()
    }

    /// Sends `request` (an absolute URI; `https` when it has no scheme) and returns the
    /// response as soon as its head is in.
    pub(crate) async fn send<B>(
        &self,
        mut request: http::Request<B>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<ResponseBody>, ErrorCode>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let options = options.unwrap_or_default();
        let connect_timeout = options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT);
        let uri = request.uri().clone();
        if uri.authority().is_none() {
            return Err(ErrorCode::HttpRequestUriInvalid);
        }
        if uri.scheme().is_none() {
            let mut parts = uri.into_parts();
            parts.scheme = Some(http::uri::Scheme::HTTPS);
            if parts.path_and_query.is_none() {
                parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
            }
            *request.uri_mut() =
                http::Uri::from_parts(parts).map_err(|_| ErrorCode::HttpRequestUriInvalid)?;
        }
        request
            .headers_mut()
            .entry(http::header::USER_AGENT)
            .or_insert(http::HeaderValue::from_static(concat!(
                "lattice-http-client/",
                env!("CARGO_PKG_VERSION")
            )));
        let request = request.map(|b| b.map_err(Into::into).boxed_unsync());
        let client = self.client(connect_timeout);
        let response = tokio::time::timeout(head_wait(&options), client.request(request))
            .await
            .map_err(|_| ErrorCode::ConnectionReadTimeout)?
            .map_err(|e| error_code(&e))?;
        Ok(response.map(|incoming| ResponseBody {
            incoming,
            between_bytes: options.between_bytes_timeout,
            timer: None,
        }))
    }
}

/// A response body, each wait for more bounded by the between-bytes timeout.
pub(crate) struct ResponseBody {
    incoming: hyper::body::Incoming,
    between_bytes: Option<Duration>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ErrorCode>>> {
        let this = &mut *self;
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer = None;
                Poll::Ready(frame.map(|f| f.map_err(|e| response_error(&e))))
            }
            Poll::Pending => {
                if let Some(limit) = this.between_bytes {
                    let timer = this
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                    if timer.as_mut().poll(cx).is_ready() {
                        this.timer = None;
                        return Poll::Ready(Some(Err(ErrorCode::ConnectionReadTimeout)));
                    }
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

fn response_error(error: &hyper::Error) -> ErrorCode {
    if error.is_timeout() {
        ErrorCode::HttpResponseTimeout
    } else if error.is_incomplete_message() {
        ErrorCode::HttpResponseIncomplete
    } else if error.is_parse() {
        ErrorCode::HttpProtocolError
    } else {
        ErrorCode::ConnectionTerminated
    }
}

/// The `wasi:http` error code of a failed request: the most specific cause found in its
/// chain, else `internal-error` with the whole chain.
fn error_code(error: &hyper_util::client::legacy::Error) -> ErrorCode {
    let mut chain = Vec::new();
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = cause {
        chain.push(e.to_string());
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return match tls {
                rustls::Error::InvalidCertificate(_) => ErrorCode::TlsCertificateError,
                rustls::Error::AlertReceived(alert) => {
                    ErrorCode::TlsAlertReceived(TlsAlertReceivedPayload {
                        alert_id: Some(u8::from(*alert)),
                        alert_message: Some(format!("{alert:?}")),
                    })
                }
                _ => ErrorCode::TlsProtocolError,
            };
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            return response_error(hyper);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return ErrorCode::ConnectionRefused,
                K::TimedOut => return ErrorCode::ConnectionTimeout,
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                    return ErrorCode::ConnectionTerminated;
                }
                K::HostUnreachable | K::NetworkUnreachable => {
                    return ErrorCode::DestinationUnavailable;
                }
                _ => {}
            }
        }
        if e.to_string() == "dns error" {
            return ErrorCode::DnsError(DnsErrorPayload {
                rcode: e.source().map(|s| s.to_string()),
                info_code: None,
            });
        }
        cause = e.source();
    }
    ErrorCode::InternalError(Some(chain.join(": ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_parse_and_bad_values_are_named() {
        let config = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            ClientSettings::from_config(&config(&[])),
            Ok(ClientSettings::default())
        );
        let settings = ClientSettings::from_config(&config(&[
            ("load_native_certs", "FALSE"),
            ("ssl_certs_file", "/etc/x.pem"),
            ("idle_timeout_secs", "5"),
        ]))
        .unwrap();
        assert!(!settings.load_native_certs && settings.load_webpki_certs);
        assert_eq!(settings.idle_timeout, Duration::from_secs(5));
        let error = ClientSettings::from_config(&config(&[("load_webpki_certs", "yes")]));
        assert!(error.unwrap_err().contains("load_webpki_certs"));
    }

    #[test]
    fn a_missing_certs_file_is_named() {
        let settings = ClientSettings {
            load_native_certs: false,
            ssl_certs_file: Some("/nonexistent/roots.pem".into()),
            ..ClientSettings::default()
        };
        let error = OutgoingClient::new(&settings).err().expect("refused");
        assert!(error.contains("/nonexistent/roots.pem"), "{error}");
    }
}
