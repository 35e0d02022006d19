//! Artifacts, for hosts and the CLI: in OCI registries, and provider archives made here.
//!
//! - [`ArtifactRef`]: a start command's reference, parsed (spec §3.1.1: `oci://` and
//!   `http(s)://` stripped, lowercased, no tag = `:latest`).
//! - [`Registry`]: pulls a provider archive or a component into the blob cache (keyed by
//!   digest, shared by every host on the machine, one download per blob, streamed to disk
//!   while hashed, bounded in size) and pushes artifacts as `wash push` does.
//! - [`media`]: the layer types of spec §10.1.
//! - [`par`]: provider archives with signed claims, as `wash par create` makes them.
//! - [`component_claims`]: the claims a component embeds, verified as 1.9.2 does and
//!   signed as `wash claims sign` does.
//!
//! Registry traffic goes through the `oci-client` crate.

mod cache;
pub mod component_claims;
mod error;
pub mod jwt;
pub mod media;
pub mod par;
mod pull;
mod push;
mod reference;
mod registry;

pub use cache::{CacheSettings, Pin};
pub use error::{OciError, OciErrorKind};
pub use media::ArtifactKind;
pub use pull::{Progress, Pulled};
pub use push::Pushed;
pub use reference::{ArtifactRef, is_registry_reference};
pub use registry::{Credential, RegistryCredential, RegistrySettings};

use std::collections::BTreeMap;

use oci_client::client::Certificate;
use oci_client::secrets::RegistryAuth;

/// Pulls and pushes artifacts with one set of settings. Cheap to clone; clones share the
/// cache's locks and pins and the credentials.
#[derive(Clone)]
pub struct Registry {
    allow_latest: bool,
    allowed_insecure: Vec<String>,
    ca_certificates: Vec<Certificate>,
    /// Credentials by registry: the host's flags, then what `registry.put` sends.
    credentials: tokio::sync::watch::Sender<BTreeMap<String, Credential>>,
    cache: cache::BlobCache,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("allow_latest", &self.allow_latest)
            .field("allowed_insecure", &self.allowed_insecure)
            .field("credentials", &*self.credentials.borrow())
            .field("cache", &self.cache)
            .finish()
    }
}

impl Registry {
    /// Reads the CA files of `settings` (an unreadable one is an error naming it).
    pub fn new(settings: RegistrySettings, cache: CacheSettings) -> Result<Self, OciError> {
        Ok(Registry {
            allow_latest: settings.allow_latest,
            allowed_insecure: settings.allowed_insecure,
            ca_certificates: registry::read_ca_files(&settings.ca_paths)?,
            credentials: tokio::sync::watch::Sender::new(settings.credentials),
            cache: cache::BlobCache::new(cache),
        })
    }

    /// Sets (or, with `None`, clears) the credentials of each registry named, as a
    /// `registry.put` does; other registries keep theirs.
    pub fn put_credentials(&self, credentials: BTreeMap<String, Option<Credential>>) {
        self.credentials.send_modify(|known| {
            for (registry, credential) in credentials {
                match credential {
                    Some(credential) => known.insert(registry, credential),
                    None => known.remove(&registry),
                };
            }
        });
    }

    /// The registries that have credentials.
    pub fn registries_with_credentials(&self) -> Vec<String> {
        self.credentials.borrow().keys().cloned().collect()
    }

    /// Whether these settings allow pulling `reference` (`:latest` needs `allow_latest`).
    pub fn check_allowed(&self, reference: &ArtifactRef) -> Result<(), OciError> {
        if reference.is_latest() && !self.allow_latest {
            return Err(OciError::LatestRefused {
                reference: reference.given().to_string(),
            });
        }
        Ok(())
    }

    /// Keeps the blob `digest` from eviction while the pin lives.
    pub fn pin(&self, digest: &str) -> Pin {
        self.cache.pin(digest)
    }

    fn auth(&self, registry: &str) -> RegistryAuth {
        self.credentials
            .borrow()
            .get(registry)
            .map_or(RegistryAuth::Anonymous, Credential::auth)
    }

    /// A client for one operation: credentials change at run time (`registry.put`), and
    /// a client keeps the first credentials it was given for a registry.
    fn client(&self) -> oci_client::Client {
        oci_client::Client::new(registry::client_config(
            &self.allowed_insecure,
            &self.ca_certificates,
        ))
    }
}
