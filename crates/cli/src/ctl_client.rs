//! A small control-interface client for the CLI's commands.

use std::time::Duration;

use anyhow::{Context as _, bail};
use async_nats::Client;
use futures::StreamExt as _;
use lattice_proto::CtlResponse;
use lattice_proto::ctl::{
    Host, HostInventory, HostLabel, HostLabelIdentifier, ProviderAuctionAck,
    ProviderAuctionRequest, ProviderLogs, ProviderLogsRequest, StartProviderCommand,
    StopHostCommand, StopProviderCommand,
};
use lattice_proto::subjects::CtlSubjects;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::args::GlobalArgs;

/// The default NATS URL of client commands.
const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// The data of a successful reply (`None` if it carries none), or its error message.
fn data<T>(what: &str, reply: CtlResponse<T>) -> anyhow::Result<Option<T>> {
    if !reply.success {
        bail!("{what}: {}", reply.message);
    }
    Ok(reply.response)
}

pub(crate) struct CtlClient {
    pub(crate) nats: Client,
    subjects: CtlSubjects,
    pub(crate) timeout: Duration,
    /// The lattice the commands go to.
    pub(crate) lattice: String,
}

impl CtlClient {
    pub(crate) async fn connect(global: &GlobalArgs) -> anyhow::Result<Self> {
        let url = global.nats_url.as_deref().unwrap_or(DEFAULT_URL);
        let options = async_nats::ConnectOptions::new()
            .connection_timeout(global.timeout.max(Duration::from_secs(1)))
            .request_timeout(Some(global.timeout));
        // async-nats keeps `user:password@` in a URL but never sends it.
        let nats = lattice_host::nats::with_url_credentials(options, url)?
            .connect(url)
            .await
            .with_context(|| {
                format!("cannot connect to NATS at {url} (is a lattice host up? see --nats-url)")
            })?;
        Ok(CtlClient {
            nats,
            subjects: CtlSubjects::new(&global.ctl_topic_prefix, &global.lattice),
            timeout: global.timeout,
            lattice: global.lattice.clone(),
        })
    }

    async fn request<T: DeserializeOwned>(
        &self,
        what: &str,
        subject: String,
        body: Vec<u8>,
        timeout: Duration,
    ) -> anyhow::Result<CtlResponse<T>> {
        let request = async_nats::Request::new()
            .payload(body.into())
            .timeout(Some(timeout));
        let reply = match self.nats.send_request(subject.clone(), request).await {
            Ok(reply) => reply,
            Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                bail!("{what}: no host answers on {subject} (wrong host ID or lattice?)")
            }
            Err(e) => bail!("{what}: {e} after {timeout:?} on {subject}"),
        };
        serde_json::from_slice(&reply.payload).with_context(|| {
            format!(
                "{what}: undecodable reply {:?}",
                String::from_utf8_lossy(&reply.payload)
            )
        })
    }

    async fn command<B: Serialize>(
        &self,
        what: &str,
        subject: String,
        body: &B,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let body = serde_json::to_vec(body).expect("commands always encode");
        let reply: CtlResponse<serde_json::Value> =
            self.request(what, subject, body, timeout).await?;
        if !reply.success {
            bail!("{what}: {}", reply.message);
        }
        Ok(reply.message)
    }

    /// Publishes `body` on `subject` and collects the decodable replies that arrive
    /// within the timeout (or only the first, with `first_only`).
    async fn gather<T: DeserializeOwned>(
        &self,
        subject: String,
        body: Vec<u8>,
        first_only: bool,
    ) -> anyhow::Result<Vec<T>> {
        let inbox = self.nats.new_inbox();
        let mut replies = self.nats.subscribe(inbox.clone()).await?;
        self.nats
            .publish_with_reply(subject, inbox, body.into())
            .await?;
        let mut gathered = Vec::new();
        let window = tokio::time::sleep(self.timeout);
        tokio::pin!(window);
        loop {
            tokio::select! {
                _ = &mut window => break,
                reply = replies.next() => {
                    let Some(reply) = reply else { break };
                    match serde_json::from_slice::<CtlResponse<T>>(&reply.payload) {
                        Ok(CtlResponse { response: Some(item), .. }) => gathered.push(item),
                        _ => tracing::warn!(payload = %String::from_utf8_lossy(&reply.payload), "ignoring an undecodable reply"),
                    }
                    if first_only {
                        break;
                    }
                }
            }
        }
        Ok(gathered)
    }

    /// Pings the lattice and collects every host that answers within the timeout.
    pub(crate) async fn hosts(&self) -> anyhow::Result<Vec<Host>> {
        let mut hosts: Vec<Host> = self
            .gather(self.subjects.host_ping(), Vec::new(), false)
            .await?;
        hosts.sort_by(|a, b| a.friendly_name.cmp(&b.friendly_name));
        Ok(hosts)
    }

    pub(crate) async fn inventory(&self, host_id: &str) -> anyhow::Result<HostInventory> {
        let what = format!("get inventory of {host_id}");
        let reply: CtlResponse<HostInventory> = self
            .request(
                &what,
                self.subjects.host_get(host_id),
                Vec::new(),
                self.timeout,
            )
            .await?;
        data(&what, reply)?.with_context(|| format!("{what}: the reply carries no data"))
    }

    pub(crate) async fn put_label(
        &self,
        host_id: &str,
        key: &str,
        value: &str,
    ) -> anyhow::Result<String> {
        let body = HostLabel {
            key: key.to_string(),
            value: value.to_string(),
        };
        self.command(
            &format!("put label {key} on {host_id}"),
            self.subjects.label_put(host_id),
            &body,
            self.timeout,
        )
        .await
    }

    pub(crate) async fn del_label(&self, host_id: &str, key: &str) -> anyhow::Result<String> {
        let body = HostLabelIdentifier {
            key: key.to_string(),
        };
        self.command(
            &format!("delete label {key} on {host_id}"),
            self.subjects.label_del(host_id),
            &body,
            self.timeout,
        )
        .await
    }

    pub(crate) async fn stop_host(
        &self,
        host_id: &str,
        timeout: Option<Duration>,
    ) -> anyhow::Result<String> {
        let body = StopHostCommand {
            host_id: host_id.to_string(),
            timeout: timeout.map(|t| t.as_millis() as u64),
        };
        self.command(
            &format!("stop host {host_id}"),
            self.subjects.host_stop(host_id),
            &body,
            self.timeout,
        )
        .await
    }

    pub(crate) async fn put_link(&self, link: &lattice_proto::Link) -> anyhow::Result<String> {
        let what = format!("put link {} -> {}", link.source_id, link.target);
        self.command(&what, self.subjects.link_put(), link, self.timeout)
            .await
    }

    pub(crate) async fn del_link(
        &self,
        request: &lattice_proto::link::DeleteInterfaceLinkDefinitionRequest,
    ) -> anyhow::Result<String> {
        let what = format!(
            "delete link {} {}:{}",
            request.source_id, request.wit_namespace, request.wit_package
        );
        self.command(&what, self.subjects.link_del(), request, self.timeout)
            .await
    }

    pub(crate) async fn links(&self) -> anyhow::Result<Vec<lattice_proto::Link>> {
        let reply: CtlResponse<Vec<lattice_proto::Link>> = self
            .request(
                "get links",
                self.subjects.link_get(),
                Vec::new(),
                self.timeout,
            )
            .await?;
        Ok(data("get links", reply)?.unwrap_or_default())
    }

    pub(crate) async fn put_config(
        &self,
        name: &str,
        config: &std::collections::BTreeMap<String, String>,
    ) -> anyhow::Result<String> {
        self.command(
            &format!("put config {name}"),
            self.subjects.config_put(name),
            config,
            self.timeout,
        )
        .await
    }

    pub(crate) async fn config(
        &self,
        name: &str,
    ) -> anyhow::Result<Option<std::collections::BTreeMap<String, String>>> {
        let what = format!("get config {name}");
        let reply: CtlResponse<std::collections::BTreeMap<String, String>> = self
            .request(
                &what,
                self.subjects.config_get(name),
                Vec::new(),
                self.timeout,
            )
            .await?;
        data(&what, reply)
    }

    pub(crate) async fn del_config(&self, name: &str) -> anyhow::Result<String> {
        let what = format!("delete config {name}");
        let reply: CtlResponse<serde_json::Value> = self
            .request(
                &what,
                self.subjects.config_del(name),
                Vec::new(),
                self.timeout,
            )
            .await?;
        if !reply.success {
            bail!("{what}: {}", reply.message);
        }
        Ok(reply.message)
    }

    /// Asks every host to bid for a provider; the first bid wins.
    pub(crate) async fn auction(
        &self,
        request: &ProviderAuctionRequest,
    ) -> anyhow::Result<Option<ProviderAuctionAck>> {
        let body = serde_json::to_vec(request).expect("requests encode");
        let bids: Vec<ProviderAuctionAck> = self
            .gather(self.subjects.provider_auction(), body, true)
            .await?;
        Ok(bids.into_iter().next())
    }

    /// The host whose inventory lists `provider_id`.
    pub(crate) async fn host_running(&self, provider_id: &str) -> anyhow::Result<String> {
        for host in self.hosts().await? {
            let inventory = self.inventory(&host.id).await?;
            if inventory.providers.iter().any(|p| p.id == provider_id) {
                return Ok(host.id);
            }
        }
        bail!(
            "no host of the lattice runs a provider `{provider_id}` (see `lattice get inventory`)"
        )
    }

    pub(crate) async fn start_provider(
        &self,
        command: &StartProviderCommand,
    ) -> anyhow::Result<String> {
        let what = format!(
            "start provider {} on {}",
            command.provider_id, command.host_id
        );
        self.command(
            &what,
            self.subjects.provider_start(&command.host_id),
            command,
            self.timeout,
        )
        .await
    }

    /// Waits for the whole staged stop: the host replies once the process is gone.
    pub(crate) async fn stop_provider(
        &self,
        host_id: &str,
        provider_id: &str,
    ) -> anyhow::Result<String> {
        let body = StopProviderCommand {
            host_id: host_id.to_string(),
            provider_id: provider_id.to_string(),
        };
        let what = format!("stop provider {provider_id} on {host_id}");
        let timeout = self.timeout.max(Duration::from_secs(30));
        self.command(&what, self.subjects.provider_stop(host_id), &body, timeout)
            .await
    }

    pub(crate) async fn provider_logs(
        &self,
        host_id: &str,
        provider_id: &str,
        tail: Option<usize>,
    ) -> anyhow::Result<ProviderLogs> {
        let body = serde_json::to_vec(&ProviderLogsRequest {
            provider_id: provider_id.to_string(),
            tail,
        })
        .expect("requests encode");
        let what = format!("logs of {provider_id} on {host_id}");
        let reply: CtlResponse<ProviderLogs> = self
            .request(
                &what,
                self.subjects.provider_logs(host_id),
                body,
                self.timeout,
            )
            .await?;
        data(&what, reply)?.with_context(|| format!("{what}: the reply carries no data"))
    }
}
