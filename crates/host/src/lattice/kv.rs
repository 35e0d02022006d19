//! The lattice's JetStream KV buckets (spec §5): `LATTICEDATA_{lattice}` with one
//! `COMPONENT_{id}` spec per source, and `CONFIGDATA_{lattice}` with one key per named
//! config. Created if missing with the 1.x host's settings, so lattice and wasmCloud
//! hosts can share them.

use async_nats::jetstream::{self, kv};
use lattice_proto::Link;
use serde::{Deserialize, Serialize};

use crate::error::HostError;

/// What `COMPONENT_{id}` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ComponentSpecification {
    /// The image reference of the component or provider (`""` when only links exist).
    #[serde(default)]
    pub(crate) url: String,
    /// Every link whose source is this ID.
    #[serde(default)]
    pub(crate) links: Vec<Link>,
}

/// Key prefix of component and provider specs.
pub(crate) const COMPONENT_PREFIX: &str = "COMPONENT_";

/// Both buckets of one lattice.
#[derive(Clone)]
pub(crate) struct Buckets {
    pub(crate) data: kv::Store,
    pub(crate) config: kv::Store,
}

impl Buckets {
    /// Opens (or creates) the buckets on the ctl connection.
    pub(crate) async fn open(
        ctl: &async_nats::Client,
        lattice: &str,
        js_domain: Option<&str>,
    ) -> Result<Self, HostError> {
        let js = match js_domain {
            Some(domain) => jetstream::with_domain(ctl.clone(), domain),
            None => jetstream::new(ctl.clone()),
        };
        Ok(Buckets {
            data: open_bucket(&js, &format!("LATTICEDATA_{lattice}")).await?,
            config: open_bucket(&js, &format!("CONFIGDATA_{lattice}")).await?,
        })
    }
}

async fn open_bucket(js: &jetstream::Context, bucket: &str) -> Result<kv::Store, HostError> {
    let fail = |reason: String| HostError::Bucket {
        bucket: bucket.to_string(),
        reason,
    };
    if let Ok(store) = js.get_key_value(bucket).await {
        return Ok(store);
    }
    let config = kv::Config {
        bucket: bucket.to_string(),
        history: 1,
        ..Default::default()
    };
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        // Another host may have created it meanwhile.
        Err(create_error) => js.get_key_value(bucket).await.map_err(|_| {
            fail(format!(
                "{create_error} (is JetStream enabled on the server?)"
            ))
        }),
    }
}
