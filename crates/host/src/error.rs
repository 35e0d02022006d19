//! Errors at the host library's boundary.

use crate::config::ConfigError;

/// Why a host could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A NATS connection could not be opened.
    #[error("cannot connect the {which} connection to NATS at {url}: {reason}")]
    NatsConnect {
        /// `ctl` or `rpc`.
        which: &'static str,
        /// The URL tried.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A control-interface subscription could not be made.
    #[error("cannot subscribe to {subject}: {reason}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// What went wrong.
        reason: String,
    },
    /// The registry settings cannot be used (a CA file that cannot be read).
    #[error("cannot set up registry access: {0}")]
    Registry(#[from] lattice_artifacts::OciError),
    /// A credentials file cannot be used.
    #[error("cannot use the NATS credentials file {}: {reason}", path.display())]
    Credentials {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A JetStream KV bucket cannot be used.
    #[error("cannot use the JetStream KV bucket {bucket}: {reason}")]
    Bucket {
        /// The bucket.
        bucket: String,
        /// What went wrong.
        reason: String,
    },
    /// The admin endpoint (`--http-admin`) cannot listen.
    #[error("cannot serve the admin endpoint on {addr}: {reason}")]
    Admin {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The component engine cannot be built (for example, its pool cannot be reserved).
    #[error("cannot build the component engine: {0}")]
    Runtime(String),
    /// The host's state owner task is gone (the host is shutting down).
    #[error("the host is shutting down")]
    ShuttingDown,
}
