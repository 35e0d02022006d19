//! What can go wrong with a registry artifact; every message names the reference (and the
//! registry, when it answered).

/// Which kind of failure, for callers that treat them differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OciErrorKind {
    /// The reference cannot be parsed.
    BadReference,
    /// The host's settings refuse it (`:latest` without `--allow-latest`).
    Refused,
    /// The registry does not have it.
    NotFound,
    /// The registry wants (other) credentials.
    Unauthorized,
    /// The artifact is there but is not what was asked for (its layers, its digest).
    BadArtifact,
    /// The registry cannot be reached or answered with an error.
    Registry,
    /// Local files (the cache, a CA file) could not be read or written.
    Io,
}

/// A failed pull or push.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference is not a valid OCI reference.
    #[error("`{reference}` is not a valid OCI reference: {reason}")]
    BadReference {
        /// As given.
        reference: String,
        /// What the parser said.
        reason: String,
    },
    /// `:latest` (or no tag at all) without `--allow-latest`.
    #[error(
        "`{reference}` names the tag `latest` (a reference without a tag does too), which this host refuses: pin a version or a digest, or start the host with --allow-latest (WASMCLOUD_OCI_ALLOW_LATEST=true)"
    )]
    LatestRefused {
        /// As given.
        reference: String,
    },
    /// The registry answered with an error.
    #[error("{operation} `{reference}` {preposition} {registry}: {kind_text}: {message}", preposition = if *.operation == "pushing" { "to" } else { "from" }, kind_text = kind_text(*.kind))]
    Registry {
        /// `pulling` or `pushing`.
        operation: &'static str,
        /// As given.
        reference: String,
        /// The registry host.
        registry: String,
        /// Which kind of answer.
        kind: OciErrorKind,
        /// The registry's answer (or the transport's error).
        message: String,
    },
    /// None of the artifact's layers is of a type this kind of artifact is pulled from.
    #[error(
        "`{reference}` is not a {noun} artifact: it has {found} and a {noun} needs exactly one layer of type {accepted}"
    )]
    WrongLayers {
        /// As given.
        reference: String,
        /// `provider` or `component`.
        noun: &'static str,
        /// The media types found, described.
        found: String,
        /// The accepted media types.
        accepted: String,
    },
    /// A downloaded blob is not what its digest says.
    #[error(
        "`{reference}`: the layer downloaded from {registry} does not match its digest (expected {expected}, got {actual}); nothing was cached"
    )]
    DigestMismatch {
        /// As given.
        reference: String,
        /// The registry host.
        registry: String,
        /// The digest the manifest names.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// A local file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn kind_text(kind: OciErrorKind) -> &'static str {
    match kind {
        OciErrorKind::NotFound => "not found",
        OciErrorKind::Unauthorized => {
            "not authorized (give credentials with --oci-registry/--oci-user/--oci-password or a registry.put)"
        }
        _ => "the registry answered with an error",
    }
}

impl OciError {
    /// Which kind of failure this is.
    pub fn kind(&self) -> OciErrorKind {
        match self {
            OciError::BadReference { .. } => OciErrorKind::BadReference,
            OciError::LatestRefused { .. } => OciErrorKind::Refused,
            OciError::Registry { kind, .. } => *kind,
            OciError::WrongLayers { .. } | OciError::DigestMismatch { .. } => {
                OciErrorKind::BadArtifact
            }
            OciError::Io { .. } => OciErrorKind::Io,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        OciError::Io {
            what: what.into(),
            source,
        }
    }

    /// Classifies an error of the OCI client for `reference` at `registry`.
    pub(crate) fn from_client(
        operation: &'static str,
        reference: &str,
        registry: &str,
        error: oci_client::errors::OciDistributionError,
    ) -> Self {
        use oci_client::errors::OciDistributionError as E;
        let kind = match &error {
            E::AuthenticationFailure(_) | E::UnauthorizedError { .. } => OciErrorKind::Unauthorized,
            E::ImageManifestNotFoundError(_) => OciErrorKind::NotFound,
            E::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        oci_client::errors::OciErrorCode::ManifestUnknown
                            | oci_client::errors::OciErrorCode::NameUnknown
                            | oci_client::errors::OciErrorCode::BlobUnknown
                            | oci_client::errors::OciErrorCode::NotFound
                    )
                }) =>
            {
                OciErrorKind::NotFound
            }
            E::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| {
                    matches!(
                        e.code,
                        oci_client::errors::OciErrorCode::Unauthorized
                            | oci_client::errors::OciErrorCode::Denied
                    )
                }) =>
            {
                OciErrorKind::Unauthorized
            }
            E::DigestError(_) => OciErrorKind::BadArtifact,
            E::ServerError {
                code: 401 | 403, ..
            } => OciErrorKind::Unauthorized,
            E::ServerError { code: 404, .. } => OciErrorKind::NotFound,
            _ => OciErrorKind::Registry,
        };
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            message.push_str(": ");
            message.push_str(&inner.to_string());
            source = inner.source();
        }
        OciError::Registry {
            operation,
            reference: reference.to_string(),
            registry: registry.to_string(),
            kind,
            message,
        }
    }
}
