//! The owner task of lattice state: it follows the LATTICEDATA and CONFIGDATA buckets
//! (re-watching after a reconnect or an error), holds the links and named configs, and
//! queues what each local provider must get on that provider's outbox.

use std::collections::HashMap;

use async_nats::jetstream::kv::{Entry, Store};
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt as _};
use lattice_proto::subjects::ProviderSubjects;
use lattice_proto::{InterfaceLinkDefinition, Link};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

mod apply;

use super::MissingConfigs;
use super::kv::Buckets;
use super::outbox::{LinkSealing, Outgoing, Recipient, outbox};
use super::resolve::{self, ConfigMap};
use super::routes::Routes;
use super::{
    Bootstrap, BootstrapError, Command, REOPEN_AFTER_ERROR, REWATCH_RETRY, links, read_all,
};
use crate::error::HostError;

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
pub(super) enum Bucket {
    Data,
    Config,
}

type Watch = std::pin::Pin<
    Box<dyn Stream<Item = Result<Entry, async_nats::jetstream::kv::WatcherError>> + Send>,
>;

pub(super) struct Owner {
    provider_subjects: ProviderSubjects,
    rpc: async_nats::Client,
    buckets: Buckets,
    links: HashMap<String, Vec<Link>>,
    /// `links`, for invocations to read.
    routes: Routes,
    /// The revision each spec was last seen at (from the watch, a read, or a write).
    spec_revisions: HashMap<String, u64>,
    /// The revision each named config was last seen at (from the watch, a read, or a
    /// write here).
    config_revisions: HashMap<String, u64>,
    configs: HashMap<String, ConfigMap>,
    /// Whether the config bucket is being re-read (its watch is being opened again).
    config_stale: bool,
    local: HashMap<String, Local>,
    sealing: LinkSealing,
}

/// The connection is back: both watches are dropped and opened again (by `reopen`),
/// and the buckets re-read.
fn rewatch<F>(
    data: &mut Option<Watch>,
    config: &mut Option<Watch>,
    reopening: &mut FuturesUnordered<F>,
    reopen: impl Fn(Bucket) -> F,
) {
    tracing::info!("NATS connection back; watching lattice state again");
    *data = None;
    *config = None;
    reopening.push(reopen(Bucket::Data));
    reopening.push(reopen(Bucket::Config));
}

impl Owner {
    /// An owner that holds nothing yet.
    pub(super) fn new(
        provider_subjects: ProviderSubjects,
        rpc: async_nats::Client,
        buckets: Buckets,
        sealing: LinkSealing,
        routes: Routes,
    ) -> Self {
        Owner {
            provider_subjects,
            rpc,
            buckets,
            links: HashMap::new(),
            routes,
            spec_revisions: HashMap::new(),
            config_revisions: HashMap::new(),
            configs: HashMap::new(),
            config_stale: false,
            local: HashMap::new(),
            sealing,
        }
    }

    pub(super) async fn run(
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
        // The connection count the watches were opened at.
        let stats = connection.statistics();
        let connects = || stats.connects.load(std::sync::atomic::Ordering::Relaxed);
        let mut watched_at = *reconnected.borrow_and_update();
        loop {
            // A command that came over a connection established since the watches were
            // opened must not be answered from state that may have missed changes: the
            // reconnect is acted on now, not at the watch's next look.
            tokio::select! {
                _ = stop.cancelled() => return,
                Ok(()) = reconnected.changed() => {
                    let now = *reconnected.borrow_and_update();
                    if now != watched_at {
                        watched_at = now;
                        rewatch(&mut data, &mut config, &mut reopening, |bucket| {
                            reopen(self.buckets.clone(), bucket, std::time::Duration::ZERO)
                        });
                    }
                }
                command = commands.recv() => match command {
                    Some(command) => {
                        if connects() != watched_at {
                            watched_at = connects();
                            rewatch(&mut data, &mut config, &mut reopening, |bucket| {
                                reopen(self.buckets.clone(), bucket, std::time::Duration::ZERO)
                            });
                        }
                        self.config_stale = config.is_none();
                        self.handle(command).await;
                    }
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
    pub(super) async fn reload(&mut self, bucket: Bucket) -> Result<(), HostError> {
        let entries = read_all(self.buckets.of(bucket), "").await?;
        self.apply_all(bucket, entries).await;
        Ok(())
    }

    /// The named configs `names` merged in order; else those missing, and those known.
    fn merged(&self, names: &[String]) -> Result<ConfigMap, MissingConfigs> {
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !n.starts_with(resolve::SECRET_PREFIX) && !self.configs.contains_key(*n))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(resolve::merge(&self.configs, names));
        }
        Err(MissingConfigs {
            missing,
            stale: self.config_stale,
            known: names
                .iter()
                .filter_map(|n| self.configs.get(n).map(|c| (n.clone(), c.clone())))
                .collect(),
        })
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
            Command::ConfigWritten {
                name,
                revision,
                config,
                reply,
            } => {
                if self.config_is_newer(&name, revision) {
                    self.config_changed(name, Some(config)).await;
                }
                let _ = reply.send(());
            }
            Command::MergedConfig { names, reply } => {
                let _ = reply.send(self.merged(&names));
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
    pub(super) async fn watch(&self, bucket: Bucket) -> Result<Watch, HostError> {
        let store = self.of(bucket);
        let watch = store.watch_all().await.map_err(|e| HostError::Bucket {
            bucket: store.name.clone(),
            reason: format!("cannot watch: {e}"),
        })?;
        Ok(Box::pin(watch))
    }
}
