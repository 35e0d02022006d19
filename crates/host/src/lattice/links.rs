//! `link.put`, `link.del` and `link.get` (spec §5.3): validated first, then written to
//! `COMPONENT_{source_id}` with a revision check, retried on conflict, so concurrent
//! puts through any number of hosts lose nothing. `link.get` reads the bucket itself,
//! not this host's view of it, so a read answered by any host reflects every write
//! acknowledged before it.

use async_nats::jetstream::kv::{CreateErrorKind, Operation, UpdateErrorKind};
use lattice_proto::link::DeleteInterfaceLinkDefinitionRequest;
use lattice_proto::subjects::{ProviderSubjects, is_subject_token};
use lattice_proto::{InterfaceLinkDefinition, Link};

use super::LatticeState;
use super::kv::{COMPONENT_PREFIX, ComponentSpecification};
use super::resolve::SECRET_PREFIX;

/// Why a link operation failed; `Display` is the reply text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LinkError {
    #[error("invalid link: `{0}` must not be empty")]
    Empty(&'static str),
    #[error(
        "invalid link: `{field}` value `{value}` must be one NATS subject token (no `.`, `*`, `>` or spaces)"
    )]
    NotToken { field: &'static str, value: String },
    #[error(
        "Failed to validate configuration and secrets. Configuration {0} not found in config store. "
    )]
    ConfigMissing(String),
    #[error(
        "Failed to validate configuration and secrets. Secret reference {0} not found in config store. "
    )]
    SecretMissing(String),
    #[error(
        "link already exists with different target, consider deleting the existing link or using a different link name"
    )]
    Conflict,
    #[error("cannot update lattice data in JetStream: {0}")]
    Store(String),
}

/// Maximum read-modify-write attempts before giving up on a contended key.
const MAX_ATTEMPTS: usize = 100;

impl LatticeState {
    /// Validates and stores `link`.
    pub(crate) async fn put_link(&self, link: &Link) -> Result<(), LinkError> {
        validate(link)?;
        for name in link.source_config.iter().chain(&link.target_config) {
            let exists = self
                .buckets
                .config
                .get(name.as_str())
                .await
                .map_err(|e| LinkError::Store(e.to_string()))?
                .is_some();
            if !exists {
                return Err(match name.starts_with(SECRET_PREFIX) {
                    true => LinkError::SecretMissing(name.clone()),
                    false => LinkError::ConfigMissing(name.clone()),
                });
            }
        }
        self.modify_spec(&link.source_id, |spec| {
            let conflict = spec.links.iter().any(|l| {
                same_slot(l, &link.wit_namespace, &link.wit_package, &link.name)
                    && l.target != link.target
                    && l.interfaces.iter().any(|i| link.interfaces.contains(i))
            });
            if conflict {
                return Err(LinkError::Conflict);
            }
            let existing = spec.links.iter().position(|l| {
                l.target == link.target
                    && same_slot(l, &link.wit_namespace, &link.wit_package, &link.name)
            });
            match existing {
                Some(i) => spec.links[i] = link.clone(),
                None => spec.links.push(link.clone()),
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// Removes a link; returns it if it existed. The host that deletes tells the
    /// source's and target's instances (every one listens on its ID subject).
    pub(crate) async fn delete_link(
        &self,
        request: &DeleteInterfaceLinkDefinitionRequest,
    ) -> Result<Option<Link>, LinkError> {
        let removed = self
            .modify_spec(&request.source_id, |spec| {
                let index = spec.links.iter().position(|l| {
                    same_slot(
                        l,
                        &request.wit_namespace,
                        &request.wit_package,
                        &request.name,
                    )
                });
                Ok(index.map(|i| spec.links.remove(i)))
            })
            .await?;
        if let Some(link) = &removed {
            send_delete(link, &self.rpc, &self.subjects).await;
        }
        Ok(removed)
    }

    /// Every link of the lattice, read from the bucket.
    pub(crate) async fn links(&self) -> Result<Vec<Link>, LinkError> {
        let entries = super::read_all(&self.buckets.data, COMPONENT_PREFIX)
            .await
            .map_err(|e| LinkError::Store(e.to_string()))?;
        let mut all = Vec::new();
        for entry in entries.iter().filter(|e| e.operation == Operation::Put) {
            match serde_json::from_slice::<ComponentSpecification>(&entry.value) {
                Ok(spec) => all.extend(spec.links),
                Err(error) => {
                    tracing::warn!(key = %entry.key, %error, "skipping an undecodable component spec")
                }
            }
        }
        all.sort_by(|a, b| {
            (&a.source_id, &a.target, &a.name).cmp(&(&b.source_id, &b.target, &b.name))
        });
        Ok(all)
    }

    /// Applies `change` to `COMPONENT_{source_id}` and writes it back, retrying when
    /// another writer got there first. Writes nothing when the spec is unchanged.
    async fn modify_spec<T>(
        &self,
        source_id: &str,
        change: impl Fn(&mut ComponentSpecification) -> Result<T, LinkError>,
    ) -> Result<T, LinkError> {
        let key = format!("{COMPONENT_PREFIX}{source_id}");
        let store = &self.buckets.data;
        let _guard = self.write_lock(&key).lock().await;
        for _ in 0..MAX_ATTEMPTS {
            let entry = store
                .entry(key.as_str())
                .await
                .map_err(|e| LinkError::Store(e.to_string()))?;
            let (mut spec, revision) = match entry {
                Some(entry) if entry.operation == Operation::Put => {
                    let spec = serde_json::from_slice(&entry.value).map_err(|e| {
                        LinkError::Store(format!("{key} holds an undecodable spec: {e}"))
                    })?;
                    (spec, Some(entry.revision))
                }
                _ => (ComponentSpecification::default(), None),
            };
            let before = spec.clone();
            let result = change(&mut spec)?;
            if spec == before {
                return Ok(result);
            }
            let body = serde_json::to_vec(&spec).expect("specs encode").into();
            let written = match revision {
                Some(revision) => match store.update(key.as_str(), body, revision).await {
                    Ok(written) => Some(written),
                    Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => None,
                    Err(e) => return Err(LinkError::Store(e.to_string())),
                },
                None => match store.create(key.as_str(), body).await {
                    Ok(written) => Some(written),
                    Err(e) if e.kind() == CreateErrorKind::AlreadyExists => None,
                    Err(e) => return Err(LinkError::Store(e.to_string())),
                },
            };
            if let Some(written) = written {
                // This host's providers get the change now, not only when the watch
                // brings it back (a watch can lag, or be re-opening after an outage).
                self.spec_written(source_id, written, spec.links).await;
                return Ok(result);
            }
        }
        Err(LinkError::Store(format!(
            "{key} kept changing under {MAX_ATTEMPTS} attempts to update it"
        )))
    }
}

/// Sends the delete form of `link` to its source's and target's ID subjects.
async fn send_delete(link: &Link, rpc: &async_nats::Client, subjects: &ProviderSubjects) {
    let body: bytes::Bytes = serde_json::to_vec(&InterfaceLinkDefinition::for_delete(link))
        .expect("links encode")
        .into();
    for id in [&link.source_id, &link.target] {
        if let Err(error) = rpc.publish(subjects.link_del(id), body.clone()).await {
            tracing::warn!(provider_id = %id, %error, "cannot send link delete");
        }
    }
}

/// The delete form of a delivered link: its identity, no config, no secrets.
pub(crate) fn delete_form(link: &InterfaceLinkDefinition) -> InterfaceLinkDefinition {
    InterfaceLinkDefinition {
        source_config: Default::default(),
        target_config: Default::default(),
        source_secrets: None,
        target_secrets: None,
        ..link.clone()
    }
}

/// Whether two delivered links are the same link (source, target, namespace, package,
/// name: what an SDK keys its link tables by), whatever their config.
pub(crate) fn same_identity(a: &InterfaceLinkDefinition, b: &InterfaceLinkDefinition) -> bool {
    (
        &a.source_id,
        &a.target,
        &a.wit_namespace,
        &a.wit_package,
        &a.name,
    ) == (
        &b.source_id,
        &b.target,
        &b.wit_namespace,
        &b.wit_package,
        &b.name,
    )
}

fn same_slot(link: &Link, namespace: &str, package: &str, name: &str) -> bool {
    link.wit_namespace == namespace && link.wit_package == package && link.name == name
}

fn validate(link: &Link) -> Result<(), LinkError> {
    for (field, value) in [
        ("source_id", &link.source_id),
        ("target", &link.target),
        ("name", &link.name),
        ("wit_namespace", &link.wit_namespace),
        ("wit_package", &link.wit_package),
    ] {
        if value.is_empty() {
            return Err(LinkError::Empty(field));
        }
    }
    if link.interfaces.is_empty() {
        return Err(LinkError::Empty("interfaces"));
    }
    for (field, value) in [("source_id", &link.source_id), ("target", &link.target)] {
        if !is_subject_token(value) {
            return Err(LinkError::NotToken {
                field,
                value: value.clone(),
            });
        }
    }
    for name in link.source_config.iter().chain(&link.target_config) {
        if !is_subject_token(name) {
            return Err(LinkError::NotToken {
                field: "config name",
                value: name.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        Link {
            source_id: "comp".into(),
            target: "kv".into(),
            name: "default".into(),
            wit_namespace: "wasi".into(),
            wit_package: "keyvalue".into(),
            interfaces: vec!["store".into()],
            source_config: vec![],
            target_config: vec!["redis".into()],
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert!(validate(&link()).is_ok());
        let mut l = link();
        l.interfaces.clear();
        assert_eq!(
            validate(&l).unwrap_err().to_string(),
            "invalid link: `interfaces` must not be empty"
        );
        let mut l = link();
        l.target_config.push("a.b".into());
        assert!(validate(&l).unwrap_err().to_string().contains("`a.b`"));
        let mut l = link();
        l.source_id = String::new();
        assert!(
            validate(&l)
                .unwrap_err()
                .to_string()
                .contains("`source_id`")
        );
    }
}
