//! The http-server's settings: the provider config (routing mode, shared listener,
//! defaults) and each link's config (address, path or host, limits, TLS), keys as the
//! 1.x http-server provider names them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where requests go by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RoutingMode {
    /// Each link binds its own listener at its `address` (the default).
    Address,
    /// One listener at `default_address`; a link's `path` is matched exactly.
    Path,
    /// One listener at `default_address`; a link's `host` is matched against `header`.
    Host { header: http::HeaderName },
}

/// The default listening address (`default_address`).
pub(crate) const DEFAULT_ADDRESS: &str = "0.0.0.0:8000";
/// How long a component has to produce the response head (`timeout_ms`).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest request body taken (`max_content_len`).
pub(crate) const DEFAULT_MAX_CONTENT_LEN: u64 = 100 * 1024 * 1024;
/// How long a client has to send a request's head (slow clients are cut off).
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-request limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestLimits {
    pub(crate) timeout: Duration,
    pub(crate) max_content_len: u64,
}

/// A certificate chain and key, PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// The provider's own config.
#[derive(Clone, Debug)]
pub(crate) struct ServerSettings {
    pub(crate) mode: RoutingMode,
    pub(crate) default_address: SocketAddr,
    pub(crate) limits: RequestLimits,
    /// TLS of the shared listener (path and host modes), or the default of address mode.
    pub(crate) tls: Option<TlsFiles>,
}

/// What a link asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinkSettings {
    /// Address mode: where to listen.
    pub(crate) address: SocketAddr,
    /// Path mode: the path routed to the component.
    pub(crate) path: Option<String>,
    /// Host mode: the host routed to the component.
    pub(crate) host: Option<String>,
    pub(crate) limits: RequestLimits,
    pub(crate) tls: Option<TlsFiles>,
}

impl ServerSettings {
    /// Reads the provider config.
    pub(crate) fn from_config(config: &BTreeMap<String, String>) -> Result<Self, String> {
        let mode = match config
            .get("routing_mode")
            .map(|m| m.trim().to_ascii_lowercase())
        {
            None => RoutingMode::Address,
            Some(m) if m == "address" => RoutingMode::Address,
            Some(m) if m == "path" => RoutingMode::Path,
            Some(m) if m == "host" => {
                let header = config.get("header").map_or("host", |h| h.trim());
                let header = http::HeaderName::try_from(header.to_ascii_lowercase())
                    .map_err(|e| format!("`header` = `{header}`: {e}"))?;
                RoutingMode::Host { header }
            }
            Some(other) => {
                return Err(format!(
                    "`routing_mode` = `{other}`: expected address, path or host"
                ));
            }
        };
        let default_address = parse_address(
            "default_address",
            config
                .get("default_address")
                .map_or(DEFAULT_ADDRESS, |a| a.trim()),
        )?;
        let defaults = RequestLimits {
            timeout: DEFAULT_TIMEOUT,
            max_content_len: DEFAULT_MAX_CONTENT_LEN,
        };
        Ok(ServerSettings {
            mode,
            default_address,
            limits: limits(config, defaults)?,
            tls: tls(config)?,
        })
    }

    /// Reads a link's config (merged over the provider's where a key is missing).
    pub(crate) fn link(&self, config: &BTreeMap<String, String>) -> Result<LinkSettings, String> {
        let address = match config.get("address") {
            Some(address) => parse_address("address", address.trim())?,
            None => self.default_address,
        };
        let path = config.get("path").map(|p| p.trim().to_string());
        let host = config.get("host").map(|h| h.trim().to_ascii_lowercase());
        match (&self.mode, &path, &host) {
            (RoutingMode::Path, None, _) => {
                return Err("routing_mode is path but the link config has no `path`".into());
            }
            (RoutingMode::Path, Some(p), _) if !p.starts_with('/') => {
                return Err(format!("`path` = `{p}`: a path starts with `/`"));
            }
            (RoutingMode::Host { .. }, _, None) => {
                return Err("routing_mode is host but the link config has no `host`".into());
            }
            _ => {}
        }
        Ok(LinkSettings {
            address,
            path,
            host,
            limits: limits(config, self.limits)?,
            tls: tls(config)?.or_else(|| self.tls.clone()),
        })
    }
}

fn parse_address(key: &str, text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|e| format!("`{key}` = `{text}`: {e} (expected IP:PORT, e.g. 0.0.0.0:8000)"))
}

fn limits(
    config: &BTreeMap<String, String>,
    defaults: RequestLimits,
) -> Result<RequestLimits, String> {
    let timeout = match config.get("timeout_ms") {
        Some(ms) => Duration::from_millis(
            ms.trim()
                .parse()
                .map_err(|e| format!("`timeout_ms` = `{ms}`: {e}"))?,
        ),
        None => defaults.timeout,
    };
    let max_content_len = match config.get("max_content_len") {
        Some(len) => {
            parse_size(len.trim()).map_err(|e| format!("`max_content_len` = `{len}`: {e}"))?
        }
        None => defaults.max_content_len,
    };
    Ok(RequestLimits {
        timeout,
        max_content_len,
    })
}

/// `1048576`, `512K`, `10M`, `1G` (binary multiples).
fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| "expected a size such as 10M".to_string())?;
    let factor = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        other => return Err(format!("unknown unit `{other}` (B, K, M or G)")),
    };
    n.checked_mul(factor).ok_or_else(|| "too large".to_string())
}

fn tls(config: &BTreeMap<String, String>) -> Result<Option<TlsFiles>, String> {
    match (config.get("tls_cert_file"), config.get("tls_priv_key_file")) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: PathBuf::from(cert.trim()),
            key: PathBuf::from(key.trim()),
        })),
        (None, None) => Ok(None),
        _ => Err("TLS needs both `tls_cert_file` and `tls_priv_key_file`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_address_mode_on_port_8000() {
        let settings = ServerSettings::from_config(&BTreeMap::new()).unwrap();
        assert_eq!(settings.mode, RoutingMode::Address);
        assert_eq!(settings.default_address, "0.0.0.0:8000".parse().unwrap());
        assert_eq!(settings.limits.timeout, DEFAULT_TIMEOUT);
        assert_eq!(settings.limits.max_content_len, DEFAULT_MAX_CONTENT_LEN);
        let link = settings
            .link(&map(&[("address", "127.0.0.1:9000")]))
            .unwrap();
        assert_eq!(link.address, "127.0.0.1:9000".parse().unwrap());
    }

    #[test]
    fn modes_and_their_link_keys() {
        let path = ServerSettings::from_config(&map(&[("routing_mode", "path")])).unwrap();
        assert!(path.link(&BTreeMap::new()).unwrap_err().contains("`path`"));
        assert_eq!(
            path.link(&map(&[("path", "/hello")]))
                .unwrap()
                .path
                .as_deref(),
            Some("/hello")
        );
        let host = ServerSettings::from_config(&map(&[
            ("routing_mode", "host"),
            ("header", "X-Forwarded-Host"),
        ]))
        .unwrap();
        assert_eq!(
            host.mode,
            RoutingMode::Host {
                header: http::HeaderName::from_static("x-forwarded-host")
            }
        );
        assert_eq!(
            host.link(&map(&[("host", "Example.COM")]))
                .unwrap()
                .host
                .as_deref(),
            Some("example.com")
        );
        let bad = ServerSettings::from_config(&map(&[("routing_mode", "port")])).unwrap_err();
        assert!(bad.contains("routing_mode"), "{bad}");
    }

    #[test]
    fn limits_and_sizes() {
        let settings = ServerSettings::from_config(&map(&[("max_content_len", "10M")])).unwrap();
        assert_eq!(settings.limits.max_content_len, 10 << 20);
        let link = settings
            .link(&map(&[("timeout_ms", "250"), ("max_content_len", "512")]))
            .unwrap();
        assert_eq!(link.limits.timeout, Duration::from_millis(250));
        assert_eq!(link.limits.max_content_len, 512);
        assert!(parse_size("12Q").is_err());
        assert!(settings.link(&map(&[("tls_cert_file", "/c.pem")])).is_err());
    }
}
