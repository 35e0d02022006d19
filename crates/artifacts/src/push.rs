//! Pushing an artifact the way `wash push` does: one layer (a PAR or a component) and a
//! config blob, in an OCI image manifest.

use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::OciImageManifest;

use crate::Registry;
use crate::error::OciError;
use crate::media::{self, ArtifactKind};
use crate::reference::ArtifactRef;

/// What a push stored.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// The manifest digest (`sha256:…`): `repo@digest` pulls exactly this.
    pub manifest_digest: String,
    /// The layer's digest.
    pub layer_digest: String,
    /// The layer's size.
    pub size: u64,
}

impl Registry {
    /// Pushes `artifact` (a provider archive or a component) as `reference`. `:latest` is
    /// refused unless the registry settings allow it.
    pub async fn push(
        &self,
        reference: &ArtifactRef,
        kind: ArtifactKind,
        artifact: Vec<u8>,
    ) -> Result<Pushed, OciError> {
        self.check_allowed(reference)?;
        let registry = reference.registry().to_string();
        let client_error = |e| OciError::from_client("pushing", reference.given(), &registry, e);
        let size = artifact.len() as u64;
        let layer = ImageLayer::new(artifact, kind.pushed_layer().to_string(), None);
        let layer_digest = layer.sha256_digest();
        let config = match kind {
            ArtifactKind::Provider => Config::new(
                b"{}".to_vec(),
                media::PROVIDER_ARCHIVE_CONFIG.to_string(),
                None,
            ),
            ArtifactKind::Component => {
                let created = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
                let config = serde_json::json!({
                    "created": created.to_string(),
                    "architecture": "wasm",
                    "os": "wasip2",
                    "layerDigests": [layer_digest],
                });
                Config::new(
                    config.to_string().into_bytes(),
                    media::WASM_CONFIG.to_string(),
                    None,
                )
            }
        };
        let layers = [layer];
        let manifest = OciImageManifest::build(&layers, &config, None);
        let client = self.client();
        let auth = self.auth(&registry);
        client
            .push(reference.oci(), &layers, config, &auth, Some(manifest))
            .await
            .map_err(client_error)?;
        let manifest_digest = client
            .fetch_manifest_digest(reference.oci(), &auth)
            .await
            .map_err(client_error)?;
        Ok(Pushed {
            manifest_digest,
            layer_digest,
            size,
        })
    }
}
