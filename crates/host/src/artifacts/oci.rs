//! Registry references: pulled through `lattice-artifacts` into the blob cache shared by the
//! hosts of a machine. A provider's archive is then unpacked like a file's (keyed by its
//! layer digest); a component's bytes are read from the cache.

use lattice_artifacts::{
    ArtifactKind, ArtifactRef, OciError, OciErrorKind, Progress, Pulled, Registry,
};

use super::{ArtifactError, ArtifactErrorKind as Kind};

/// Whether `reference` could be pulled under this host's settings (it parses, and it is
/// not `:latest` unless allowed), without asking the registry.
pub(super) fn can_load(reference: &str, registry: &Registry) -> Result<(), ArtifactError> {
    let parsed = ArtifactRef::parse(reference).map_err(|e| error(reference, e))?;
    registry
        .check_allowed(&parsed)
        .map_err(|e| error(reference, e))
}

/// Pulls the `kind` artifact `reference` names into the cache.
pub(super) async fn pull(
    reference: &str,
    kind: ArtifactKind,
    registry: &Registry,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<Pulled, ArtifactError> {
    let parsed = ArtifactRef::parse(reference).map_err(|e| error(reference, e))?;
    let pulled = registry
        .pull(&parsed, kind, progress)
        .await
        .map_err(|e| error(reference, e))?;
    tracing::debug!(
        reference,
        manifest = %pulled.manifest_digest,
        layer = %pulled.layer_digest,
        downloaded = pulled.downloaded,
        "pulled"
    );
    Ok(pulled)
}

fn error(reference: &str, error: OciError) -> ArtifactError {
    let kind = match error.kind() {
        OciErrorKind::BadReference => Kind::Unsupported,
        OciErrorKind::Refused => Kind::Refused,
        OciErrorKind::NotFound => Kind::Missing,
        OciErrorKind::Unauthorized | OciErrorKind::Registry => Kind::Registry,
        OciErrorKind::BadArtifact => Kind::BadArchive,
        OciErrorKind::Io => Kind::Io,
    };
    // The OCI error names the reference already; keep the reason to what follows it.
    ArtifactError::new(reference, kind, error.to_string())
}
