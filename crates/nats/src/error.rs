//! Why a NATS connection could not be opened or used.

use std::path::PathBuf;

/// A NATS URL that cannot be used (found before anything connects).
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// The URL does not parse, or its credentials do not.
    #[error("invalid NATS URL `{url}` for the {which} connection: {reason}")]
    Invalid {
        /// Which connection (`ctl`, `rpc`, `client`, …).
        which: &'static str,
        /// The URL, password hidden.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The URL carries credentials and the connection has a JWT or creds file too.
    #[error(
        "the {which} connection has credentials both in its URL `{url}` and as a JWT or creds file; give one"
    )]
    CredentialsTwice {
        /// Which connection.
        which: &'static str,
        /// The URL, password hidden.
        url: String,
    },
}

/// Why a NATS connection could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The URL cannot be used.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The server could not be reached, or refused the credentials.
    #[error("cannot connect the {which} connection to NATS at {url}: {reason}")]
    Connect {
        /// Which connection.
        which: &'static str,
        /// The URL tried, password hidden.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A credentials file cannot be used.
    #[error("cannot use the NATS credentials file {}: {reason}", path.display())]
    CredsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A round trip through the server did not complete.
    #[error("{reason}")]
    RoundTrip {
        /// What went wrong.
        reason: String,
    },
}
