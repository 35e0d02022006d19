//! Pulling one artifact: resolve the manifest, pick the layer, fetch the blob into the
//! cache unless it is there.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use oci_client::manifest::{OciDescriptor, OciManifest};
use sha2::Digest as _;
use tokio::io::AsyncWriteExt as _;

use crate::Registry;
use crate::error::OciError;
use crate::media::ArtifactKind;
use crate::reference::ArtifactRef;

/// A pulled artifact: its layer in the cache.
#[derive(Clone, Debug)]
pub struct Pulled {
    /// The layer's file in the cache (read it; never write it).
    pub path: PathBuf,
    /// The layer's digest (`sha256:…`): what the cache is keyed by.
    pub layer_digest: String,
    /// The manifest's digest: what the reference resolved to.
    pub manifest_digest: String,
    /// The layer's media type.
    pub media_type: String,
    /// The layer's size in bytes.
    pub size: u64,
    /// False when the blob came from the cache (no blob was fetched).
    pub downloaded: bool,
}

/// How a download is going; reported at most every half second, and once at the end.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The layer being downloaded.
    pub digest: String,
    /// Bytes received so far.
    pub bytes: u64,
    /// The layer's size, as the manifest says.
    pub total: u64,
    /// Since the download started.
    pub elapsed: Duration,
    /// True on the last report, when every byte is in and checked.
    pub done: bool,
}

impl Progress {
    /// Average bytes per second so far.
    pub fn bytes_per_second(&self) -> u64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.bytes as f64 / secs) as u64
        } else {
            0
        }
    }
}

const PROGRESS_EVERY: Duration = Duration::from_millis(500);

impl Registry {
    /// Pulls the `kind` artifact `reference` names. The manifest is always resolved; the
    /// layer is downloaded only when the cache does not have its digest yet. `progress`
    /// hears about downloads (not about cache hits).
    pub async fn pull(
        &self,
        reference: &ArtifactRef,
        kind: ArtifactKind,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Pulled, OciError> {
        self.check_allowed(reference)?;
        let registry = reference.registry().to_string();
        let client_error = |e| OciError::from_client("pulling", reference.given(), &registry, e);
        let client = self.client();
        let auth = self.auth(&registry);
        let (manifest, manifest_digest) = client
            .pull_manifest(reference.oci(), &auth)
            .await
            .map_err(client_error)?;
        let layer = pick_layer(reference, kind, &manifest)?;
        let size = u64::try_from(layer.size).unwrap_or(0);
        let (path, downloaded) = self
            .cache
            .get_or_fetch(&layer.digest, |part| {
                download(&client, reference, &registry, &layer, part, progress)
            })
            .await?;
        Ok(Pulled {
            path,
            layer_digest: layer.digest.clone(),
            manifest_digest,
            media_type: layer.media_type.clone(),
            size,
            downloaded,
        })
    }
}

/// The one layer of `manifest` that a `kind` artifact is pulled from.
fn pick_layer(
    reference: &ArtifactRef,
    kind: ArtifactKind,
    manifest: &OciManifest,
) -> Result<OciDescriptor, OciError> {
    let accepted = kind.accepted_layers();
    let wrong = |found: String| OciError::WrongLayers {
        reference: reference.given().to_string(),
        noun: kind.noun(),
        found,
        accepted: accepted.join(" or "),
    };
    let manifest = match manifest {
        OciManifest::Image(image) => image,
        OciManifest::ImageIndex(_) => {
            return Err(wrong("an image index (a multi-platform image)".into()));
        }
    };
    let mut layers = manifest
        .layers
        .iter()
        .filter(|l| accepted.contains(&l.media_type.as_str()));
    match (layers.next(), layers.next(), manifest.layers.len()) {
        (Some(layer), None, 1) => Ok(layer.clone()),
        _ => Err(wrong(if manifest.layers.is_empty() {
            "no layers".to_string()
        } else {
            format!(
                "{} layer(s) of type {}",
                manifest.layers.len(),
                manifest
                    .layers
                    .iter()
                    .map(|l| l.media_type.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })),
    }
}

/// A download that ended in an error: the client checks the digest as the last bytes
/// come in, so a wrong digest arrives here as an I/O error.
fn broken_off(
    reference: &ArtifactRef,
    registry: &str,
    layer: &OciDescriptor,
    error: std::io::Error,
) -> OciError {
    let text = error.to_string();
    if text.contains("Invalid digest") {
        let actual = text
            .rsplit("got ")
            .next()
            .unwrap_or("another digest")
            .trim()
            .to_string();
        return OciError::DigestMismatch {
            reference: reference.given().to_string(),
            registry: registry.to_string(),
            expected: layer.digest.clone(),
            actual,
        };
    }
    OciError::Registry {
        operation: "pulling",
        reference: reference.given().to_string(),
        registry: registry.to_string(),
        kind: crate::OciErrorKind::Registry,
        message: format!("the download of layer {} broke off: {text}", layer.digest),
    }
}

/// Streams the layer to `part` while hashing it; an error if the bytes are not the digest.
async fn download(
    client: &oci_client::Client,
    reference: &ArtifactRef,
    registry: &str,
    layer: &OciDescriptor,
    part: PathBuf,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<(), OciError> {
    let client_error = |e| OciError::from_client("pulling", reference.given(), registry, e);
    let mut stream = client
        .pull_blob_stream(reference.oci(), layer)
        .await
        .map_err(client_error)?;
    let write_error = |e| OciError::io(format!("writing {}", part.display()), e);
    let mut file = tokio::fs::File::create(&part).await.map_err(write_error)?;
    let mut hasher = sha2::Sha256::new();
    let total = u64::try_from(layer.size).unwrap_or(0);
    let started = Instant::now();
    let mut last_report = started;
    let mut bytes = 0u64;
    while let Some(chunk) = stream.stream.next().await {
        let chunk = chunk.map_err(|e| broken_off(reference, registry, layer, e))?;
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(write_error)?;
        bytes += chunk.len() as u64;
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            progress(Progress {
                digest: layer.digest.clone(),
                bytes,
                total,
                elapsed: started.elapsed(),
                done: false,
            });
        }
    }
    file.flush().await.map_err(write_error)?;
    file.sync_all().await.map_err(write_error)?;
    let actual = format!("sha256:{:x}", hasher.finalize());
    if actual != layer.digest {
        return Err(OciError::DigestMismatch {
            reference: reference.given().to_string(),
            registry: registry.to_string(),
            expected: layer.digest.clone(),
            actual,
        });
    }
    progress(Progress {
        digest: layer.digest.clone(),
        bytes,
        total,
        elapsed: started.elapsed(),
        done: true,
    });
    Ok(())
}
