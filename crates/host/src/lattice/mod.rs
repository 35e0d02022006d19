//! Lattice state: links and named config, shared by every host through JetStream KV.
//!
//! One owner task per host keeps the links (by source) and the named configs, loaded
//! from the buckets at start and then kept current from their watches. It also knows
//! the providers running on this host (their config names and xkeys) and pushes to them:
//!
//! - a new or changed link in which a local provider is source or target, resolved,
//!   on that provider's xkey subject (`linkdefs.put`);
//! - a changed merged config, once per real change, on `{id}.config.update`;
//! - when a named config that a link refers to changes, the re-resolved link. The host
//!   that handles the config change first sends the link's delete to the source and
//!   target (the official SDK ignores a re-put of a link it holds), then writes KV, so
//!   the delete reaches every instance before the put that follows the write; before the
//!   put, this host waits for a health round trip with each local end, so an SDK that
//!   handles deletes and puts on separate tasks has taken the delete first. The deletes
//!   carry a header with their reason, and the lattice SDK skips them and applies the
//!   re-put as a change.
//!
//! Link deletes are sent by the host that handles `link.del`, to the source's and
//! target's ID subjects, which every instance listens on.

pub(crate) mod config;
mod kv;
pub(crate) mod links;
mod resolve;

use std::collections::HashMap;

use async_nats::jetstream::kv::{Entry, Operation, Store};
use futures::{Stream, StreamExt as _};
use lattice_proto::subjects::ProviderSubjects;
use lattice_proto::{InterfaceLinkDefinition, Link};
use tokio::sync::{Mutex, mpsc, oneshot};

pub(crate) use kv::Buckets;
use kv::{COMPONENT_PREFIX, ComponentSpecification};
use resolve::ConfigMap;

use crate::error::HostError;

/// How long a re-put waits for a provider to dispatch the delete sent before it.
const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Number of write-lock stripes (keys that share a stripe wait for each other).
const WRITE_LOCK_STRIPES: usize = 64;

/// What a provider gets at spawn from lattice state.
pub(crate) struct Bootstrap {
    pub(crate) config: ConfigMap,
    pub(crate) links: Vec<InterfaceLinkDefinition>,
}

enum Command {
    Links(oneshot::Sender<Vec<Link>>),
    LinksUsing {
        config: String,
        reply: oneshot::Sender<Vec<Link>>,
    },
    Bootstrap {
        provider_id: String,
        config_names: Vec<String>,
        xkey_public: String,
        reply: oneshot::Sender<Result<Bootstrap, String>>,
    },
    Forget {
        provider_id: String,
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
}

impl LatticeState {
    /// Opens the buckets, loads their contents and starts following them. Returns
    /// once the current state is loaded.
    pub(crate) async fn start(
        ctl: &async_nats::Client,
        rpc: async_nats::Client,
        lattice: &str,
        js_domain: Option<&str>,
    ) -> Result<Self, HostError> {
        let buckets = Buckets::open(ctl, lattice, js_domain).await?;
        let watch_fail = |bucket: &str, e: &dyn std::fmt::Display| HostError::Bucket {
            bucket: bucket.to_string(),
            reason: format!("cannot watch: {e}"),
        };
        // Watch first, then read: nothing written in between is missed.
        let data_watch = buckets
            .data
            .watch_all()
            .await
            .map_err(|e| watch_fail(buckets.data.name.as_str(), &e))?;
        let config_watch = buckets
            .config
            .watch_all()
            .await
            .map_err(|e| watch_fail(buckets.config.name.as_str(), &e))?;
        let mut owner = Owner {
            provider_subjects: ProviderSubjects::new(lattice),
            rpc,
            links: HashMap::new(),
            configs: HashMap::new(),
            local: HashMap::new(),
        };
        for entry in read_all(&buckets.config).await? {
            owner.apply_config(&entry).await;
        }
        for entry in read_all(&buckets.data).await? {
            owner.apply_data(&entry).await;
        }
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(owner.run(rx, data_watch, config_watch));
        Ok(LatticeState {
            tx,
            buckets,
            write_locks: std::sync::Arc::new(std::array::from_fn(|_| Mutex::new(()))),
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

    /// Every link this host knows.
    pub(crate) async fn links(&self) -> Result<Vec<Link>, HostError> {
        self.ask(Command::Links).await
    }

    /// The links that name config `config` on either side.
    pub(crate) async fn links_using(&self, config: &str) -> Result<Vec<Link>, HostError> {
        let config = config.to_string();
        self.ask(|reply| Command::LinksUsing { config, reply })
            .await
    }

    /// Registers a provider (re)starting here and returns its config and links; an
    /// error names a config that does not exist.
    pub(crate) async fn bootstrap(
        &self,
        provider_id: &str,
        config_names: &[String],
        xkey_public: &str,
    ) -> Result<Bootstrap, String> {
        let request = |reply| Command::Bootstrap {
            provider_id: provider_id.to_string(),
            config_names: config_names.to_vec(),
            xkey_public: xkey_public.to_string(),
            reply,
        };
        self.ask(request).await.map_err(|e| e.to_string())?
    }

    /// The provider stopped on this host.
    pub(crate) async fn forget(&self, provider_id: &str) {
        let _ = self
            .tx
            .send(Command::Forget {
                provider_id: provider_id.to_string(),
            })
            .await;
    }
}

async fn read_all(store: &Store) -> Result<Vec<Entry>, HostError> {
    let fail = |e: &dyn std::fmt::Display| HostError::Bucket {
        bucket: store.name.clone(),
        reason: format!("cannot read: {e}"),
    };
    let mut keys = store.keys().await.map_err(|e| fail(&e))?;
    let mut entries = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| fail(&e))?;
        if let Some(entry) = store.entry(key).await.map_err(|e| fail(&e))? {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// A provider running on this host, as lattice state sees it.
struct Local {
    config_names: Vec<String>,
    xkey_public: String,
    /// The merged config it last got (HostData or `config.update`).
    config: ConfigMap,
}

struct Owner {
    provider_subjects: ProviderSubjects,
    rpc: async_nats::Client,
    links: HashMap<String, Vec<Link>>,
    configs: HashMap<String, ConfigMap>,
    local: HashMap<String, Local>,
}

impl Owner {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut data: impl Stream<Item = Result<Entry, async_nats::jetstream::kv::WatcherError>> + Unpin,
        mut config: impl Stream<Item = Result<Entry, async_nats::jetstream::kv::WatcherError>> + Unpin,
    ) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => return,
                },
                Some(entry) = data.next() => match entry {
                    Ok(entry) => self.apply_data(&entry).await,
                    Err(error) => tracing::warn!(%error, "lattice data watch error"),
                },
                Some(entry) = config.next() => match entry {
                    Ok(entry) => self.apply_config(&entry).await,
                    Err(error) => tracing::warn!(%error, "config watch error"),
                },
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Links(reply) => {
                let mut all: Vec<Link> = self.links.values().flatten().cloned().collect();
                all.sort_by(|a, b| {
                    (&a.source_id, &a.target, &a.name).cmp(&(&b.source_id, &b.target, &b.name))
                });
                let _ = reply.send(all);
            }
            Command::LinksUsing { config, reply } => {
                let using = self
                    .links
                    .values()
                    .flatten()
                    .filter(|l| resolve::uses_config(l, &config))
                    .cloned()
                    .collect();
                let _ = reply.send(using);
            }
            Command::Bootstrap {
                provider_id,
                config_names,
                xkey_public,
                reply,
            } => {
                let missing = config_names.iter().find(|n| {
                    !n.starts_with(resolve::SECRET_PREFIX) && !self.configs.contains_key(*n)
                });
                if let Some(name) = missing {
                    let _ = reply.send(Err(format!("named config `{name}` does not exist")));
                    return;
                }
                let config = resolve::merge(&self.configs, &config_names);
                let links = self
                    .links
                    .values()
                    .flatten()
                    .filter(|l| l.source_id == provider_id || l.target == provider_id)
                    .map(|l| resolve::resolve(&self.configs, l))
                    .collect();
                self.local.insert(
                    provider_id,
                    Local {
                        config_names,
                        xkey_public,
                        config: config.clone(),
                    },
                );
                let _ = reply.send(Ok(Bootstrap { config, links }));
            }
            Command::Forget { provider_id } => {
                self.local.remove(&provider_id);
            }
        }
    }

    /// A LATTICEDATA change: links of the spec not held before go to local providers.
    async fn apply_data(&mut self, entry: &Entry) {
        let Some(source) = entry.key.strip_prefix(COMPONENT_PREFIX) else {
            return; // CLAIMS_*, legacy keys: not lattice's business
        };
        if entry.operation != Operation::Put {
            self.links.remove(source);
            return;
        }
        let spec: ComponentSpecification = match serde_json::from_slice(&entry.value) {
            Ok(spec) => spec,
            Err(error) => {
                tracing::warn!(key = %entry.key, %error, "ignoring an undecodable component spec");
                return;
            }
        };
        let old = self
            .links
            .insert(source.to_string(), spec.links.clone())
            .unwrap_or_default();
        for link in spec.links.iter().filter(|l| !old.contains(l)) {
            self.deliver(link).await;
        }
    }

    /// A CONFIGDATA change: push merged configs and re-resolved links that changed.
    async fn apply_config(&mut self, entry: &Entry) {
        let name = entry.key.clone();
        let new = match entry.operation {
            Operation::Put => match serde_json::from_slice::<ConfigMap>(&entry.value) {
                Ok(map) => Some(map),
                Err(error) => {
                    tracing::warn!(config = %name, %error, "ignoring a config that is not a string map");
                    return;
                }
            },
            Operation::Delete | Operation::Purge => None,
        };
        let changed = match &new {
            Some(map) => self.configs.insert(name.clone(), map.clone()).as_ref() != Some(map),
            None => self.configs.remove(&name).is_some(),
        };
        if !changed {
            return;
        }
        let updates: Vec<(String, ConfigMap)> = self
            .local
            .iter()
            .filter(|(_, local)| local.config_names.contains(&name))
            .map(|(id, local)| {
                (
                    id.clone(),
                    resolve::merge(&self.configs, &local.config_names),
                )
            })
            .filter(|(id, merged)| &self.local[id].config != merged)
            .collect();
        for (id, merged) in updates {
            let body = serde_json::to_vec(&merged).expect("config maps encode");
            if let Err(error) = self
                .rpc
                .publish(self.provider_subjects.config_update(&id), body.into())
                .await
            {
                tracing::warn!(provider_id = %id, %error, "cannot publish config update");
            }
            if let Some(local) = self.local.get_mut(&id) {
                local.config = merged;
            }
        }
        let affected: Vec<Link> = self
            .links
            .values()
            .flatten()
            .filter(|l| resolve::uses_config(l, &name))
            .cloned()
            .collect();
        if affected.is_empty() {
            return;
        }
        self.settle(&affected).await;
        for link in &affected {
            self.deliver(link).await;
        }
    }

    /// Waits until the local ends of `links` have dispatched what reached them before.
    ///
    /// The host that handled the config change sent these links' deletes before it
    /// wrote, so they have reached the providers; but an SDK that receives puts and
    /// deletes on separate tasks (the official one) may not have handled the delete yet,
    /// and a put it handles first is ignored as a duplicate. A health request goes
    /// through the same dispatch loop, so once it is answered the delete has been taken.
    /// Bounded by [`SETTLE_TIMEOUT`]: a provider that does not answer gets the put anyway.
    async fn settle(&self, links: &[Link]) {
        let mut ends: Vec<&str> = links
            .iter()
            .flat_map(|l| [l.source_id.as_str(), l.target.as_str()])
            .filter(|id| self.local.contains_key(*id))
            .collect();
        ends.sort_unstable();
        ends.dedup();
        let probes = ends.into_iter().map(|id| {
            let request = self
                .rpc
                .request(self.provider_subjects.health(id), bytes::Bytes::new());
            tokio::time::timeout(SETTLE_TIMEOUT, request)
        });
        futures::future::join_all(probes).await;
    }

    /// Sends `link`, resolved, to the local providers that are its source or target.
    async fn deliver(&self, link: &Link) {
        let resolved = resolve::resolve(&self.configs, link);
        let body: bytes::Bytes = serde_json::to_vec(&resolved).expect("links encode").into();
        let mut ends = vec![link.source_id.as_str()];
        if link.target != link.source_id {
            ends.push(&link.target);
        }
        for id in ends {
            let Some(local) = self.local.get(id) else {
                continue;
            };
            let subject = self.provider_subjects.link_put(&local.xkey_public);
            if let Err(error) = self.rpc.publish(subject, body.clone()).await {
                tracing::warn!(provider_id = id, %error, "cannot deliver link");
            }
        }
    }
}
