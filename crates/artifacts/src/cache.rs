//! The blob cache: layers stored by digest below one directory that every host and CLI on
//! the machine shares (`{dir}/blobs/sha256/{hex}`).
//!
//! - A blob is written to a temporary file while it is hashed and renamed into place only
//!   when its digest is right, so a file in place is always complete and correct.
//! - Two pulls of one blob download it once: in one process they queue on a lock per
//!   digest; across processes (two hosts on one machine) on an exclusive file lock.
//! - The cache has a size bound. After a download, blobs beyond it are evicted oldest
//!   use first, skipping the blobs this process has pinned (what its running instances
//!   were loaded from).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::error::OciError;

/// Where the cache lives and how large it may grow.
#[derive(Clone, Debug)]
pub struct CacheSettings {
    /// The cache directory (default: `lattice-artifacts` in the system's temporary directory).
    pub dir: PathBuf,
    /// Evict unpinned blobs once the cache holds more than this many bytes.
    pub max_bytes: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            dir: std::env::temp_dir().join("lattice-artifacts"),
            max_bytes: 10 * 1024 * 1024 * 1024,
        }
    }
}

/// Blobs by digest. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct BlobCache {
    settings: CacheSettings,
    /// One lock per digest being fetched in this process.
    fetching: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// How many holders pin each digest.
    pins: Arc<Mutex<HashMap<String, usize>>>,
}

/// Keeps a blob from eviction while it lives.
#[derive(Debug)]
pub struct Pin {
    digest: String,
    pins: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for Pin {
    fn drop(&mut self) {
        let mut pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = pins.get_mut(&self.digest) {
            *count -= 1;
            if *count == 0 {
                pins.remove(&self.digest);
            }
        }
    }
}

impl BlobCache {
    pub(crate) fn new(settings: CacheSettings) -> Self {
        BlobCache {
            settings,
            fetching: Default::default(),
            pins: Default::default(),
        }
    }

    /// Where the blob with `digest` (`sha256:…`) lives.
    pub(crate) fn path(&self, digest: &str) -> Result<PathBuf, String> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("`{digest}` is not a sha256 digest"))?;
        Ok(self.blob_dir().join(hex.to_ascii_lowercase()))
    }

    fn blob_dir(&self) -> PathBuf {
        self.settings.dir.join("blobs").join("sha256")
    }

    pub(crate) fn pin(&self, digest: &str) -> Pin {
        *self
            .pins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(digest.to_string())
            .or_default() += 1;
        Pin {
            digest: digest.to_string(),
            pins: self.pins.clone(),
        }
    }

    /// Runs `fetch` for `digest` unless the blob is cached already; `fetch` writes the blob
    /// to the path it is given and checks it. Returns the blob's path and whether it was
    /// downloaded. One fetch per digest at a time, in this process and across processes.
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        digest: &str,
        fetch: F,
    ) -> Result<(PathBuf, bool), OciError>
    where
        F: FnOnce(PathBuf) -> Fut,
        Fut: Future<Output = Result<(), OciError>>,
    {
        let path = self.path(digest).map_err(|reason| {
            OciError::io(
                "caching a layer",
                std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
            )
        })?;
        if touch(&path) {
            return Ok((path, false));
        }
        let lock = self
            .fetching
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(digest.to_string())
            .or_default()
            .clone();
        let _in_process = lock.lock().await;
        let dir = self.blob_dir();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| OciError::io(format!("creating the cache {}", dir.display()), e))?;
        let _across_processes = lock_file(path.with_extension("lock")).await?;
        let result = if touch(&path) {
            Ok((path.clone(), false))
        } else {
            let part = dir.join(format!(".{}.part", uuid::Uuid::new_v4()));
            match fetch(part.clone()).await {
                Ok(()) => tokio::fs::rename(&part, &path)
                    .await
                    .map(|()| (path.clone(), true))
                    .map_err(|e| OciError::io(format!("storing {}", path.display()), e)),
                Err(error) => {
                    let _ = tokio::fs::remove_file(&part).await;
                    Err(error)
                }
            }
        };
        self.fetching
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(digest);
        if matches!(result, Ok((_, true))) {
            self.evict(digest).await;
        }
        result
    }

    /// Removes the least recently used blobs, not pinned and not `keep`, until the cache
    /// is within its bound.
    async fn evict(&self, keep: &str) {
        let dir = self.blob_dir();
        let pinned: Vec<PathBuf> = {
            let pins = self.pins.lock().unwrap_or_else(|e| e.into_inner());
            pins.keys()
                .chain(std::iter::once(&keep.to_string()))
                .filter_map(|d| self.path(d).ok())
                .collect()
        };
        let max = self.settings.max_bytes;
        let evicted = tokio::task::spawn_blocking(move || evict_blocking(&dir, max, &pinned)).await;
        match evicted {
            Ok(evicted) if !evicted.is_empty() => {
                tracing::info!(
                    ?evicted,
                    "evicted blobs from the OCI cache (over its size bound)"
                )
            }
            _ => {}
        }
    }
}

fn evict_blocking(dir: &Path, max: u64, pinned: &[PathBuf]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut blobs: Vec<(SystemTime, u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() == 64 && !name.starts_with('.')
        })
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((meta.modified().ok()?, meta.len(), e.path()))
        })
        .collect();
    let mut total: u64 = blobs.iter().map(|(_, len, _)| len).sum();
    blobs.sort();
    let mut evicted = Vec::new();
    for (_, len, path) in blobs {
        if total <= max {
            break;
        }
        if pinned.contains(&path) {
            continue;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            evicted.push(
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    evicted
}

/// Whether the blob is in place; if so its modification time becomes now (last use).
fn touch(path: &Path) -> bool {
    match std::fs::File::options().append(true).open(path) {
        Ok(file) => {
            let _ = file.set_modified(SystemTime::now());
            true
        }
        Err(_) => false,
    }
}

/// An exclusive lock on `path` (created if missing), held until dropped.
async fn lock_file(path: PathBuf) -> Result<std::fs::File, OciError> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| OciError::io(format!("opening the lock {}", path.display()), e))?;
        file.lock()
            .map_err(|e| OciError::io(format!("locking {}", path.display()), e))?;
        Ok(file)
    })
    .await
    .map_err(|e| OciError::io("locking a cache entry", std::io::Error::other(e)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(data: &[u8]) -> String {
        use sha2::Digest as _;
        format!("sha256:{:x}", sha2::Sha256::digest(data))
    }

    #[tokio::test]
    async fn one_fetch_per_digest_and_eviction_spares_pins() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(CacheSettings {
            dir: dir.path().to_path_buf(),
            max_bytes: 10,
        });
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let a = digest(b"aaaaaaaa");
        let fetch = |data: &'static [u8]| {
            let fetches = fetches.clone();
            move |part: PathBuf| async move {
                fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                tokio::fs::write(part, data)
                    .await
                    .map_err(|e| OciError::io("w", e))
            }
        };
        let (one, two) = tokio::join!(
            cache.get_or_fetch(&a, fetch(b"aaaaaaaa")),
            cache.get_or_fetch(&a, fetch(b"aaaaaaaa"))
        );
        let (one, two) = (one.unwrap(), two.unwrap());
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(one.1 != two.1, "exactly one of the two downloaded");
        assert_eq!(std::fs::read(&one.0).unwrap(), b"aaaaaaaa");

        // Over the bound (8 + 8 > 10): the older, unpinned blob goes; a pinned one stays.
        let pin = cache.pin(&a);
        let b = digest(b"bbbbbbbb");
        cache.get_or_fetch(&b, fetch(b"bbbbbbbb")).await.unwrap();
        assert!(one.0.exists(), "pinned blobs are never evicted");
        drop(pin);
        let c = digest(b"cccccccc");
        cache.get_or_fetch(&c, fetch(b"cccccccc")).await.unwrap();
        assert!(
            !one.0.exists(),
            "the least recently used unpinned blob is evicted"
        );
        assert!(cache.path(&c).unwrap().exists());

        // A failed fetch leaves nothing behind.
        let d = digest(b"dddd");
        let failed = cache
            .get_or_fetch(&d, |_| async {
                Err(OciError::io("x", std::io::Error::other("boom")))
            })
            .await;
        assert!(failed.is_err());
        assert!(!cache.path(&d).unwrap().exists());
    }
}
