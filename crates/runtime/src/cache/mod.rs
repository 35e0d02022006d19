//! The compile cache: serialized components on disk, keyed by the BLAKE3 digest of the
//! wasm bytes and the engine's compatibility hash, verified before they are loaded,
//! written atomically; concurrent loads of the same bytes in this process compile
//! once (across processes the atomic rename suffices).
//!
//! Layout: `{dir}/engine-{compat}/{BLAKE3 of the bytes}[-p1-{adapter}].cwasm` and
//! `….cwasm.blake3`. (BLAKE3 rather than SHA-256: a hit hashes the component and the
//! artifact, 50 MB for an 18 MB component, and BLAKE3 does that in a third of the time.) An engine with other settings or another wasmtime gets another
//! subdirectory, so stale artifacts are never even looked at.

mod artifact;
mod dir;

use std::collections::HashMap;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{LoadError, RuntimeError};
use crate::load::{self, WasmKind};
use artifact::Verification;

/// Where a loaded component came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A verified cache entry: nothing was compiled.
    Hit,
    /// No entry: compiled, and written to the cache if `stored`.
    Miss {
        /// Whether the entry was written (a failed write is logged, not an error).
        stored: bool,
    },
    /// An entry failed verification or deserialization: it was removed, the
    /// component compiled again and the entry rewritten if `stored`.
    Rejected {
        /// What was wrong with the entry.
        reason: String,
        /// Whether the new entry was written.
        stored: bool,
    },
    /// Another load of the same bytes in this process was under way; its component
    /// is shared (nothing compiled or read again).
    Joined,
    /// No cache directory configured: compiled.
    Disabled,
}

/// The cache key of some wasm bytes: the name of their entry.
#[derive(Debug, Clone)]
pub(crate) struct CacheKey {
    /// `{digest}` for a component, `{digest}-p1-{adapter}` for a wrapped core module.
    stem: String,
    /// BLAKE3 of the bytes, hex.
    digest: String,
}

impl CacheKey {
    pub(crate) fn of(kind: WasmKind, bytes: &[u8]) -> Self {
        let digest = blake3::hash(bytes).to_hex().to_string();
        let stem = match kind {
            WasmKind::Component => digest.clone(),
            WasmKind::CoreModule => format!("{digest}-p1-{}", &load::adapter_sha256()[..16]),
        };
        Self { stem, digest }
    }

    pub(crate) fn digest(&self) -> &str {
        &self.digest
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Component>>>;

/// The cache of one engine (and the in-process map of loads under way).
pub(crate) struct CompileCache {
    /// `{dir}/engine-{compat}`, checked; `None` when caching is off.
    dir: Option<PathBuf>,
    inflight: Mutex<HashMap<String, Slot>>,
}

impl CompileCache {
    /// Opens (creating 0700) the engine's subdirectory of `dir`, refusing unsafe ones.
    pub(crate) fn open(dir: Option<&Path>, engine: &Engine) -> Result<Self, RuntimeError> {
        let dir = match dir {
            Some(dir) => {
                dir::ensure_private_dir(dir)?;
                let engine_dir = dir.join(format!("engine-{}", engine_key(engine)));
                dir::ensure_private_dir(&engine_dir)?;
                Some(engine_dir)
            }
            None => None,
        };
        Ok(Self {
            dir,
            inflight: Mutex::default(),
        })
    }

    /// The engine's cache subdirectory, if caching is on.
    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The in-process slot for `key`: whoever holds its lock loads; those waiting
    /// behind find the component in it.
    pub(crate) fn slot(&self, key: &CacheKey) -> SlotGuard<'_> {
        let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = inflight.entry(key.stem.clone()).or_default().clone();
        SlotGuard {
            cache: self,
            stem: key.stem.clone(),
            slot,
        }
    }

    /// Reads the verified entry for `key` or compiles and stores it (blocking).
    pub(crate) fn load_blocking(
        &self,
        engine: &Engine,
        key: &CacheKey,
        kind: WasmKind,
        bytes: &[u8],
    ) -> Result<(Component, CacheOutcome), LoadError> {
        let Some(dir) = &self.dir else {
            return Ok((load::compile(engine, kind, bytes)?, CacheOutcome::Disabled));
        };
        let (artifact_path, sidecar_path) = entry_paths(dir, key);
        let rejected = match artifact::open_verified(&artifact_path, &sidecar_path) {
            Verification::Missing => None,
            Verification::Rejected(reason) => Some(reason),
            Verification::Verified(verified) => match artifact::deserialize(engine, &verified) {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(err) => Some(format!("wasmtime refused the artifact: {err:#}")),
            },
        };
        if let Some(reason) = &rejected {
            tracing::warn!(entry = %artifact_path.display(), %reason, "rejected compile cache entry");
            let _ = fs::remove_file(&sidecar_path);
            let _ = fs::remove_file(&artifact_path);
        }
        let component = load::compile(engine, kind, bytes)?;
        let stored = match store(dir, &artifact_path, &sidecar_path, &component) {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(entry = %artifact_path.display(), error = %err, "cannot write compile cache entry");
                false
            }
        };
        Ok(match rejected {
            None => (component, CacheOutcome::Miss { stored }),
            Some(reason) => (component, CacheOutcome::Rejected { reason, stored }),
        })
    }
}

/// Holds a slot; the last holder removes it from the map.
pub(crate) struct SlotGuard<'a> {
    cache: &'a CompileCache,
    stem: String,
    slot: Slot,
}

impl SlotGuard<'_> {
    pub(crate) fn slot(&self) -> &tokio::sync::Mutex<Option<Component>> {
        &self.slot
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut inflight = self
            .cache
            .inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Clones are only taken under this lock: 2 = the map's and ours.
        if Arc::strong_count(&self.slot) == 2 {
            inflight.remove(&self.stem);
        }
    }
}

/// The artifact and sidecar paths of `key`'s entry in `dir`.
pub(crate) fn entry_paths(dir: &Path, key: &CacheKey) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{}.cwasm", key.stem)),
        dir.join(format!("{}.cwasm.blake3", key.stem)),
    )
}

/// Writes an entry: each file to a temporary file (0600) in `dir`, synced, then
/// renamed into place; the artifact first, so a reader never sees a sidecar
/// describing a file that is not there yet (a stale pair fails verification).
fn store(dir: &Path, artifact: &Path, sidecar: &Path, component: &Component) -> io::Result<()> {
    let bytes = component.serialize().map_err(io::Error::other)?;
    write_atomically(dir, artifact, &bytes)?;
    write_atomically(dir, sidecar, artifact::sidecar_text(&bytes).as_bytes())
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// 32 hex digits naming the engine's compatibility (wasmtime version, target,
/// compiler settings and tunables, as wasmtime hashes them).
fn engine_key(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    "lattice-runtime compile cache v1".hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = format!("{:x}", hasher.0.finalize());
    digest[..32].to_owned()
}

/// Feeds a [`Hash`] into SHA-256 (stable for one build on one machine, which is
/// all a compatibility hash promises).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0 // never read: only the SHA-256 digest is
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
