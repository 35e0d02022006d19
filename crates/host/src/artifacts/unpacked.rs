//! The cache of checked, unpacked provider binaries (one directory per host): an archive
//! (from a file or a registry) is unpacked once per version, its binary streamed to disk
//! and checked against its claims; later starts and restarts reuse it.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::claims::ProviderClaims;
use super::file::LoadedProvider;
use super::par;
use super::{ArtifactError, ArtifactErrorKind as Kind};

/// Unpacks the archive at `source` to `executable` (atomically: a running copy keeps its
/// inode) and records `stamp`, the version it came from, beside it.
pub(super) async fn unpack_archive(
    reference: &str,
    source: &Path,
    executable: &Path,
    stamp: &str,
) -> Result<LoadedProvider, ArtifactError> {
    let fail = |kind, reason: String| ArtifactError::new(reference, kind, reason);
    let dir = executable.parent().expect("cache paths have a parent");
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| fail(Kind::Io, format!("creating {}: {e}", dir.display())))?;
    let name = executable
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("provider");
    let tmp = dir.join(format!(".{}.{name}", uuid::Uuid::new_v4()));
    let (from, to) = (source.to_path_buf(), tmp.clone());
    let unpacked = super::worker::run(move || par::unpack(&from, &to))
        .await
        .ok_or_else(|| {
            fail(
                Kind::Io,
                "unpacking failed unexpectedly (see the host log)".to_string(),
            )
        })
        .and_then(|r| r.map_err(|e| fail(Kind::BadArchive, e)));
    let installed = match unpacked {
        Ok(unpacked) => {
            let placed = async {
                tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).await?;
                tokio::fs::rename(&tmp, executable).await
            };
            placed
                .await
                .map(|()| unpacked)
                .map_err(|e| fail(Kind::Io, format!("writing {}: {e}", executable.display())))
        }
        Err(e) => Err(e),
    };
    let unpacked = match installed {
        Ok(unpacked) => unpacked,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    // Written after the binary: a stamp always describes a complete, checked binary.
    let record = format!("{stamp}\n{}", unpacked.jwt);
    if let Err(error) = write_atomically(&stamp_path(executable), record.as_bytes()).await {
        tracing::debug!(%error, "cannot record the unpacked archive; it will be unpacked again");
    }
    Ok(LoadedProvider {
        executable: executable.to_path_buf(),
        claims: Some(unpacked.claims),
        _layer: None,
    })
}

/// What identifies one version of an archive file: inode, size, modification time and
/// status-change time. Tools can set a modification time back (`cp -p`, `touch -d`,
/// `rsync -t`), never the status-change time, so a replaced archive of the same size
/// and modification time is still told apart.
pub(super) fn stamp_of(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt as _;
    format!(
        "{} {} {} {} {} {}",
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    )
}

pub(super) fn stamp_path(executable: &Path) -> PathBuf {
    executable.with_extension("stamp")
}

/// The binary unpacked earlier from the same version of the archive, if any.
pub(super) async fn cached(executable: &Path, stamp: &str) -> Option<LoadedProvider> {
    let record = tokio::fs::read_to_string(stamp_path(executable))
        .await
        .ok()?;
    let (recorded, jwt) = record.split_once('\n')?;
    if recorded != stamp {
        return None;
    }
    let claims = ProviderClaims::decode(jwt).ok()?;
    // The stamp says which version of the archive it came from; the hash says the
    // cached binary is still what the archive's claims name. A binary this process has
    // hashed is not hashed again while its own identity (the same stamp) stays what it
    // was: a start from a cached archive stays cheap.
    let identity = file_identity(executable).await?;
    if verified().lock().ok()?.get(executable) == Some(&identity) {
        return Some(LoadedProvider {
            executable: executable.to_path_buf(),
            claims: Some(claims),
            _layer: None,
        });
    }
    let path = executable.to_path_buf();
    let checked = claims.clone();
    let intact = super::worker::run(move || par::file_matches_claims(&path, &checked)).await?;
    if intact {
        verified()
            .lock()
            .ok()?
            .insert(executable.to_path_buf(), identity);
    } else {
        tracing::warn!(executable = %executable.display(), "the cached provider binary does not match its claims; unpacking the archive again");
        return None;
    }
    Some(LoadedProvider {
        executable: executable.to_path_buf(),
        claims: Some(claims),
        _layer: None,
    })
}

/// What identifies one version of a file (see [`stamp_of`]).
type FileIdentity = String;

async fn file_identity(path: &Path) -> Option<FileIdentity> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    Some(stamp_of(&meta))
}

/// Cached binaries this process has hashed, with the identity they had then.
fn verified() -> &'static std::sync::Mutex<std::collections::HashMap<PathBuf, FileIdentity>> {
    static VERIFIED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<PathBuf, FileIdentity>>,
    > = std::sync::OnceLock::new();
    VERIFIED.get_or_init(Default::default)
}

/// The cache file name for a reference: lowercase, every other character `_`.
pub(super) fn normalize(reference: &str) -> String {
    reference
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

async fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_file(path, data, 0o644).await
}

async fn write_file(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().expect("cache paths have a parent");
    tokio::fs::create_dir_all(dir).await?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{}.{name}", uuid::Uuid::new_v4()));
    tokio::fs::write(&tmp, data).await?;
    tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).await?;
    tokio::fs::rename(&tmp, path).await
}
