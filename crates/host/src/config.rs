//! Host configuration: a plain, typed struct the binary builds from flags and env and
//! tests build directly. [`HostConfig::validate`] checks everything before anything starts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use lattice_proto::Level;

use crate::providers::ProviderSettings;
use lattice_proto::subjects::{DEFAULT_CTL_PREFIX, is_subject_token};

/// How to reach and authenticate to one NATS server.
///
/// The URL keeps everything it was given: its scheme (`nats`, `tls` — which requires
/// TLS —, `ws`, `wss`) and any credentials in it (`nats://user:password@host:4222`, or
/// `nats://token@host:4222`), which the host sends when it connects. A comma-separated
/// list of server URLs is accepted too. Show [`NatsConnectConfig::display_url`], never
/// `url`, to anyone: it hides the password or token.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsConnectConfig {
    /// Server URL, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// Credentials (besides any in the URL; a URL with credentials needs `Anonymous`).
    pub auth: NatsAuth,
}

impl std::fmt::Debug for NatsConnectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConnectConfig")
            .field("url", &self.display_url())
            .field("auth", &self.auth)
            .finish()
    }
}

/// Credentials carried in a NATS URL (`user:password@` or `token@`), percent-decoded.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum UrlCredentials {
    /// `user:password@`.
    UserPassword {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// `token@` (a user name without a password is a token, as in every NATS client).
    Token(String),
}

impl std::fmt::Debug for UrlCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlCredentials::UserPassword { user, .. } => {
                write!(f, "UserPassword {{ user: {user:?}, .. }}")
            }
            UrlCredentials::Token(_) => f.write_str("Token(..)"),
        }
    }
}

impl NatsConnectConfig {
    /// An anonymous connection to `url`.
    pub fn anonymous(url: impl Into<String>) -> Self {
        NatsConnectConfig {
            url: url.into(),
            auth: NatsAuth::Anonymous,
        }
    }

    /// The URL with any password or token replaced by `***`, for logs, errors and replies.
    pub fn display_url(&self) -> String {
        redact_nats_url(&self.url)
    }

    /// The credentials in the URL, checked: every server of a list must carry the same
    /// ones (the client sends one set), and they exclude a JWT or creds file.
    pub(crate) fn url_credentials(
        &self,
        which: &'static str,
    ) -> Result<Option<UrlCredentials>, ConfigError> {
        let bad_url = |reason: String| ConfigError::NatsUrl {
            which,
            url: self.display_url(),
            reason,
        };
        let mut found: Option<Option<UrlCredentials>> = None;
        for server in self.url.split(',').map(str::trim) {
            let credentials = server_url_credentials(server).map_err(bad_url)?;
            match &found {
                None => found = Some(credentials),
                Some(first) if *first == credentials => {}
                Some(_) => {
                    return Err(bad_url(
                        "its servers carry different credentials; give the same to each".into(),
                    ));
                }
            }
        }
        let credentials = found.flatten();
        if credentials.is_some() && self.auth != NatsAuth::Anonymous {
            return Err(ConfigError::NatsCredentialsTwice {
                which,
                url: self.display_url(),
            });
        }
        Ok(credentials)
    }
}

/// Parses one server URL as async-nats does (`host:port` means `nats://host:port`) and
/// returns the credentials in it.
fn server_url_credentials(server: &str) -> Result<Option<UrlCredentials>, String> {
    let url = if server.contains("://") {
        url::Url::parse(server)
    } else {
        url::Url::parse(&format!("nats://{server}"))
    }
    .map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "nats" | "tls" | "ws" | "wss") {
        return Err(format!(
            "unknown scheme `{}` (expected nats, tls, ws or wss)",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it names no host".into());
    }
    let user = percent_decode(url.username())?;
    Ok(match (user, url.password()) {
        (user, None) if user.is_empty() => None,
        (token, None) => Some(UrlCredentials::Token(token)),
        (user, Some(password)) => Some(UrlCredentials::UserPassword {
            user,
            password: percent_decode(password)?,
        }),
    })
}

/// Decodes `%XX` escapes (URL user names and passwords are kept encoded).
fn percent_decode(s: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail
                .get(..2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a `%` in its credentials is not followed by two hex digits")?;
            bytes.push(hex);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| "its credentials are not UTF-8 once decoded".into())
}

/// `url` (one NATS URL or a comma-separated list) with every password or token replaced
/// by `***`; works on text, so even a URL that does not parse is shown safely.
fn redact_nats_url(url: &str) -> String {
    url.split(',')
        .map(|server| {
            let Some((scheme, rest)) = server.split_once("://") else {
                return redact_authority(server, "");
            };
            redact_authority(rest, &format!("{scheme}://"))
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn redact_authority(rest: &str, prefix: &str) -> String {
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let shown = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_string(),
            };
            format!("{prefix}{shown}@{host}{path}")
        }
        None => format!("{prefix}{rest}"),
    }
}

/// NATS credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum NatsAuth {
    /// No credentials.
    Anonymous,
    /// A user JWT and the nkey seed (`SU…`) that signs the server's nonce.
    Jwt {
        /// The user JWT.
        jwt: String,
        /// The user nkey seed.
        seed: String,
    },
    /// A `.creds` file holding both.
    CredsFile(PathBuf),
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NatsAuth::Anonymous => f.write_str("Anonymous"),
            NatsAuth::Jwt { .. } => f.write_str("Jwt { .. }"),
            NatsAuth::CredsFile(p) => f.debug_tuple("CredsFile").field(p).finish(),
        }
    }
}

/// Everything a host needs to run.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Lattice name (one subject token).
    pub lattice: String,
    /// Control-interface subject prefix (default `wasmbus.ctl`).
    pub ctl_prefix: String,
    /// Server nkey seed (`SN…`); a new key is generated when `None`.
    pub host_seed: Option<String>,
    /// Human-friendly name; a random `adjective-noun-NNNN` when `None`.
    pub friendly_name: Option<String>,
    /// Labels added to the built-in `hostcore.*` ones; a `hostcore.*` key here replaces
    /// the built-in value (as `--label` does in the 1.x host; `label.put` cannot).
    pub labels: BTreeMap<String, String>,
    /// The control connection: ctl interface, events, JetStream.
    pub ctl_nats: NatsConnectConfig,
    /// The rpc connection: everything provider-facing.
    pub rpc_nats: NatsConnectConfig,
    /// JetStream domain, if any.
    pub js_domain: Option<String>,
    /// Interval between `host_heartbeat` events.
    pub heartbeat_interval: Duration,
    /// Request timeout on the rpc connection, also sent to providers.
    pub rpc_timeout: Duration,
    /// Deadline of a `host.stop` that names none.
    pub default_stop_timeout: Duration,
    /// At most this many control requests are handled at once.
    pub max_concurrent_ctl: usize,
    /// Control requests with a larger payload are refused.
    pub max_ctl_payload: usize,
    /// Log level handed to providers.
    pub log_level: Level,
    /// Whether providers are asked for structured logs.
    pub structured_logging: bool,
    /// Whether `file://` provider references may be loaded (default false, as in 1.x).
    pub allow_file_load: bool,
    /// Serve `/livez`, `/readyz` and `/metrics` on this address (`--http-admin`).
    pub http_admin: Option<std::net::SocketAddr>,
    /// Whether this host answers `provider.auction` (default true, as in 1.x).
    pub provider_auction: bool,
    /// Whether this host answers `component.auction` (default true, as in 1.x; lattice
    /// hosts run no components yet, so they never bid).
    pub component_auction: bool,
    /// How providers are supervised.
    pub providers: ProviderSettings,
}

impl HostConfig {
    /// Defaults of the official host, with both connections anonymous to `nats_url`.
    pub fn new(nats_url: impl Into<String>) -> Self {
        let nats = NatsConnectConfig::anonymous(nats_url);
        HostConfig {
            lattice: "default".to_string(),
            ctl_prefix: DEFAULT_CTL_PREFIX.to_string(),
            host_seed: None,
            friendly_name: None,
            labels: BTreeMap::new(),
            ctl_nats: nats.clone(),
            rpc_nats: nats,
            js_domain: None,
            heartbeat_interval: Duration::from_secs(30),
            rpc_timeout: Duration::from_millis(2000),
            default_stop_timeout: Duration::from_secs(10),
            max_concurrent_ctl: 64,
            max_ctl_payload: 512 * 1024,
            log_level: Level::Info,
            structured_logging: false,
            allow_file_load: false,
            http_admin: None,
            provider_auction: true,
            component_auction: true,
            providers: ProviderSettings::default(),
        }
    }

    /// Checks every field; the error names the first one that is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !is_subject_token(&self.lattice) {
            return Err(ConfigError::Lattice(self.lattice.clone()));
        }
        let prefix_ok =
            !self.ctl_prefix.is_empty() && self.ctl_prefix.split('.').all(is_subject_token);
        if !prefix_ok {
            return Err(ConfigError::CtlPrefix(self.ctl_prefix.clone()));
        }
        if let Some(seed) = &self.host_seed {
            crate::identity::server_key_from_seed(seed)?;
        }
        for (name, d) in [
            ("heartbeat interval", self.heartbeat_interval),
            ("rpc timeout", self.rpc_timeout),
            ("health check interval", self.providers.health_interval),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(name));
            }
        }
        if self.providers.health_failures == Some(0) {
            return Err(ConfigError::ZeroLimit(
                "number of failed health checks before a restart",
            ));
        }
        if self.providers.restart.max_starts == Some(0) {
            return Err(ConfigError::ZeroLimit(
                "number of starts in the restart window",
            ));
        }
        if self.max_concurrent_ctl == 0 {
            return Err(ConfigError::ZeroLimit("max concurrent control requests"));
        }
        for (which, nats) in [("ctl", &self.ctl_nats), ("rpc", &self.rpc_nats)] {
            nats.url_credentials(which)?;
            if let NatsAuth::Jwt { seed, .. } = &nats.auth {
                nkeys::KeyPair::from_seed(seed).map_err(|e| ConfigError::NatsSeed {
                    which,
                    reason: e.to_string(),
                })?;
            }
        }
        Ok(())
    }
}

/// A configuration value that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The lattice name is not one subject token.
    #[error(
        "invalid lattice name `{0}`: it must be one NATS subject token (no `.`, `*`, `>` or spaces)"
    )]
    Lattice(String),
    /// The ctl prefix is not a dotted list of tokens.
    #[error("invalid control topic prefix `{0}`: it must be dot-separated NATS subject tokens")]
    CtlPrefix(String),
    /// The host seed is not a server nkey seed.
    #[error("invalid host seed: {0}")]
    HostSeed(String),
    /// A duration that must be positive is zero.
    #[error("the {0} must be greater than zero")]
    ZeroDuration(&'static str),
    /// A limit that must be positive is zero.
    #[error("the {0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// A NATS URL cannot be used.
    #[error("invalid NATS URL `{url}` for the {which} connection: {reason}")]
    NatsUrl {
        /// `ctl` or `rpc`.
        which: &'static str,
        /// The URL, password hidden.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A NATS URL carries credentials and the connection has a JWT or creds file too.
    #[error(
        "the {which} connection has credentials both in its URL `{url}` and as a JWT or creds file; give one"
    )]
    NatsCredentialsTwice {
        /// `ctl` or `rpc`.
        which: &'static str,
        /// The URL, password hidden.
        url: String,
    },
    /// A NATS user seed does not parse.
    #[error("invalid NATS seed for the {which} connection: {reason}")]
    NatsSeed {
        /// `ctl` or `rpc`.
        which: &'static str,
        /// What nkeys said.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        HostConfig::new("nats://127.0.0.1:4222").validate().unwrap();
    }

    #[test]
    fn a_default_staged_stop_fits_in_the_two_seconds_wash_waits() {
        let providers = HostConfig::new("nats://x").providers;
        let whole = providers.shutdown_grace + providers.term_grace;
        assert!(whole < std::time::Duration::from_secs(2), "{whole:?}");
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = HostConfig::new("nats://x");
        c.lattice = "a.b".into();
        assert!(c.validate().unwrap_err().to_string().contains("`a.b`"));

        let mut c = HostConfig::new("ftp://x");
        c.rpc_nats = NatsConnectConfig::anonymous("nats://x");
        let err = c.validate().unwrap_err();
        assert!(
            matches!(err, ConfigError::NatsUrl { which: "ctl", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("`ftp://x`"), "{err}");

        let mut c = HostConfig::new("nats://x");
        c.host_seed = Some("SUnotaseed".into());
        assert!(matches!(c.validate(), Err(ConfigError::HostSeed(_))));

        let mut c = HostConfig::new("nats://x");
        c.heartbeat_interval = Duration::ZERO;
        assert!(c.validate().unwrap_err().to_string().contains("heartbeat"));
    }

    #[test]
    fn hostcore_labels_may_be_given_at_start() {
        let mut c = HostConfig::new("nats://x");
        c.labels.insert("hostcore.os".into(), "plan9".into());
        c.labels
            .insert(String::new(), "1.x takes an empty key too".into());
        c.validate().unwrap();
    }

    fn url_credentials(url: &str) -> Result<Option<UrlCredentials>, ConfigError> {
        NatsConnectConfig::anonymous(url).url_credentials("ctl")
    }

    #[test]
    fn url_credentials_are_read_and_decoded() {
        let user_password = |user: &str, password: &str| {
            Some(UrlCredentials::UserPassword {
                user: user.into(),
                password: password.into(),
            })
        };
        assert_eq!(
            url_credentials("nats://user:pass@127.0.0.1:4222").unwrap(),
            user_password("user", "pass")
        );
        assert_eq!(
            url_credentials("tls://us%40r:p%3Ass%2F@nats.example:4443").unwrap(),
            user_password("us@r", "p:ss/")
        );
        assert_eq!(
            url_credentials("nats://s3cr3t@127.0.0.1").unwrap(),
            Some(UrlCredentials::Token("s3cr3t".into()))
        );
        assert_eq!(url_credentials("nats://127.0.0.1:4222").unwrap(), None);
        assert_eq!(url_credentials("127.0.0.1:4222").unwrap(), None);
        assert_eq!(
            url_credentials("nats://u:p@a:4222, nats://u:p@b:4222").unwrap(),
            user_password("u", "p")
        );
    }

    #[test]
    fn bad_url_credentials_are_refused_without_showing_them() {
        for (url, says) in [
            (
                "nats://u:p@a:4222,nats://u:q@b:4222",
                "different credentials",
            ),
            ("nats://u:p%zz@a", "two hex digits"),
            ("http://u:p@a", "unknown scheme `http`"),
            ("nats://u:p@", "empty host"),
        ] {
            let err = url_credentials(url).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
            assert!(!err.contains(":p@") && !err.contains(":q@"), "{err}");
        }
        let twice = NatsConnectConfig {
            url: "nats://u:p@a".into(),
            auth: NatsAuth::CredsFile("/x.creds".into()),
        };
        let err = twice.url_credentials("rpc").unwrap_err();
        assert!(
            matches!(err, ConfigError::NatsCredentialsTwice { which: "rpc", .. }),
            "{err}"
        );
    }

    #[test]
    fn display_url_hides_passwords_and_tokens() {
        let shown = |url: &str| NatsConnectConfig::anonymous(url).display_url();
        assert_eq!(shown("tls://user:pass@h:4222"), "tls://user:***@h:4222");
        assert_eq!(shown("nats://tok@h"), "nats://***@h");
        assert_eq!(shown("nats://h:4222"), "nats://h:4222");
        assert_eq!(
            shown("u:p@h:1,nats://a:b@c/x"),
            "u:***@h:1,nats://a:***@c/x"
        );
        let debug = format!("{:?}", NatsConnectConfig::anonymous("nats://u:pw@h"));
        assert!(!debug.contains("pw"), "{debug}");
    }
}
