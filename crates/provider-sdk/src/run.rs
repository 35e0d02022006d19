//! The provider's run loop: bootstrap from HostData, subscribe, dispatch to the
//! [`Provider`] hooks until shutdown.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead as _;

use async_nats::{Client, ConnectOptions, Message};
use futures::StreamExt as _;
use lattice_nats::{NatsAuth, NatsConnectConfig, NatsError};
use lattice_proto::provider::{
    LINK_DELETE_REASON_HEADER, LinkDeleteReason, SHUTDOWN_REPLY, ShutdownRequest,
};
use lattice_proto::subjects::ProviderSubjects;
use lattice_proto::{HostData, InterfaceLinkDefinition};
use nkeys::XKey;
use tokio::signal::unix::{SignalKind, signal};

use crate::links::{self, role_of};
use crate::{Provider, ProviderContext, ProviderError};

/// The URL providers use when HostData names none (as the official SDK does).
const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Reads the one line of HostData the host writes to stdin (blocking).
pub fn read_host_data_line() -> Result<Vec<u8>, std::io::Error> {
    let mut line = Vec::new();
    std::io::stdin().lock().read_until(b'\n', &mut line)?;
    Ok(line)
}

/// Reads HostData from stdin and runs `provider` until the host stops it.
pub async fn run_provider<P: Provider>(provider: P) -> Result<(), ProviderError> {
    let line = tokio::task::spawn_blocking(read_host_data_line)
        .await
        .map_err(|e| ProviderError::Stdin(std::io::Error::other(e)))??;
    let host_data = HostData::from_stdin_line(&line)?;
    run_provider_with(provider, host_data).await
}

/// Runs `provider` with HostData obtained some other way (tests, custom bootstraps),
/// until the host's shutdown request or SIGTERM.
pub async fn run_provider_with<P: Provider>(
    provider: P,
    host_data: HostData,
) -> Result<(), ProviderError> {
    let mut sigterm = signal(SignalKind::terminate()).map_err(ProviderError::Stdin)?;
    run_provider_until(provider, host_data, async move {
        sigterm.recv().await;
    })
    .await
}

/// Runs `provider` until the host's shutdown request or until `stop` completes (then
/// [`Provider::shutdown`] runs), handling no signals: for providers that run inside
/// another program, such as a host's builtin providers.
pub async fn run_provider_until<P: Provider>(
    provider: P,
    host_data: HostData,
    stop: impl Future<Output = ()> + Send,
) -> Result<(), ProviderError> {
    tokio::pin!(stop);
    let keys = xkeys(&host_data)?;
    let nats = connect(&host_data).await?;
    let subjects = ProviderSubjects::new(&host_data.lattice_rpc_prefix);
    let id = host_data.provider_key.clone();
    // With xkeys, link puts come on the provider's own xkey subject (spec §12.4).
    let put_id = keys
        .as_ref()
        .map_or(id.clone(), |(provider_key, _)| provider_key.public_key());
    let subscribe = |subject: String| {
        let nats = nats.clone();
        async move {
            nats.subscribe(subject.clone())
                .await
                .map_err(|e| ProviderError::Subscribe {
                    subject,
                    reason: e.to_string(),
                })
        }
    };
    let mut health = subscribe(subjects.health(&id)).await?;
    let mut shutdown = subscribe(subjects.shutdown(&id)).await?;
    let mut link_put = subscribe(subjects.link_put(&put_id)).await?;
    let mut link_del = subscribe(subjects.link_del(&id)).await?;
    let mut config = subscribe(subjects.config_update(&id)).await?;
    // `init` runs once the server has the subscriptions.
    lattice_nats::server_round_trip(&nats)
        .await
        .map_err(|e| ProviderError::Connect {
            url: nats_config(&host_data).display_url(),
            reason: e.to_string(),
        })?;
    let ctx = ProviderContext {
        host_data: host_data.clone(),
        nats: nats.clone(),
    };
    provider.init(&ctx).await.map_err(ProviderError::Init)?;
    let mut state = LinkState {
        provider_id: id.clone(),
        keys,
        held: HashMap::new(),
    };
    for link in host_data.link_definitions {
        state.put(&provider, link).await;
    }
    tracing::info!(provider_id = %id, "provider ready");

    loop {
        tokio::select! {
            Some(msg) = health.next() => answer_health(&provider, &nats, msg).await,
            Some(msg) = shutdown.next() => {
                if is_shutdown_for(&msg, &host_data.host_id) {
                    provider.shutdown().await;
                    if let Some(reply) = msg.reply {
                        let _ = nats.publish(reply, SHUTDOWN_REPLY.into()).await;
                    }
                    break;
                }
                tracing::debug!("ignoring a shutdown request that is not from this provider's host");
            }
            Some(msg) = link_put.next() => match serde_json::from_slice::<InterfaceLinkDefinition>(&msg.payload) {
                Ok(link) => state.put(&provider, link).await,
                Err(error) => tracing::warn!(%error, "ignoring an undecodable link put"),
            },
            Some(msg) = link_del.next() => match serde_json::from_slice::<InterfaceLinkDefinition>(&msg.payload) {
                Ok(_) if is_retraction(&msg) => {
                    tracing::debug!("a link's config changed; its re-put will carry the change");
                }
                Ok(link) => state.del(&provider, link).await,
                Err(error) => tracing::warn!(%error, "ignoring an undecodable link delete"),
            },
            Some(msg) = config.next() => match serde_json::from_slice::<BTreeMap<String, String>>(&msg.payload) {
                Ok(map) => {
                    if let Err(error) = provider.config_update(&map).await {
                        tracing::warn!(%error, "config update failed");
                    }
                }
                Err(error) => tracing::warn!(%error, "ignoring a config update that is not a string map"),
            },
            _ = &mut stop => {
                provider.shutdown().await;
                break;
            }
            else => break,
        }
    }
    for sub in [
        &mut health,
        &mut shutdown,
        &mut link_put,
        &mut link_del,
        &mut config,
    ] {
        let _ = sub.unsubscribe().await;
    }
    let _ = nats.flush().await;
    Ok(())
}

fn url_of(host_data: &HostData) -> &str {
    if host_data.lattice_rpc_url.trim().is_empty() {
        DEFAULT_NATS_URL
    } else {
        &host_data.lattice_rpc_url
    }
}

fn xkeys(host_data: &HostData) -> Result<Option<(XKey, XKey)>, ProviderError> {
    let (seed, host_public) = (
        &host_data.provider_xkey_private_key,
        &host_data.host_xkey_public_key,
    );
    if seed.is_empty() && host_public.is_empty() {
        return Ok(None);
    }
    let provider_key = XKey::from_seed(seed).map_err(|e| ProviderError::Xkey {
        which: "provider_xkey_private_key",
        reason: e.to_string(),
    })?;
    let host_key = XKey::from_public_key(host_public).map_err(|e| ProviderError::Xkey {
        which: "host_xkey_public_key",
        reason: e.to_string(),
    })?;
    Ok(Some((provider_key, host_key)))
}

/// The rpc server and credentials in HostData: a user JWT and seed, or none.
fn nats_config(host_data: &HostData) -> NatsConnectConfig {
    let (jwt, seed) = (
        host_data.lattice_rpc_user_jwt.trim(),
        host_data.lattice_rpc_user_seed.trim(),
    );
    NatsConnectConfig {
        url: url_of(host_data).to_string(),
        auth: if jwt.is_empty() && seed.is_empty() {
            NatsAuth::Anonymous
        } else {
            NatsAuth::Jwt {
                jwt: jwt.to_string(),
                seed: seed.to_string(),
            }
        },
    }
}

async fn connect(host_data: &HostData) -> Result<Client, ProviderError> {
    let config = nats_config(host_data);
    let options = ConnectOptions::new().name(host_data.provider_key.clone());
    lattice_nats::connect_with("rpc", &config, options)
        .await
        .map_err(|error| ProviderError::Connect {
            url: config.display_url(),
            reason: match error {
                NatsError::Connect { reason, .. } => reason,
                other => other.to_string(),
            },
        })
}

async fn answer_health<P: Provider>(provider: &P, nats: &Client, msg: Message) {
    let Some(reply) = msg.reply else { return };
    let answer = provider.health().await;
    let body = serde_json::to_vec(&answer).expect("health answers encode");
    if let Err(error) = nats.publish(reply, body.into()).await {
        tracing::warn!(%error, "cannot answer a health check");
    }
}

/// A delete a lattice host sends only to retract a link before putting it again with
/// re-resolved config. The official SDK ignores a re-put of a link it holds, so the host
/// must send it; this SDK skips it and applies the re-put as a change instead. Skipping it
/// matters: the delete and the put arrive on different subscriptions, and handling them
/// in the wrong order would drop the link.
fn is_retraction(msg: &Message) -> bool {
    msg.headers
        .as_ref()
        .and_then(|headers| headers.get(LINK_DELETE_REASON_HEADER))
        .and_then(|value| LinkDeleteReason::parse(value.as_str()))
        == Some(LinkDeleteReason::ConfigChanged)
}

/// Only requests with a reply subject, from this provider's host, count (as in the official SDK).
fn is_shutdown_for(msg: &Message, host_id: &str) -> bool {
    msg.reply.is_some()
        && serde_json::from_slice::<ShutdownRequest>(&msg.payload)
            .map(|req| req.host_id == host_id)
            .unwrap_or(false)
}

type LinkKey = (String, String, String, String, String);

/// The links this provider holds.
struct LinkState {
    provider_id: String,
    keys: Option<(XKey, XKey)>,
    held: HashMap<LinkKey, InterfaceLinkDefinition>,
}

impl LinkState {
    async fn put<P: Provider>(&mut self, provider: &P, link: InterfaceLinkDefinition) {
        let key = links::identity(&link);
        if self.held.get(&key) == Some(&link) {
            return; // an exact re-put changes nothing
        }
        let keys = self.keys.as_ref().map(|(p, h)| (p, h));
        match links::resolve(link.clone(), &self.provider_id, keys) {
            Ok(resolved) => {
                self.held.insert(key, link);
                if let Err(error) = provider.link_put(resolved).await {
                    tracing::warn!(%error, "link put failed");
                }
            }
            Err(error) => tracing::warn!(%error, "dropping a delivered link"),
        }
    }

    async fn del<P: Provider>(&mut self, provider: &P, link: InterfaceLinkDefinition) {
        let Some(role) = role_of(&link, &self.provider_id) else {
            return;
        };
        // Deletes identify a link by source, namespace, package and name.
        self.held.retain(|(source, _, ns, pkg, name), _| {
            !(source == &link.source_id
                && ns == &link.wit_namespace
                && pkg == &link.wit_package
                && name == &link.name)
        });
        if let Err(error) = provider.link_del(&link, role).await {
            tracing::warn!(%error, "link delete failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_xkeys_mean_pre_1_1_mode_and_bad_ones_are_errors() {
        let mut data = HostData::default();
        assert!(xkeys(&data).unwrap().is_none());
        data.provider_xkey_private_key = "SXnotaseed".into();
        assert!(matches!(xkeys(&data), Err(ProviderError::Xkey { .. })));
        let p = XKey::new();
        let h = XKey::new();
        data.provider_xkey_private_key = p.seed().unwrap();
        data.host_xkey_public_key = h.public_key();
        let (pk, hk) = xkeys(&data).unwrap().unwrap();
        assert_eq!(pk.public_key(), p.public_key());
        assert_eq!(hk.public_key(), h.public_key());
    }

    #[test]
    fn empty_url_falls_back_to_the_default() {
        assert_eq!(url_of(&HostData::default()), DEFAULT_NATS_URL);
    }

    #[test]
    fn host_data_credentials_become_nats_auth() {
        let mut data = HostData::default();
        assert_eq!(nats_config(&data).auth, NatsAuth::Anonymous);
        data.lattice_rpc_url = "nats://u:pw@h:4222".into();
        assert_eq!(nats_config(&data).display_url(), "nats://u:***@h:4222");
        data.lattice_rpc_user_jwt = " eyJ.a.b ".into();
        data.lattice_rpc_user_seed = "SUAXYZ\n".into();
        assert_eq!(
            nats_config(&data).auth,
            NatsAuth::Jwt {
                jwt: "eyJ.a.b".into(),
                seed: "SUAXYZ".into()
            }
        );
    }
}
