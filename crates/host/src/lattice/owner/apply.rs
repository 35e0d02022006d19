//! How the owner applies what the buckets hold: a full read, and each change the
//! watches bring (links to local providers, configs merged and pushed again).

use async_nats::jetstream::kv::{Entry, Operation};
use lattice_proto::Link;

use super::{Bucket, Owner};
use crate::lattice::kv::{COMPONENT_PREFIX, ComponentSpecification};
use crate::lattice::resolve::{self, ConfigMap};

impl Owner {
    /// Applies a full read of `bucket`: every entry, and keys that are gone as deletes.
    pub(super) async fn apply_all(&mut self, bucket: Bucket, entries: Vec<Entry>) {
        match bucket {
            Bucket::Data => {
                let present: std::collections::HashSet<&str> = entries
                    .iter()
                    .filter_map(|e| e.key.strip_prefix(COMPONENT_PREFIX))
                    .collect();
                self.links
                    .retain(|source, _| present.contains(source.as_str()));
                self.routes.retain(|source| present.contains(source));
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

    /// A LATTICEDATA change: links of the spec not held before go to local providers.
    pub(super) async fn apply_data(&mut self, entry: &Entry) {
        let Some(source) = entry.key.strip_prefix(COMPONENT_PREFIX) else {
            return; // CLAIMS_*, legacy keys: read from the bucket when asked
        };
        self.spec_revisions
            .insert(source.to_string(), entry.revision);
        if entry.operation != Operation::Put {
            self.links.remove(source);
            self.routes.set(source, entry.revision, Vec::new());
            return;
        }
        let spec: ComponentSpecification = match serde_json::from_slice(&entry.value) {
            Ok(spec) => spec,
            Err(error) => {
                tracing::warn!(key = %entry.key, %error, "ignoring an undecodable component spec");
                return;
            }
        };
        self.routes.set(source, entry.revision, spec.links.clone());
        self.apply_links(source, spec.links).await;
    }

    /// `source`'s links are `links` now: the new ones go to local providers.
    pub(super) async fn apply_links(&mut self, source: &str, links: Vec<Link>) {
        let old = self
            .links
            .insert(source.to_string(), links.clone())
            .unwrap_or_default();
        for link in links.iter().filter(|l| !old.contains(l)) {
            self.deliver(link).await;
        }
    }

    /// A CONFIGDATA change.
    pub(super) async fn apply_config(&mut self, entry: &Entry) {
        // Older than what this host wrote itself (the watch is behind): skip.
        if !self.config_is_newer(&entry.key, entry.revision) {
            return;
        }
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

    /// Whether `revision` of config `name` is newer than what was applied; if so it is
    /// recorded as applied.
    pub(super) fn config_is_newer(&mut self, name: &str, revision: u64) -> bool {
        if self
            .config_revisions
            .get(name)
            .is_some_and(|&seen| seen >= revision)
        {
            return false;
        }
        self.config_revisions.insert(name.to_string(), revision);
        true
    }

    /// Config `name` is now `new` (`None`: deleted): push merged configs and re-resolved
    /// links that changed.
    pub(super) async fn config_changed(&mut self, name: String, new: Option<ConfigMap>) {
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
}
