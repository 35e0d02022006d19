//! The host's side of `lattice-nats`: opening the ctl and rpc connections, and where
//! each NATS error lands among the host's errors (URL problems are configuration
//! errors). [`server_round_trip`] and [`with_url_credentials`] are re-exported for
//! callers that used them from here; new code uses `lattice_nats` directly.

use std::time::Duration;

use async_nats::Client;
use lattice_nats::{NatsAuth, NatsConnectConfig, NatsError, UrlError};

pub use lattice_nats::{server_round_trip, with_url_credentials};

use crate::config::ConfigError;
use crate::error::HostError;

/// Opens the `which` (`ctl` or `rpc`) connection without retrying.
pub(crate) async fn connect(
    which: &'static str,
    config: &NatsConnectConfig,
    request_timeout: Option<Duration>,
    ca_files: &[std::path::PathBuf],
) -> Result<Client, HostError> {
    Ok(lattice_nats::connect(which, config, request_timeout, ca_files).await?)
}

/// The user JWT and seed providers get in HostData for `auth`.
pub(crate) fn provider_credentials(auth: &NatsAuth) -> Result<(String, String), HostError> {
    Ok(lattice_nats::provider_credentials(auth)?)
}

impl From<UrlError> for ConfigError {
    fn from(error: UrlError) -> Self {
        match error {
            UrlError::Invalid { which, url, reason } => ConfigError::NatsUrl { which, url, reason },
            UrlError::CredentialsTwice { which, url } => {
                ConfigError::NatsCredentialsTwice { which, url }
            }
        }
    }
}

impl From<NatsError> for HostError {
    fn from(error: NatsError) -> Self {
        match error {
            NatsError::Url(error) => HostError::Config(error.into()),
            NatsError::Connect { which, url, reason } => {
                HostError::NatsConnect { which, url, reason }
            }
            NatsError::CredsFile { path, reason } => HostError::Credentials { path, reason },
            // A round trip confirms a connection's subscriptions: its failure is theirs.
            NatsError::RoundTrip { reason } => HostError::Subscribe {
                subject: "a round-trip inbox".into(),
                reason,
            },
        }
    }
}
