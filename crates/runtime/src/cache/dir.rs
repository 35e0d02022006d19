//! The cache directory: created 0700, refused unless this user owns it and nobody
//! else may write into it (whoever can write there can make us run their code).

use std::fs::{self, DirBuilder, Metadata};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use crate::error::{CacheDirProblem, RuntimeError};

/// Creates `path` (and missing parents) 0700 if needed, then checks it.
pub(super) fn ensure_private_dir(path: &Path) -> Result<(), RuntimeError> {
    let io_error = |source| RuntimeError::CacheDir {
        path: path.to_owned(),
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io_error)?;
    let metadata = fs::metadata(path).map_err(io_error)?;
    check(&metadata).map_err(|problem| RuntimeError::UnsafeCacheDir {
        path: path.to_owned(),
        problem,
    })
}

fn check(metadata: &Metadata) -> Result<(), CacheDirProblem> {
    if !metadata.is_dir() {
        return Err(CacheDirProblem::NotADirectory);
    }
    let user = nix::unistd::geteuid().as_raw();
    if metadata.uid() != user {
        return Err(CacheDirProblem::NotOwned {
            owner: metadata.uid(),
            user,
        });
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(CacheDirProblem::Writable { mode });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_new_directory_is_created_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn group_writable_and_files_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("shared");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o770)).unwrap();
        let err = ensure_private_dir(&dir).unwrap_err();
        assert!(
            matches!(
                err,
                RuntimeError::UnsafeCacheDir {
                    problem: CacheDirProblem::Writable { mode: 0o770 },
                    ..
                }
            ),
            "{err}"
        );
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&dir).expect("0755 is not writable by others");

        let file = root.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(ensure_private_dir(&file).is_err());
    }
}
