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
use super::unpacked::{self, normalize, stamp_of};
use super::{ArtifactError, ArtifactErrorKind as Kind};

/// A provider ready to spawn.
#[derive(Clone, Debug)]
pub(crate) struct LoadedProvider {
    pub(crate) executable: PathBuf,
    pub(crate) claims: Option<ProviderClaims>,
    /// The registry layer it was unpacked from, kept out of cache eviction while it runs.
    pub(crate) _layer: Option<std::sync::Arc<lattice_artifacts::Pin>>,
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
            "not a file:// reference",
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
        if let Some(cached) = unpacked::cached(&executable, &stamp).await {
            return Ok(cached);
        }
        return unpacked::unpack_archive(reference, path, &executable, &stamp).await;
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
        _layer: None,
    })
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        std::io::ErrorKind::PermissionDenied => "cannot be read (permission denied)".to_string(),
        _ => format!("cannot be read: {e}"),
    }
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
                "not a file:// reference",
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
        let stamp = std::fs::read_to_string(unpacked::stamp_path(&loaded.executable)).unwrap();
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
            std::fs::read_to_string(unpacked::stamp_path(&fresh.executable)).unwrap(),
            stamp
        );
        // A cached binary changed behind the host's back is not trusted on the
        // archive's size and time: it fails its hash and is unpacked again.
        std::fs::write(&fresh.executable, b"#!/bin/sh\necho planted\n").unwrap();
        let checked = load(&reference, &settings(&d.join("cache"), true))
            .await
            .unwrap();
        assert_eq!(std::fs::read(&checked.executable).unwrap(), other);
        // An archive replaced by one of the same size with its modification time set back
        // (`cp -p`, `rsync -t`) is still a new version.
        let before = std::fs::metadata(&par_path).unwrap();
        let (third, bytes) = (2..200)
            .map(|code| format!("#!/bin/sh\nexit {code}\n").into_bytes())
            .map(|script| {
                let bytes = archive(&script, Some(sha(&script)), true);
                (script, bytes)
            })
            .find(|(_, bytes)| bytes.len() as u64 == before.len())
            .expect("an archive of the same size");
        std::fs::write(&par_path, bytes).unwrap();
        let replaced = std::fs::File::options()
            .write(true)
            .open(&par_path)
            .unwrap();
        replaced.set_modified(before.modified().unwrap()).unwrap();
        let after = std::fs::metadata(&par_path).unwrap();
        assert_eq!(
            (after.len(), after.modified().unwrap()),
            (before.len(), before.modified().unwrap()),
            "same size and modification time"
        );
        let reloaded = load(&reference, &settings(&d.join("cache"), true))
            .await
            .unwrap();
        assert_eq!(std::fs::read(&reloaded.executable).unwrap(), third);

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
