//! Artifacts: what a start command's reference names, made ready to run. Providers and
//! components load through [`Artifacts`]: one place holds the settings, the registry
//! client with its blob cache, the cache directory and the unpack lock.
//!
//! - `file`: `file://` references to executables, provider archives and components;
//! - `oci`: registry references (`registry/repo:tag`, `…@sha256:…`, `oci://…`), pulled
//!   into the blob cache `lattice-artifacts` shares between hosts;
//! - `unpacked`: the cache of checked, unpacked provider binaries;
//! - `par`: provider archives (spec §10.1);
//! - `claims`: the claims inside them (spec §10.2);
//! - components' embedded claims are verified by `lattice_artifacts::component_claims`
//!   (spec §16.1).

mod claims;
mod file;
mod oci;
mod par;
mod unpacked;
mod worker;

use std::path::PathBuf;
use std::sync::Arc;

pub(crate) use file::LoadedProvider;
pub(crate) use lattice_artifacts::component_claims::{
    ClaimsError, ComponentClaims, verify_component_claims,
};

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
    /// Claims that are expired, not valid yet, badly signed or for the wrong kind of key.
    BadClaims,
    /// Unsigned, and the host requires signatures.
    Unsigned,
    /// A registry refused it, does not have it, or cannot be reached.
    Registry,
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
    /// Pulls from registries into the shared blob cache.
    registry: lattice_artifacts::Registry,
    /// Whether unsigned providers and components are refused (`--require-signed`).
    require_signed: bool,
    /// Where download progress and unsigned starts go (`artifact_pull_progress`,
    /// `artifact_unsigned`).
    events: crate::events::EventPublisher,
    host_id: String,
}

impl Artifacts {
    /// `cache_dir` should be private to the host (archives are unpacked there).
    pub(crate) fn new(
        allow_file_load: bool,
        cache_dir: PathBuf,
        registry: lattice_artifacts::Registry,
        require_signed: bool,
        events: crate::events::EventPublisher,
        host_id: String,
    ) -> Self {
        Artifacts {
            allow_file_load,
            cache_dir,
            unpack_lock: Default::default(),
            registry,
            require_signed,
            events,
            host_id,
        }
    }

    /// The registry client (`registry.put` sets its credentials).
    pub(crate) fn registry(&self) -> &lattice_artifacts::Registry {
        &self.registry
    }

    /// Whether this host can load `reference` at all, without touching it: what an
    /// auction bid promises.
    pub(crate) fn can_load(&self, reference: &str) -> Result<(), ArtifactError> {
        if lattice_artifacts::is_registry_reference(reference) {
            return oci::can_load(reference, &self.registry);
        }
        file::can_load(reference, self.allow_file_load).map(|_| ())
    }

    /// The bytes of the component `reference` names (a `file://` wasm file or a registry
    /// artifact), with the pin that keeps a registry layer in the cache while it is used.
    pub(crate) async fn load_component_bytes(
        &self,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<lattice_artifacts::Pin>), ArtifactError> {
        if lattice_artifacts::is_registry_reference(reference) {
            let pulled = oci::pull(
                reference,
                lattice_artifacts::ArtifactKind::Component,
                &self.registry,
                &self.progress(reference),
            )
            .await?;
            let pin = self.registry.pin(&pulled.layer_digest);
            let bytes = tokio::fs::read(&pulled.path).await.map_err(|e| {
                ArtifactError::new(
                    reference,
                    ArtifactErrorKind::Io,
                    format!("reading the cached layer {}: {e}", pulled.path.display()),
                )
            })?;
            return Ok((bytes, Some(pin)));
        }
        let path = std::path::Path::new(file::can_load(reference, self.allow_file_load)?);
        if !path.is_absolute() {
            return Err(ArtifactError::new(
                reference,
                ArtifactErrorKind::Refused,
                "the path must be absolute (file:///…)",
            ));
        }
        let bytes = tokio::fs::read(path).await.map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    ArtifactErrorKind::Missing
                }
                _ => ArtifactErrorKind::Io,
            };
            ArtifactError::new(reference, kind, format!("reading {}: {e}", path.display()))
        })?;
        Ok((bytes, None))
    }

    /// Makes the provider `reference` names ready to spawn; an archive's claims are
    /// verified (lattice checks what 1.9.2 does not: signature, `exp`, `nbf`, key kinds).
    pub(crate) async fn load_provider(
        &self,
        reference: &str,
    ) -> Result<LoadedProvider, ArtifactError> {
        let loaded = self.load_provider_unverified(reference).await?;
        if let Some(claims) = &loaded.claims {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            claims.verify(now).map_err(|reason| {
                ArtifactError::new(
                    reference,
                    ArtifactErrorKind::BadClaims,
                    format!("the archive's claims are refused: {reason}"),
                )
            })?;
        }
        Ok(loaded)
    }

    /// What an unsigned start does: refused under `--require-signed`, else it goes on
    /// with an `artifact_unsigned` warning event.
    pub(crate) async fn unsigned(
        &self,
        kind: lattice_artifacts::ArtifactKind,
        id: &str,
        reference: &str,
    ) -> Result<(), ArtifactError> {
        if self.require_signed {
            return Err(ArtifactError::new(
                reference,
                ArtifactErrorKind::Unsigned,
                format!(
                    "the {} is unsigned and this host runs with --require-signed (sign it with `lattice par create` or `lattice claims sign`)",
                    kind.noun()
                ),
            ));
        }
        tracing::warn!(
            id,
            reference,
            kind = kind.noun(),
            "starting an unsigned artifact"
        );
        self.events
            .publish(lattice_proto::events::Event::ArtifactUnsigned(
                lattice_proto::events::ArtifactUnsigned {
                    host_id: self.host_id.clone(),
                    kind: kind.noun().to_string(),
                    id: id.to_string(),
                    reference: reference.to_string(),
                },
            ))
            .await;
        Ok(())
    }

    async fn load_provider_unverified(
        &self,
        reference: &str,
    ) -> Result<LoadedProvider, ArtifactError> {
        if lattice_artifacts::is_registry_reference(reference) {
            let pulled = oci::pull(
                reference,
                lattice_artifacts::ArtifactKind::Provider,
                &self.registry,
                &self.progress(reference),
            )
            .await?;
            let executable = self.cache_dir.join(format!(
                "oci-{}",
                pulled.layer_digest.trim_start_matches("sha256:")
            ));
            let _unpacking = self.unpack_lock.lock().await;
            if let Some(cached) = unpacked::cached(&executable, &pulled.layer_digest).await {
                return Ok(cached);
            }
            return unpacked::unpack_archive(
                reference,
                &pulled.path,
                &executable,
                &pulled.layer_digest,
            )
            .await;
        }
        let settings = file::LoadSettings {
            unpack_lock: &self.unpack_lock,
            allow_file_load: self.allow_file_load,
            cache_dir: &self.cache_dir,
        };
        file::load(reference, &settings).await
    }

    /// Reports a download of `reference` as `artifact_pull_progress` events.
    fn progress(
        &self,
        reference: &str,
    ) -> impl Fn(lattice_artifacts::Progress) + Send + Sync + 'static {
        let events = self.events.clone();
        let host_id = self.host_id.clone();
        let reference = reference.to_string();
        move |progress: lattice_artifacts::Progress| {
            if progress.done {
                tracing::info!(%reference, digest = %progress.digest, bytes = progress.bytes, elapsed = ?progress.elapsed, "layer downloaded");
            }
            let event = lattice_proto::events::Event::ArtifactPullProgress(
                lattice_proto::events::ArtifactPullProgress {
                    host_id: host_id.clone(),
                    reference: reference.clone(),
                    digest: progress.digest.clone(),
                    bytes: progress.bytes,
                    total: progress.total,
                    bytes_per_second: progress.bytes_per_second(),
                    done: progress.done,
                },
            );
            let events = events.clone();
            tokio::spawn(async move { events.publish(event).await });
        }
    }
}
