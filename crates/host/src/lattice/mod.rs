//! Lattice state: links and named config, shared by every host through JetStream KV.
//!
//! One owner task per host keeps the links (by source) and the named configs, loaded
//! from the buckets at start and then kept current from their watches. It also knows
//! the providers running on this host (their config names and xkeys) and pushes to them:
//!
//! - a new or changed link in which a local provider is source or target, resolved,
//!   on that provider's xkey subject (`linkdefs.put`);
//! - a changed merged config, once per real change, on `{id}.config.update`;
//! - when a named config that a link refers to changes, the re-resolved link, as a
//!   re-put. A config change never removes a link from any provider: the lattice SDK
//!   applies the re-put as a change; the official SDK ignores a re-put of a link it
//!   holds and keeps the values it has (as with 1.x hosts) until it restarts.
//!
//! Link deletes are sent by the host that handles `link.del`, to the source's and
//! target's ID subjects, which every instance listens on.
//!
//! A provider registers at spawn (its HostData carries the current links and config)
//! but subscribes only once it runs; when it first answers a health check its
//! supervisor asks for a re-sync, and whatever changed in between is sent again. After
//! contact with a provider was lost (a probe unanswered, the host's own reconnect), its
//! next answer brings it all its links and its config again (a refresh). If a
//! bucket's watch ends, it is opened again and the bucket re-read, so no change is
//! lost; the host says so loudly while it cannot. The owner ends when the host has
//! stopped (after its providers' last `forget`). The handle is here; the owner task is
//! in `owner.rs`.

mod claims;
mod kv;
pub(crate) mod links;
pub(crate) mod named_config;
mod outbox;
mod owner;
pub(crate) mod resolve;
mod routes;

use async_nats::jetstream::kv::{Entry, Store};
use futures::StreamExt as _;
use lattice_proto::subjects::ProviderSubjects;
use lattice_proto::{InterfaceLinkDefinition, Link};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub(crate) use kv::BucketSettings;
pub(crate) use kv::Buckets;
pub(crate) use outbox::{LinkSealing, link_failed};
use owner::{Bucket, Owner};
pub(crate) use resolve::ConfigMap;
use routes::Routes;

use crate::error::HostError;

/// Pause before re-opening a watch that failed (its connection may be reconnecting).
const REOPEN_AFTER_ERROR: std::time::Duration = std::time::Duration::from_millis(250);

/// Pause between attempts to re-open a bucket watch that ended.
const REWATCH_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Number of write-lock stripes (keys that share a stripe wait for each other).
const WRITE_LOCK_STRIPES: usize = 64;

/// Why a provider cannot get its lattice state at spawn.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BootstrapError {
    #[error("named config `{0}` does not exist")]
    MissingConfig(String),
    #[error(transparent)]
    Host(#[from] HostError),
}

/// What a provider gets at spawn from lattice state.
#[derive(Clone)]
pub(crate) struct Bootstrap {
    pub(crate) config: ConfigMap,
    pub(crate) links: Vec<InterfaceLinkDefinition>,
    /// Each link's secret references (same order as `links`), for the supervisor to seal.
    pub(crate) link_secrets: Vec<resolve::LinkSecretRefs>,
}

/// Named configs a lookup lacks.
pub(super) struct MissingConfigs {
    /// The names not known, in the order asked.
    pub(super) missing: Vec<String>,
    /// Whether the config bucket is being re-read (so they may exist after all).
    pub(super) stale: bool,
    /// The asked-for configs that are known.
    pub(super) known: std::collections::HashMap<String, ConfigMap>,
}

enum Command {
    Bootstrap {
        provider_id: String,
        config_names: Vec<String>,
        xkey_public: String,
        /// The provider's claims JWT (what link secrets are fetched with).
        entity_jwt: Option<String>,
        reply: oneshot::Sender<Result<Bootstrap, BootstrapError>>,
    },
    /// The merged named configs `names`, or what is missing.
    MergedConfig {
        names: Vec<String>,
        reply: oneshot::Sender<Result<ConfigMap, MissingConfigs>>,
    },
    /// The provider now listens: send what changed since its bootstrap.
    Resync {
        provider_id: String,
        xkey_public: String,
    },
    /// The provider answers again after contact was lost: send it all of its links and
    /// its config again (what was published meanwhile may not have reached it).
    Refresh {
        provider_id: String,
        xkey_public: String,
    },
    /// This host wrote `source`'s spec (revision `revision`): apply it now, without
    /// waiting for the watch (which delivers it again, a no-op then).
    SpecWritten {
        source: String,
        revision: u64,
        links: Vec<Link>,
    },
    /// This host wrote config `name` (revision `revision`): apply it now, and reply once
    /// applied, so what this host runs next sees it.
    ConfigWritten {
        name: String,
        revision: u64,
        config: ConfigMap,
        reply: oneshot::Sender<()>,
    },
    /// The provider instance with this xkey stopped (a successor under the same ID has
    /// another xkey and stays registered).
    Forget {
        provider_id: String,
        xkey_public: String,
    },
}

/// A handle to the lattice state of this host.
#[derive(Clone)]
pub(crate) struct LatticeState {
    tx: mpsc::Sender<Command>,
    pub(crate) buckets: Buckets,
    /// Serializes this host's read-modify-write cycles on each LATTICEDATA key (striped
    /// by key), so concurrent requests through one host do not race each other on a
    /// key; other hosts are handled by the revision check.
    write_locks: std::sync::Arc<[Mutex<()>; WRITE_LOCK_STRIPES]>,
    /// The rpc connection, for the link deletes the handling host sends.
    rpc: async_nats::Client,
    subjects: ProviderSubjects,
    /// Every source's links, kept by the owner task.
    routes: Routes,
}

impl LatticeState {
    /// Opens the buckets, loads their contents and starts following them. Returns
    /// once the current state is loaded.
    pub(crate) async fn start(
        ctl: &async_nats::Client,
        rpc: async_nats::Client,
        lattice: &str,
        buckets: &BucketSettings,
        sealing: LinkSealing,
        stop: CancellationToken,
    ) -> Result<Self, HostError> {
        let buckets = Buckets::open(ctl, lattice, buckets).await?;
        // Watch first, then read: nothing written in between is missed.
        let data_watch = buckets.watch(Bucket::Data).await?;
        let config_watch = buckets.watch(Bucket::Config).await?;
        let routes = Routes::default();
        let mut owner = Owner::new(
            ProviderSubjects::new(lattice),
            rpc.clone(),
            buckets.clone(),
            sealing,
            routes.clone(),
        );
        owner.reload(Bucket::Config).await?;
        owner.reload(Bucket::Data).await?;
        let (tx, rx) = mpsc::channel(256);
        // Lives as long as a handle does: it serves the providers' last `forget`s while
        // the host stops, so it is not on the host's tracker.
        let connection = ctl.clone();
        tokio::spawn(
            owner
                .run(rx, data_watch, config_watch, connection, stop)
                .instrument(tracing::info_span!("lattice_state", lattice)),
        );
        Ok(LatticeState {
            tx,
            buckets,
            write_locks: std::sync::Arc::new(std::array::from_fn(|_| Mutex::new(()))),
            rpc,
            subjects: ProviderSubjects::new(lattice),
            routes,
        })
    }

    /// The write lock of `key`'s stripe (a fixed hash: one key, one stripe).
    pub(crate) fn write_lock(&self, key: &str) -> &Mutex<()> {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::hash::DefaultHasher::new();
        key.hash(&mut hasher);
        &self.write_locks[hasher.finish() as usize % WRITE_LOCK_STRIPES]
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, HostError> {
        crate::actor::ask(&self.tx, make).await
    }

    /// Registers a provider (re)starting here and returns its config and links; an
    /// error names a config that does not exist.
    pub(crate) async fn bootstrap(
        &self,
        provider_id: &str,
        config_names: &[String],
        xkey_public: &str,
        entity_jwt: Option<&str>,
    ) -> Result<Bootstrap, BootstrapError> {
        let request = |reply| Command::Bootstrap {
            provider_id: provider_id.to_string(),
            config_names: config_names.to_vec(),
            xkey_public: xkey_public.to_string(),
            entity_jwt: entity_jwt.map(str::to_string),
            reply,
        };
        self.ask(request).await?
    }

    /// The target of `source`'s link `name` for `namespace:package/interface`, read
    /// without asking the owner task (an invocation's outgoing call asks this).
    pub(crate) fn link_target(
        &self,
        source: &str,
        interface: (&str, &str, &str),
        name: &str,
    ) -> Option<String> {
        self.routes.target(source, interface, name)
    }

    /// The named configs `names` merged in order (later wins; secret references
    /// skipped), or the name of the first that does not exist.
    pub(crate) async fn merged_config(
        &self,
        names: &[String],
    ) -> Result<ConfigMap, BootstrapError> {
        let names = names.to_vec();
        let missing = match self
            .ask(|reply| Command::MergedConfig {
                names: names.clone(),
                reply,
            })
            .await?
        {
            Ok(merged) => return Ok(merged),
            Err(missing) => missing,
        };
        let first = missing.missing[0].clone();
        if !missing.stale {
            return Err(BootstrapError::MissingConfig(first));
        }
        // The state is being re-read (the connection came back, perhaps through another
        // server, and watches cannot be opened while JetStream elects a leader): a name
        // it lacks may have been written meanwhile, so it is read from the bucket itself.
        let mut known = missing.known;
        for name in &missing.missing {
            let read = self.buckets.config.get(name).await.map_err(|e| {
                tracing::warn!(config = %name, error = %e, "cannot read a named config");
                BootstrapError::MissingConfig(name.clone())
            })?;
            let map = read
                .and_then(|bytes| serde_json::from_slice::<ConfigMap>(&bytes).ok())
                .ok_or_else(|| BootstrapError::MissingConfig(name.clone()))?;
            known.insert(name.clone(), map);
        }
        Ok(resolve::merge(&known, &names))
    }

    /// The provider instance with `xkey_public` answers now: send it what changed
    /// since its bootstrap.
    pub(crate) async fn resync(&self, provider_id: &str, xkey_public: &str) {
        let _ = self
            .tx
            .send(Command::Resync {
                provider_id: provider_id.to_string(),
                xkey_public: xkey_public.to_string(),
            })
            .await;
    }

    /// The provider instance with `xkey_public` answers again after contact was lost:
    /// send it every link it is an end of, and its config.
    pub(crate) async fn refresh(&self, provider_id: &str, xkey_public: &str) {
        let _ = self
            .tx
            .send(Command::Refresh {
                provider_id: provider_id.to_string(),
                xkey_public: xkey_public.to_string(),
            })
            .await;
    }

    /// This host wrote `source`'s spec at `revision`: its local providers get the new
    /// links at once.
    pub(crate) async fn spec_written(&self, source: &str, revision: u64, links: Vec<Link>) {
        // Before the write is acknowledged: invocations here follow the new links at once.
        self.routes.set(source, revision, links.clone());
        let _ = self
            .tx
            .send(Command::SpecWritten {
                source: source.to_string(),
                revision,
                links,
            })
            .await;
    }

    /// This host wrote config `name` at `revision`: returns once the state holds it (or
    /// a newer revision), so invocations and providers here see it before the write is
    /// acknowledged.
    pub(crate) async fn config_written(&self, name: &str, revision: u64, config: ConfigMap) {
        let _ = self
            .ask(|reply| Command::ConfigWritten {
                name: name.to_string(),
                revision,
                config,
                reply,
            })
            .await;
    }

    /// The provider instance with `xkey_public` stopped on this host.
    pub(crate) async fn forget(&self, provider_id: &str, xkey_public: &str) {
        let _ = self
            .tx
            .send(Command::Forget {
                provider_id: provider_id.to_string(),
                xkey_public: xkey_public.to_string(),
            })
            .await;
    }
}

/// Every entry of `store` whose key starts with `prefix`, read from the stream (so a
/// write acknowledged before the call is seen).
pub(crate) async fn read_all(store: &Store, prefix: &str) -> Result<Vec<Entry>, HostError> {
    let fail = |e: &dyn std::fmt::Display| HostError::Bucket {
        bucket: store.name.clone(),
        reason: format!("cannot read: {e}"),
    };
    let mut keys = store.keys().await.map_err(|e| fail(&e))?;
    let mut entries = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| fail(&e))?;
        if !key.starts_with(prefix) {
            continue;
        }
        if let Some(entry) = store.entry(key).await.map_err(|e| fail(&e))? {
            entries.push(entry);
        }
    }
    Ok(entries)
}
