//! How a host or the CLI talks to registries: which may be plain HTTP, which CAs are
//! trusted, which credentials go to which registry.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

use crate::error::OciError;

/// Credentials for one registry. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// A bearer token.
    Token(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<hidden>")
                .finish(),
            Credential::Token(_) => f.write_str("Token(<hidden>)"),
        }
    }
}

impl Credential {
    pub(crate) fn auth(&self) -> RegistryAuth {
        match self {
            Credential::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Credential::Token(token) => RegistryAuth::Bearer(token.clone()),
        }
    }
}

/// One entry of a `registry.put` request (spec §3.1): `{"username"?, "password"?,
/// "token"?, "registryType"}`.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryCredential {
    /// User name, with `password`.
    #[serde(default)]
    pub username: Option<String>,
    /// Password, with `username`.
    #[serde(default)]
    pub password: Option<String>,
    /// A bearer token, alone.
    #[serde(default)]
    pub token: Option<String>,
    /// Only `oci` exists (the default).
    #[serde(default)]
    pub registry_type: Option<String>,
}

impl fmt::Debug for RegistryCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCredential")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .field("registry_type", &self.registry_type)
            .finish()
    }
}

impl RegistryCredential {
    /// The credential this entry gives (`None`: anonymous), or why it gives none. As in
    /// 1.9.2: user and password, or a token alone, or nothing.
    pub fn credential(&self) -> Result<Option<Credential>, String> {
        if let Some(kind) = self.registry_type.as_deref()
            && !kind.eq_ignore_ascii_case("oci")
        {
            return Err(format!(
                "registry type `{kind}` is not supported (only `oci`)"
            ));
        }
        match (&self.username, &self.password, &self.token) {
            (Some(username), Some(password), _) => Ok(Some(Credential::Basic {
                username: username.clone(),
                password: password.clone(),
            })),
            (None, None, Some(token)) => Ok(Some(Credential::Token(token.clone()))),
            (None, None, None) => Ok(None),
            _ => Err("give a username with a password, or a token alone".to_string()),
        }
    }
}

/// How registries are reached.
#[derive(Clone, Debug, Default)]
pub struct RegistrySettings {
    /// Whether `:latest` (or no tag) may be pulled (`--allow-latest`).
    pub allow_latest: bool,
    /// Registries (`host[:port]`) reached over plain HTTP (`--allowed-insecure`).
    pub allowed_insecure: Vec<String>,
    /// PEM files of CAs trusted besides the built-in roots (`--tls-ca-path`).
    pub ca_paths: Vec<PathBuf>,
    /// Credentials by registry (`--oci-registry` with `--oci-user`/`--oci-password`).
    pub credentials: BTreeMap<String, Credential>,
}

/// The client configuration for these settings, with the CA files read.
pub(crate) fn client_config(
    allowed_insecure: &[String],
    ca_certificates: &[Certificate],
) -> ClientConfig {
    ClientConfig {
        protocol: if allowed_insecure.is_empty() {
            ClientProtocol::Https
        } else {
            ClientProtocol::HttpsExcept(allowed_insecure.to_vec())
        },
        extra_root_certificates: ca_certificates.to_vec(),
        // Artifacts are single-platform: an image index is an error, not a guess.
        platform_resolver: None,
        connect_timeout: Some(std::time::Duration::from_secs(10)),
        read_timeout: Some(std::time::Duration::from_secs(60)),
        user_agent: concat!("lattice/", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    }
}

/// Reads the CA files (PEM) named by `--tls-ca-path`.
pub(crate) fn read_ca_files(paths: &[PathBuf]) -> Result<Vec<Certificate>, OciError> {
    paths
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map(|data| Certificate {
                    encoding: CertificateEncoding::Pem,
                    data,
                })
                .map_err(|e| OciError::io(format!("reading the CA file {}", path.display()), e))
        })
        .collect()
}
