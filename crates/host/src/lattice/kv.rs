//! The lattice's JetStream KV buckets (spec §5): `LATTICEDATA_{lattice}` with one
//! `COMPONENT_{id}` spec per source, and `CONFIGDATA_{lattice}` with one key per named
//! config. Created if missing with the 1.x host's settings (history 1), so lattice and
//! wasmCloud hosts can share them; lattice adds a replica count ([`BucketSettings`]).

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

/// Where the buckets live and how they are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BucketSettings {
    /// JetStream domain, if any.
    pub(crate) js_domain: Option<String>,
    /// Copies of each bucket in a JetStream cluster (1 to 5; 1.9.2 always creates 1).
    /// A bucket that exists with fewer is raised to this many; with one replica, the
    /// lattice's links and config are unavailable while the node holding them is down.
    pub(crate) replicas: usize,
}

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
        settings: &BucketSettings,
    ) -> Result<Self, HostError> {
        let js = match &settings.js_domain {
            Some(domain) => jetstream::with_domain(ctl.clone(), domain),
            None => jetstream::new(ctl.clone()),
        };
        let replicas = settings.replicas;
        Ok(Buckets {
            data: open_bucket(&js, &format!("LATTICEDATA_{lattice}"), replicas).await?,
            config: open_bucket(&js, &format!("CONFIGDATA_{lattice}"), replicas).await?,
        })
    }
}

async fn open_bucket(
    js: &jetstream::Context,
    bucket: &str,
    replicas: usize,
) -> Result<kv::Store, HostError> {
    let fail = |reason: String| HostError::Bucket {
        bucket: bucket.to_string(),
        reason,
    };
    if let Ok(store) = js.get_key_value(bucket).await {
        raise_replicas(js, bucket, replicas).await.map_err(fail)?;
        return Ok(store);
    }
    let config = kv::Config {
        bucket: bucket.to_string(),
        history: 1,
        num_replicas: replicas,
        ..Default::default()
    };
    match js.create_key_value(config).await {
        Ok(store) => Ok(store),
        // Another host may have created it meanwhile.
        Err(create_error) => js.get_key_value(bucket).await.map_err(|_| {
            fail(format!(
                "{create_error} (is JetStream enabled on the server? with --kv-replicas {replicas}, are there as many JetStream servers in the cluster?)"
            ))
        }),
    }
}

/// Raises the replicas of an existing bucket's stream to `replicas` (never lowers them:
/// another host may want more).
async fn raise_replicas(
    js: &jetstream::Context,
    bucket: &str,
    replicas: usize,
) -> Result<(), String> {
    let name = format!("KV_{bucket}");
    let mut stream = js
        .get_stream(&name)
        .await
        .map_err(|e| format!("cannot read stream {name}: {e}"))?;
    let current = stream
        .info()
        .await
        .map_err(|e| format!("cannot read stream {name}: {e}"))?
        .config
        .clone();
    if current.num_replicas >= replicas {
        return Ok(());
    }
    let from = current.num_replicas;
    let mut config = current;
    config.num_replicas = replicas;
    js.update_stream(config).await.map_err(|e| {
        format!("cannot raise the replicas of {name} from {from} to {replicas}: {e}")
    })?;
    tracing::info!(bucket, from, to = replicas, "bucket replicas raised");
    Ok(())
}
