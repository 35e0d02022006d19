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
//! supervisor asks for a re-sync, and whatever changed in between is sent again. If a
//! bucket's watch ends, it is opened again and the bucket re-read, so no change is
//! lost; the host says so loudly while it cannot. The owner ends when the host has
//! stopped (after its providers' last `forget`).

mod claims;
mod kv;
pub(crate) mod links;
pub(crate) mod named_config;
mod outbox;
pub(crate) mod resolve;

use std::collections::HashMap;

use async_nats::jetstream::kv::{Entry, Operation, Store};
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt as _};
use lattice_proto::subjects::ProviderSubjects;
use lattice_proto::{InterfaceLinkDefinition, Link};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub(crate) use kv::Buckets;
use kv::{COMPONENT_PREFIX, ComponentSpecification};
pub(crate) use outbox::{LinkSealing, link_failed};
use outbox::{Outgoing, Recipient, outbox};
pub(crate) use resolve::ConfigMap;

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

enum Command {
    Bootstrap {
        provider_id: String,
        config_names: Vec<String>,
        xkey_public: String,
        /// The provider's claims JWT (what link secrets are fetched with).
        entity_jwt: Option<String>,
        reply: oneshot::Sender<Result<Bootstrap, BootstrapError>>,
    },
    /// Where a link of `source` for `namespace:package/interface` under `name` points.
    LinkTarget {
        source: String,
        namespace: String,
        package: String,
        interface: String,
        name: String,
        reply: oneshot::Sender<Option<String>>,
    },
    /// The merged named configs `names` (a missing one: `Err` with its name).
    MergedConfig {
        names: Vec<String>,
        reply: oneshot::Sender<Result<ConfigMap, String>>,
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
}

impl LatticeState {
    /// Opens the buckets, loads their contents and starts following them. Returns
    /// once the current state is loaded.
    pub(crate) async fn start(
        ctl: &async_nats::Client,
        rpc: async_nats::Client,
        lattice: &str,
        js_domain: Option<&str>,
        sealing: LinkSealing,
        stop: CancellationToken,
    ) -> Result<Self, HostError> {
        let buckets = Buckets::open(ctl, lattice, js_domain).await?;
        // Watch first, then read: nothing written in between is missed.
        let data_watch = buckets.watch(Bucket::Data).await?;
        let config_watch = buckets.watch(Bucket::Config).await?;
        let mut owner = Owner {
            provider_subjects: ProviderSubjects::new(lattice),
            rpc: rpc.clone(),
            buckets: buckets.clone(),
            links: HashMap::new(),
            spec_revisions: HashMap::new(),
            configs: HashMap::new(),
            local: HashMap::new(),
            sealing,
        };
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

    /// The target of `source`'s link for `namespace:package/interface` named `name`
    /// (components' outgoing calls are routed by it), if there is one.
    pub(crate) async fn link_target(
        &self,
        source: &str,
        namespace: &str,
        package: &str,
        interface: &str,
        name: &str,
    ) -> Option<String> {
        let request = |reply| Command::LinkTarget {
            source: source.to_string(),
            namespace: namespace.to_string(),
            package: package.to_string(),
            interface: interface.to_string(),
            name: name.to_string(),
            reply,
        };
        self.ask(request).await.ok().flatten()
    }

    /// The named configs `names` merged in order (later wins; secret references
    /// skipped), or the name of the first that does not exist.
    pub(crate) async fn merged_config(
        &self,
        names: &[String],
    ) -> Result<ConfigMap, BootstrapError> {
        let names = names.to_vec();
        self.ask(|reply| Command::MergedConfig { names, reply })
            .await?
            .map_err(BootstrapError::MissingConfig)
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
        let _ = self
            .tx
            .send(Command::SpecWritten {
                source: source.to_string(),
                revision,
                links,
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

/// A provider running on this host, as lattice state sees it.
struct Local {
    config_names: Vec<String>,
    xkey_public: String,
    /// The merged config it last got (HostData or `config.update`).
    config: ConfigMap,
    /// What its HostData carried, until the re-sync once it answers.
    bootstrap: Option<Bootstrap>,
    /// Its outbox: one task publishes what is queued, in order (so a delete sent before
    /// a put arrives first), while the owner goes on.
    outbox: mpsc::UnboundedSender<Outgoing>,
}

/// One of the two buckets.
#[derive(Clone, Copy, Debug)]
enum Bucket {
    Data,
    Config,
}

type Watch = std::pin::Pin<
    Box<dyn Stream<Item = Result<Entry, async_nats::jetstream::kv::WatcherError>> + Send>,
>;

struct Owner {
    provider_subjects: ProviderSubjects,
    rpc: async_nats::Client,
    buckets: Buckets,
    links: HashMap<String, Vec<Link>>,
    /// The revision each spec was last seen at (from the watch, a read, or a write).
    spec_revisions: HashMap<String, u64>,
    configs: HashMap<String, ConfigMap>,
    local: HashMap<String, Local>,
    sealing: LinkSealing,
}

impl Owner {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        data: Watch,
        config: Watch,
        connection: async_nats::Client,
        stop: CancellationToken,
    ) {
        let mut data = Some(data);
        let mut config = Some(config);
        let mut reopening = FuturesUnordered::new();
        // After the connection comes back (a server restart, say), the watches' consumers
        // may be gone without an error for seconds: both are opened again and the
        // buckets re-read at once, which also picks up what changed meanwhile.
        let mut reconnected = lattice_nats::reconnects(&connection);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                Ok(()) = reconnected.changed() => {
                    tracing::info!("NATS connection back; watching lattice state again");
                    data = None;
                    config = None;
                    reopening.push(reopen(self.buckets.clone(), Bucket::Data, std::time::Duration::ZERO));
                    reopening.push(reopen(self.buckets.clone(), Bucket::Config, std::time::Duration::ZERO));
                }
                command = commands.recv() => match command {
                    Some(command) => self.handle(command).await,
                    None => return,
                },
                entry = next_entry(&mut data) => match entry {
                    Some(Ok(entry)) => self.apply_data(&entry).await,
                    // A watch that errs is not polled again (async-nats does not allow it
                    // after some errors): it is opened anew and the bucket re-read.
                    Some(Err(error)) => {
                        tracing::warn!(%error, "lattice data watch error; opening it again");
                        data = None;
                        reopening.push(reopen(self.buckets.clone(), Bucket::Data, REOPEN_AFTER_ERROR));
                    }
                    None => {
                        tracing::error!("the lattice data watch ended; opening it again");
                        data = None;
                        reopening.push(reopen(self.buckets.clone(), Bucket::Data, std::time::Duration::ZERO));
                    }
                },
                entry = next_entry(&mut config) => match entry {
                    Some(Ok(entry)) => self.apply_config(&entry).await,
                    Some(Err(error)) => {
                        tracing::warn!(%error, "config watch error; opening it again");
                        config = None;
                        reopening.push(reopen(self.buckets.clone(), Bucket::Config, REOPEN_AFTER_ERROR));
                    }
                    None => {
                        tracing::error!("the named config watch ended; opening it again");
                        config = None;
                        reopening.push(reopen(self.buckets.clone(), Bucket::Config, std::time::Duration::ZERO));
                    }
                },
                Some((bucket, result)) = reopening.next() => match result {
                    Ok((watch, entries)) => {
                        tracing::info!(?bucket, entries = entries.len(), "watching again; state re-read");
                        self.apply_all(bucket, entries).await;
                        match bucket {
                            Bucket::Data => data = Some(watch),
                            Bucket::Config => config = Some(watch),
                        }
                    }
                    Err(error) => {
                        tracing::error!(?bucket, %error, "cannot watch lattice state; links and config are not delivered until it can; retrying");
                        reopening.push(reopen(self.buckets.clone(), bucket, REWATCH_RETRY));
                    }
                },
            }
        }
    }

    /// Reads a whole bucket and applies it (at start, before the watch is followed).
    async fn reload(&mut self, bucket: Bucket) -> Result<(), HostError> {
        let entries = read_all(self.buckets.of(bucket), "").await?;
        self.apply_all(bucket, entries).await;
        Ok(())
    }

    /// Applies a full read of `bucket`: every entry, and keys that are gone as deletes.
    async fn apply_all(&mut self, bucket: Bucket, entries: Vec<Entry>) {
        match bucket {
            Bucket::Data => {
                let present: std::collections::HashSet<&str> = entries
                    .iter()
                    .filter_map(|e| e.key.strip_prefix(COMPONENT_PREFIX))
                    .collect();
                self.links
                    .retain(|source, _| present.contains(source.as_str()));
                for entry in &entries {
                    self.apply_data(entry).await;
                }
            }
            Bucket::Config => {
                let present: std::collections::HashSet<&str> =
                    entries.iter().map(|e| e.key.as_str()).collect();
                let gone: Vec<String> = self
                    .configs
                    .keys()
                    .filter(|name| !present.contains(name.as_str()))
                    .cloned()
                    .collect();
                for name in gone {
                    self.config_changed(name, None).await;
                }
                for entry in &entries {
                    self.apply_config(entry).await;
                }
            }
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::Bootstrap {
                provider_id,
                config_names,
                xkey_public,
                entity_jwt,
                reply,
            } => {
                let missing = config_names.iter().find(|n| {
                    !n.starts_with(resolve::SECRET_PREFIX) && !self.configs.contains_key(*n)
                });
                if let Some(name) = missing {
                    let _ = reply.send(Err(BootstrapError::MissingConfig(name.clone())));
                    return;
                }
                let (links, link_secrets) = self.links_of(&provider_id).into_iter().unzip();
                let bootstrap = Bootstrap {
                    config: resolve::merge(&self.configs, &config_names),
                    links,
                    link_secrets,
                };
                let (queue, outbox_rx) = mpsc::unbounded_channel();
                let span = tracing::debug_span!("outbox", %provider_id);
                let recipient = Recipient {
                    provider_id: provider_id.clone(),
                    xkey_public: xkey_public.clone(),
                    entity_jwt,
                };
                tokio::spawn(
                    outbox(self.rpc.clone(), recipient, self.sealing.clone(), outbox_rx)
                        .instrument(span),
                );
                self.local.insert(
                    provider_id,
                    Local {
                        config_names,
                        xkey_public,
                        config: bootstrap.config.clone(),
                        bootstrap: Some(bootstrap.clone()),
                        outbox: queue,
                    },
                );
                let _ = reply.send(Ok(bootstrap));
            }
            Command::Resync {
                provider_id,
                xkey_public,
            } => self.resync(&provider_id, &xkey_public).await,
            Command::Refresh {
                provider_id,
                xkey_public,
            } => self.refresh(&provider_id, &xkey_public),
            Command::SpecWritten {
                source,
                revision,
                links,
            } => {
                // Older than what the watch already gave (another host wrote since): skip.
                if self
                    .spec_revisions
                    .get(&source)
                    .is_some_and(|&seen| seen >= revision)
                {
                    return;
                }
                self.spec_revisions.insert(source.clone(), revision);
                self.apply_links(&source, links).await;
            }
            Command::MergedConfig { names, reply } => {
                let missing = names.iter().find(|n| {
                    !n.starts_with(resolve::SECRET_PREFIX) && !self.configs.contains_key(*n)
                });
                let _ = reply.send(match missing {
                    Some(name) => Err(name.clone()),
                    None => Ok(resolve::merge(&self.configs, &names)),
                });
            }
            Command::LinkTarget {
                source,
                namespace,
                package,
                interface,
                name,
                reply,
            } => {
                let target = self.links.get(&source).and_then(|links| {
                    links.iter().find(|l| {
                        l.name == name
                            && l.wit_namespace == namespace
                            && l.wit_package == package
                            && l.interfaces.contains(&interface)
                    })
                });
                let _ = reply.send(target.map(|l| l.target.clone()));
            }
            Command::Forget {
                provider_id,
                xkey_public,
            } => {
                if self
                    .local
                    .get(&provider_id)
                    .is_some_and(|l| l.xkey_public == xkey_public)
                {
                    self.local.remove(&provider_id);
                }
            }
        }
    }

    /// Every link in which `provider_id` is source or target, resolved.
    /// The links `provider_id` is an end of, resolved, with their secret references.
    fn links_of(
        &self,
        provider_id: &str,
    ) -> Vec<(InterfaceLinkDefinition, resolve::LinkSecretRefs)> {
        self.links
            .values()
            .flatten()
            .filter(|l| l.source_id == provider_id || l.target == provider_id)
            .map(|l| {
                (
                    resolve::resolve(&self.configs, l),
                    resolve::LinkSecretRefs::of(&self.configs, l),
                )
            })
            .collect()
    }

    /// Sends a provider that now listens what changed since its HostData was made.
    async fn resync(&mut self, provider_id: &str, xkey_public: &str) {
        let Some(local) = self.local.get_mut(provider_id) else {
            return;
        };
        if local.xkey_public != xkey_public {
            return;
        }
        let Some(bootstrap) = local.bootstrap.take() else {
            return;
        };
        let merged = resolve::merge(&self.configs, &local.config_names);
        local.config = merged.clone();
        let with_refs = self.links_of(provider_id);
        for (link, refs) in with_refs
            .iter()
            .filter(|(l, _)| !bootstrap.links.contains(l))
        {
            let subject = self.provider_subjects.link_put(xkey_public);
            self.publish_link(provider_id, subject, link.clone(), refs.clone());
        }
        let current: Vec<InterfaceLinkDefinition> = with_refs.into_iter().map(|(l, _)| l).collect();
        for link in bootstrap
            .links
            .iter()
            .filter(|old| !current.iter().any(|l| links::same_identity(l, old)))
        {
            let subject = self.provider_subjects.link_del(provider_id);
            self.publish(provider_id, subject, &links::delete_form(link));
        }
        if merged != bootstrap.config {
            let subject = self.provider_subjects.config_update(provider_id);
            self.publish(provider_id, subject, &merged);
        }
    }

    /// Sends a provider that may have missed messages all of its links and its config.
    /// Both are idempotent for providers: a link they hold is ignored when put again.
    fn refresh(&mut self, provider_id: &str, xkey_public: &str) {
        let Some(local) = self.local.get(provider_id) else {
            return;
        };
        if local.xkey_public != xkey_public || local.bootstrap.is_some() {
            return; // another instance, or one that has not had its resync yet
        }
        let config = local.config.clone();
        for (link, refs) in self.links_of(provider_id) {
            let subject = self.provider_subjects.link_put(xkey_public);
            self.publish_link(provider_id, subject, link, refs);
        }
        let subject = self.provider_subjects.config_update(provider_id);
        self.publish(provider_id, subject, &config);
    }

    /// Queues a document for a local provider on its outbox; nothing here waits for NATS.
    fn publish(&self, provider_id: &str, subject: String, body: &impl serde::Serialize) {
        let body = serde_json::to_vec(body).expect("lattice documents encode");
        if let Some(local) = self.local.get(provider_id) {
            let _ = local.outbox.send(Outgoing::Document(subject, body.into()));
        }
    }

    /// Queues a link put; its secrets (if it references any) are sealed by the outbox.
    fn publish_link(
        &self,
        provider_id: &str,
        subject: String,
        link: InterfaceLinkDefinition,
        refs: resolve::LinkSecretRefs,
    ) {
        if refs.is_empty() {
            return self.publish(provider_id, subject, &link);
        }
        if let Some(local) = self.local.get(provider_id) {
            let _ = local.outbox.send(Outgoing::Link {
                subject,
                link: Box::new(link),
                refs,
            });
        }
    }

    /// A LATTICEDATA change: links of the spec not held before go to local providers.
    async fn apply_data(&mut self, entry: &Entry) {
        let Some(source) = entry.key.strip_prefix(COMPONENT_PREFIX) else {
            return; // CLAIMS_*, legacy keys: read from the bucket when asked
        };
        self.spec_revisions
            .insert(source.to_string(), entry.revision);
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
        self.apply_links(source, spec.links).await;
    }

    /// `source`'s links are `links` now: the new ones go to local providers.
    async fn apply_links(&mut self, source: &str, links: Vec<Link>) {
        let old = self
            .links
            .insert(source.to_string(), links.clone())
            .unwrap_or_default();
        for link in links.iter().filter(|l| !old.contains(l)) {
            self.deliver(link).await;
        }
    }

    /// A CONFIGDATA change.
    async fn apply_config(&mut self, entry: &Entry) {
        let new = match entry.operation {
            Operation::Put => match serde_json::from_slice::<ConfigMap>(&entry.value) {
                Ok(map) => Some(map),
                Err(error) => {
                    tracing::warn!(config = %entry.key, %error, "ignoring a config that is not a string map");
                    return;
                }
            },
            Operation::Delete | Operation::Purge => None,
        };
        self.config_changed(entry.key.clone(), new).await;
    }

    /// Config `name` is now `new` (`None`: deleted): push merged configs and re-resolved
    /// links that changed.
    async fn config_changed(&mut self, name: String, new: Option<ConfigMap>) {
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
            let subject = self.provider_subjects.config_update(&id);
            self.publish(&id, subject, &merged);
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
        for link in &affected {
            self.deliver(link).await;
        }
    }

    /// Sends `link`, resolved, to the local providers that are its source or target.
    async fn deliver(&self, link: &Link) {
        let resolved = resolve::resolve(&self.configs, link);
        let refs = resolve::LinkSecretRefs::of(&self.configs, link);
        let mut ends = vec![link.source_id.as_str()];
        if link.target != link.source_id {
            ends.push(&link.target);
        }
        for id in ends {
            let Some(local) = self.local.get(id) else {
                continue;
            };
            let subject = self.provider_subjects.link_put(&local.xkey_public);
            self.publish_link(id, subject, resolved.clone(), refs.clone());
        }
    }
}

/// The next entry of a watch that is open; pending while it is being re-opened.
async fn next_entry(
    watch: &mut Option<Watch>,
) -> Option<Result<Entry, async_nats::jetstream::kv::WatcherError>> {
    match watch {
        Some(watch) => watch.next().await,
        None => std::future::pending().await,
    }
}

/// Opens `bucket`'s watch again after `delay`, then reads the whole bucket.
async fn reopen(
    buckets: Buckets,
    bucket: Bucket,
    delay: std::time::Duration,
) -> (Bucket, Result<(Watch, Vec<Entry>), HostError>) {
    tokio::time::sleep(delay).await;
    let result = async {
        let watch = buckets.watch(bucket).await?;
        let entries = read_all(buckets.of(bucket), "").await?;
        Ok((watch, entries))
    }
    .await;
    (bucket, result)
}

impl Buckets {
    fn of(&self, bucket: Bucket) -> &Store {
        match bucket {
            Bucket::Data => &self.data,
            Bucket::Config => &self.config,
        }
    }

    /// A watch of every key of `bucket` (new changes only).
    async fn watch(&self, bucket: Bucket) -> Result<Watch, HostError> {
        let store = self.of(bucket);
        let watch = store.watch_all().await.map_err(|e| HostError::Bucket {
            bucket: store.name.clone(),
            reason: format!("cannot watch: {e}"),
        })?;
        Ok(Box::pin(watch))
    }
}
