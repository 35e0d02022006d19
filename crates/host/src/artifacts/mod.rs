//! Artifacts: what a start command's reference names, made ready to run. Providers load
//! through [`Artifacts`] (components will too, and OCI registries join `file://` here):
//! one place holds the settings, the cache directory and the unpack lock.
//!
//! - `file`: `file://` references to executables and provider archives, with the
//!   cache of checked, unpacked binaries;
//! - `par`: provider archives (spec §10.1);
//! - `claims`: the claims inside them (spec §10.2);
//! - `component_claims`: the signed claims a component embeds, verified (spec §16.1).

mod claims;
mod component_claims;
mod file;
mod par;

use std::path::PathBuf;
use std::sync::Arc;

pub(crate) use component_claims::{ClaimsError, ComponentClaims, verify_component_claims};
pub(crate) use file::LoadedProvider;

/// What kind of failure a load was, for callers that treat them differently (an
/// auction bid, a start that fails, a retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArtifactErrorKind {
    /// The reference's scheme is not one this host loads.
    Unsupported,
    /// The host's settings refuse it (`--allow-file-load`, a relative path).
    Refused,
    /// It does not exist or cannot be read.
    Missing,
    /// It exists but cannot be run (not a regular file, not executable).
    NotRunnable,
    /// A provider archive that is malformed or fails its checks.
    BadArchive,
    /// Reading or writing failed on the way.
    Io,
}

/// A reference that cannot be loaded; `Display` names the reference and the reason.
#[derive(Clone, Debug, thiserror::Error)]
#[error("cannot load `{reference}`: {reason}")]
pub(crate) struct ArtifactError {
    pub(crate) reference: String,
    pub(crate) kind: ArtifactErrorKind,
    pub(crate) reason: String,
}

impl ArtifactError {
    pub(crate) fn new(reference: &str, kind: ArtifactErrorKind, reason: impl Into<String>) -> Self {
        ArtifactError {
            reference: reference.to_string(),
            kind,
            reason: reason.into(),
        }
    }
}

/// Loads artifacts for one host. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Artifacts {
    allow_file_load: bool,
    /// Provider archives are unpacked below this directory.
    cache_dir: PathBuf,
    /// Held while an archive is unpacked, so that concurrent starts from one archive
    /// unpack it once (the others find it in the cache).
    unpack_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Artifacts {
    /// `cache_dir` should be private to the host (archives are unpacked there).
    pub(crate) fn new(allow_file_load: bool, cache_dir: PathBuf) -> Self {
        Artifacts {
            allow_file_load,
            cache_dir,
            unpack_lock: Default::default(),
        }
    }

    /// Whether this host can load `reference` at all, without touching it: what an
    /// auction bid promises.
    pub(crate) fn can_load(&self, reference: &str) -> Result<(), ArtifactError> {
        file::can_load(reference, self.allow_file_load).map(|_| ())
    }

    /// The bytes of the component `reference` names (a `file://` wasm file).
    pub(crate) async fn load_component_bytes(
        &self,
        reference: &str,
    ) -> Result<Vec<u8>, ArtifactError> {
        let path = std::path::Path::new(file::can_load(reference, self.allow_file_load)?);
        if !path.is_absolute() {
            return Err(ArtifactError::new(
                reference,
                ArtifactErrorKind::Refused,
                "the path must be absolute (file:///…)",
            ));
        }
        tokio::fs::read(path).await.map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    ArtifactErrorKind::Missing
                }
                _ => ArtifactErrorKind::Io,
            };
            ArtifactError::new(reference, kind, format!("reading {}: {e}", path.display()))
        })
    }

    /// Makes the provider `reference` names ready to spawn.
    pub(crate) async fn load_provider(
        &self,
        reference: &str,
    ) -> Result<LoadedProvider, ArtifactError> {
        let settings = file::LoadSettings {
            unpack_lock: &self.unpack_lock,
            allow_file_load: self.allow_file_load,
            cache_dir: &self.cache_dir,
        };
        file::load(reference, &settings).await
    }
}
