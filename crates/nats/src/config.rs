//! How to reach one NATS server: the URL (with any credentials in it), the credentials
//! beside it, and the URL as it may be shown (passwords and tokens hidden).

use std::path::PathBuf;

use crate::error::UrlError;

/// How to reach and authenticate to one NATS server.
///
/// The URL keeps everything it was given: its scheme (`nats`, `tls` — which requires
/// TLS —, `ws`, `wss`) and any credentials in it (`nats://user:password@host:4222`, or
/// `nats://token@host:4222`), which [`crate::connect`] sends. A comma-separated
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
pub enum UrlCredentials {
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
        redact_url(&self.url)
    }

    /// The credentials in the URL, checked: every server of a list must carry the same
    /// ones (the client sends one set), and they exclude a JWT or creds file.
    pub fn url_credentials(&self, which: &'static str) -> Result<Option<UrlCredentials>, UrlError> {
        let bad_url = |reason: String| UrlError::Invalid {
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
            return Err(UrlError::CredentialsTwice {
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
pub fn redact_url(url: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn url_credentials(url: &str) -> Result<Option<UrlCredentials>, UrlError> {
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
            matches!(err, UrlError::CredentialsTwice { which: "rpc", .. }),
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
