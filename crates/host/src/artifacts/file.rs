//! `file://` references: turning a start command's `provider_ref` into an executable
//! on disk.
//!
//! `file:///abs/path` names either a native executable (run in place) or a provider
//! archive (its native binary is checked, then written to the cache directory and run
//! from there). An archive is unpacked and checked once per version of the file (its
//! size and modification time): later starts and restarts reuse the checked binary. File references need `--allow-file-load`, as in the 1.x host. Other
//! schemes (OCI registries) are refused with a message that says so.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt as _;

use super::claims::ProviderClaims;
use super::par;
use super::{ArtifactError, ArtifactErrorKind as Kind};

/// A provider ready to spawn.
#[derive(Clone, Debug)]
pub(crate) struct LoadedProvider {
    pub(crate) executable: PathBuf,
    pub(crate) claims: Option<ProviderClaims>,
}

/// Where and whether providers may be loaded from.
pub(crate) struct LoadSettings<'a> {
    /// Held while an archive is unpacked, so that concurrent starts from one archive
    /// unpack it once (the others find it in the cache).
    pub(crate) unpack_lock: &'a tokio::sync::Mutex<()>,
    pub(crate) allow_file_load: bool,
    /// Archives are unpacked below this directory.
    pub(crate) cache_dir: &'a Path,
}

/// Whether this host can load `reference` at all (its scheme, and `--allow-file-load`
/// for files), without touching it: what an auction bid promises. Returns the path of
/// a file reference.
pub(crate) fn can_load(reference: &str, allow_file_load: bool) -> Result<&str, ArtifactError> {
    let Some(path) = reference.strip_prefix("file://") else {
        return Err(ArtifactError::new(
            reference,
            Kind::Unsupported,
            "this host loads artifacts from file:// references only (OCI registries are not supported yet)",
        ));
    };
    if !allow_file_load {
        return Err(ArtifactError::new(
            reference,
            Kind::Refused,
            "file:// references are refused unless the host runs with --allow-file-load (WASMCLOUD_ALLOW_FILE_LOAD=true)",
        ));
    }
    Ok(path)
}

/// Resolves `reference` (an error message names what is wrong).
pub(crate) async fn load(
    reference: &str,
    settings: &LoadSettings<'_>,
) -> Result<LoadedProvider, ArtifactError> {
    let fail = |kind, reason: String| ArtifactError::new(reference, kind, reason);
    let path = Path::new(can_load(reference, settings.allow_file_load)?);
    if !path.is_absolute() {
        return Err(fail(
            Kind::Refused,
            "the path must be absolute (file:///…)".into(),
        ));
    }
    let unreadable = |e: std::io::Error| {
        fail(
            Kind::Missing,
            format!("{} {}", path.display(), describe_io(&e)),
        )
    };
    let meta = tokio::fs::metadata(path).await.map_err(unreadable)?;
    if !meta.is_file() {
        return Err(fail(
            Kind::NotRunnable,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let mut head = Vec::with_capacity(512);
    tokio::fs::File::open(path)
        .await
        .map_err(unreadable)?
        .take(512)
        .read_to_end(&mut head)
        .await
        .map_err(|e| fail(Kind::Io, format!("reading {}: {e}", path.display())))?;
    if par::looks_like_archive(&head) {
        let executable = settings.cache_dir.join(normalize(reference));
        let stamp = stamp_of(&meta);
        let _unpacking = settings.unpack_lock.lock().await;
        if let Some(cached) = cached(&executable, &stamp).await {
            return Ok(cached);
        }
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| fail(Kind::Io, format!("reading {}: {e}", path.display())))?;
        let contents = tokio::task::spawn_blocking(move || par::read(&bytes))
            .await
            .map_err(|e| fail(Kind::Io, e.to_string()))?
            .map_err(|e| fail(Kind::BadArchive, e))?;
        let written = write_executable(&executable, &contents.binary).await;
        written.map_err(|e| fail(Kind::Io, format!("writing {}: {e}", executable.display())))?;
        // Written after the binary: a stamp always describes a complete, checked binary.
        let record = format!("{stamp}\n{}", contents.jwt);
        if let Err(error) = write_atomically(&stamp_path(&executable), record.as_bytes()).await {
            tracing::debug!(%error, "cannot record the unpacked archive; it will be unpacked again");
        }
        return Ok(LoadedProvider {
            executable,
            claims: Some(contents.claims),
        });
    }
    let mode = meta.permissions().mode();
    if mode & 0o111 == 0 {
        return Err(fail(
            Kind::NotRunnable,
            format!(
                "{} is not executable (mode {:o}); chmod +x it, or give a provider archive",
                path.display(),
                mode & 0o7777
            ),
        ));
    }
    Ok(LoadedProvider {
        executable: path.to_path_buf(),
        claims: None,
    })
}

/// What identifies one version of an archive file.
fn stamp_of(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt as _;
    format!("{} {} {}", meta.len(), meta.mtime(), meta.mtime_nsec())
}

fn stamp_path(executable: &Path) -> PathBuf {
    executable.with_extension("stamp")
}

/// The binary unpacked earlier from the same version of the archive, if any.
async fn cached(executable: &Path, stamp: &str) -> Option<LoadedProvider> {
    let record = tokio::fs::read_to_string(stamp_path(executable))
        .await
        .ok()?;
    let (recorded, jwt) = record.split_once('\n')?;
    if recorded != stamp {
        return None;
    }
    let claims = ProviderClaims::decode(jwt).ok()?;
    // The size and modification time say which version of the archive it came from;
    // the hash says the cached binary is still what the archive's claims name. A binary
    // this process has hashed is not hashed again while its own identity (inode, size,
    // modification time) stays what it was: a start from a cached archive stays cheap.
    let identity = file_identity(executable).await?;
    if verified().lock().ok()?.get(executable) == Some(&identity) {
        return Some(LoadedProvider {
            executable: executable.to_path_buf(),
            claims: Some(claims),
        });
    }
    let path = executable.to_path_buf();
    let checked = claims.clone();
    let intact = tokio::task::spawn_blocking(move || par::file_matches_claims(&path, &checked))
        .await
        .ok()?;
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
    })
}

/// What identifies one version of a file: inode, size, modification time.
type FileIdentity = (u64, u64, i64, i64);

async fn file_identity(path: &Path) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = tokio::fs::metadata(path).await.ok()?;
    Some((meta.ino(), meta.len(), meta.mtime(), meta.mtime_nsec()))
}

/// Cached binaries this process has hashed, with the identity they had then.
fn verified() -> &'static std::sync::Mutex<std::collections::HashMap<PathBuf, FileIdentity>> {
    static VERIFIED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<PathBuf, FileIdentity>>,
    > = std::sync::OnceLock::new();
    VERIFIED.get_or_init(Default::default)
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        std::io::ErrorKind::PermissionDenied => "cannot be read (permission denied)".to_string(),
        _ => format!("cannot be read: {e}"),
    }
}

/// The cache file name for a reference: lowercase, every other character `_`.
fn normalize(reference: &str) -> String {
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

/// Writes `data` as an executable at `path`, atomically (a running copy keeps its inode).
async fn write_executable(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_file(path, data, 0o755).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifacts::par::tests::{archive, sha};

    static UNPACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    fn settings(dir: &Path, allow: bool) -> LoadSettings<'_> {
        LoadSettings {
            unpack_lock: &UNPACK,
            allow_file_load: allow,
            cache_dir: dir,
        }
    }

    #[tokio::test]
    async fn every_bad_reference_names_its_problem() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let plain = d.join("plain.txt");
        std::fs::write(&plain, "not executable").unwrap();
        let bad_par = d.join("bad.par.gz");
        std::fs::write(&bad_par, archive(b"bin", Some(sha(b"other")), true)).unwrap();
        let cases = [
            (
                "oci://ghcr.io/x:1".to_string(),
                true,
                "file:// references only",
            ),
            (
                format!("file://{}", plain.display()),
                false,
                "--allow-file-load",
            ),
            ("file://relative/path".to_string(), true, "must be absolute"),
            (
                format!("file://{}/missing", d.display()),
                true,
                "does not exist",
            ),
            (
                format!("file://{}", d.display()),
                true,
                "not a regular file",
            ),
            (
                format!("file://{}", plain.display()),
                true,
                "is not executable (mode 644)",
            ),
            (
                format!("file://{}", bad_par.display()),
                true,
                "hash mismatch",
            ),
        ];
        for (reference, allow, expected) in cases {
            let err = load(&reference, &settings(d, allow)).await.unwrap_err();
            assert!(err.to_string().contains(expected), "{reference}: {err}");
        }
    }

    #[tokio::test]
    async fn archives_are_unpacked_executable_and_natives_run_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let script = b"#!/bin/sh\nexit 0\n";
        let par_path = d.join("ok.par");
        std::fs::write(&par_path, archive(script, Some(sha(script)), false)).unwrap();
        let reference = format!("file://{}", par_path.display());
        let loaded = load(&reference, &settings(&d.join("cache"), true))
            .await
            .unwrap();
        assert_eq!(std::fs::read(&loaded.executable).unwrap(), script);
        assert_eq!(
            std::fs::metadata(&loaded.executable)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        assert!(loaded.claims.is_some());

        // The same archive again comes from the cache; a changed archive is unpacked anew.
        let stamp = std::fs::read_to_string(stamp_path(&loaded.executable)).unwrap();
        let again = load(&reference, &settings(&d.join("cache"), true))
            .await
            .unwrap();
        assert_eq!(again.claims, loaded.claims);
        let other = b"#!/bin/sh\nexit 1\n";
        std::fs::write(&par_path, archive(other, Some(sha(other)), true)).unwrap();
        let fresh = load(&reference, &settings(&d.join("cache"), true))
            .await
            .unwrap();
        assert_eq!(std::fs::read(&fresh.executable).unwrap(), other);
        assert_ne!(
            std::fs::read_to_string(stamp_path(&fresh.executable)).unwrap(),
            stamp
        );
        // A cached binary changed behind the host's back is not trusted on the
        // archive's size and time: it fails its hash and is unpacked again.
        std::fs::write(&fresh.executable, b"#!/bin/sh\necho planted\n").unwrap();
        let checked = load(&reference, &settings(&d.join("cache"), true))
            .await
            .unwrap();
        assert_eq!(std::fs::read(&checked.executable).unwrap(), other);

        let exe = d.join("native.sh");
        std::fs::write(&exe, script).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let loaded = load(&format!("file://{}", exe.display()), &settings(d, true))
            .await
            .unwrap();
        assert_eq!(loaded.executable, exe);
        assert!(loaded.claims.is_none());
    }
}
