//! [`CtlClient`]: the control interface of one lattice, one typed method per operation.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use lattice_nats::NatsConnectConfig;
use lattice_proto::ctl::{
    ComponentAuctionAck, ComponentAuctionRequest, Host, HostInventory, HostLabel,
    HostLabelIdentifier, ProviderAuctionAck, ProviderAuctionRequest, ProviderLogs,
    ProviderLogsRequest, ScaleComponentCommand, StartProviderCommand, StopHostCommand,
    StopProviderCommand,
};
use lattice_proto::link::DeleteInterfaceLinkDefinitionRequest;
use lattice_proto::subjects::{CtlSubjects, DEFAULT_CTL_PREFIX};
use lattice_proto::{CtlResponse, Link};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ClientError;
use crate::events::EventStream;
use crate::request::{gather, send};

/// A provider stop waits for the whole staged stop, so its request waits at least this.
const MIN_PROVIDER_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how [`CtlClient::connect`] connects.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The NATS server (credentials in the URL are sent).
    pub nats: NatsConnectConfig,
    /// The lattice the requests go to.
    pub lattice: String,
    /// The control subject prefix (`wasmbus.ctl` unless the hosts use another).
    pub ctl_prefix: String,
    /// The timeout of each request, and how long host pings and auctions gather replies.
    pub timeout: Duration,
}

impl ClientOptions {
    /// An anonymous client of the `default` lattice on `url`, with a 2 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        ClientOptions {
            nats: NatsConnectConfig::anonymous(url),
            lattice: "default".to_string(),
            ctl_prefix: DEFAULT_CTL_PREFIX.to_string(),
            timeout: Duration::from_secs(2),
        }
    }
}

/// The data of a successful reply (`None` if it carries none), or the host's refusal.
fn data<T>(what: &str, reply: CtlResponse<T>) -> Result<Option<T>, ClientError> {
    if !reply.success {
        return Err(ClientError::Refused {
            what: what.to_string(),
            message: reply.message,
        });
    }
    Ok(reply.response)
}

/// The message of a successful reply, or the host's refusal.
fn message<T>(what: &str, reply: CtlResponse<T>) -> Result<String, ClientError> {
    if !reply.success {
        return Err(ClientError::Refused {
            what: what.to_string(),
            message: reply.message,
        });
    }
    Ok(reply.message)
}

/// The data a successful reply must carry.
fn required<T>(what: &str, reply: CtlResponse<T>) -> Result<T, ClientError> {
    data(what, reply)?.ok_or_else(|| ClientError::NoData {
        what: what.to_string(),
    })
}

/// A client of one lattice's control interface. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CtlClient {
    nats: Client,
    subjects: CtlSubjects,
    lattice: String,
    timeout: Duration,
}

impl CtlClient {
    /// Connects to `options.nats` (within the timeout, at least 1 s).
    pub async fn connect(options: ClientOptions) -> Result<Self, ClientError> {
        let connect_options = ConnectOptions::new()
            .connection_timeout(options.timeout.max(Duration::from_secs(1)))
            .request_timeout(Some(options.timeout));
        let nats = lattice_nats::connect_with("client", &options.nats, connect_options).await?;
        Ok(CtlClient::new(nats, &options))
    }

    /// A client on a connection the caller opened (`options.nats` is not used).
    pub fn new(nats: Client, options: &ClientOptions) -> Self {
        CtlClient {
            nats,
            subjects: CtlSubjects::new(&options.ctl_prefix, &options.lattice),
            lattice: options.lattice.clone(),
            timeout: options.timeout,
        }
    }

    /// The NATS connection (for subscriptions of the caller's own).
    pub fn nats(&self) -> &Client {
        &self.nats
    }

    /// The lattice the requests go to.
    pub fn lattice(&self) -> &str {
        &self.lattice
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The control subjects of the lattice.
    pub fn subjects(&self) -> &CtlSubjects {
        &self.subjects
    }

    /// Follows the lattice's events from now on (see [`EventStream`]).
    pub async fn events(&self) -> Result<EventStream, ClientError> {
        EventStream::subscribe(&self.nats, &self.lattice).await
    }

    async fn request<T: DeserializeOwned>(
        &self,
        what: &str,
        subject: String,
        body: Vec<u8>,
    ) -> Result<CtlResponse<T>, ClientError> {
        send(&self.nats, what, subject, body, self.timeout).await
    }

    /// Sends a command and returns the host's message, or its refusal.
    async fn command<B: Serialize>(
        &self,
        what: &str,
        subject: String,
        body: &B,
        timeout: Duration,
    ) -> Result<String, ClientError> {
        let body = serde_json::to_vec(body).expect("commands always encode");
        let reply: CtlResponse<serde_json::Value> =
            send(&self.nats, what, subject, body, timeout).await?;
        message(what, reply)
    }

    /// Pings the lattice and collects every host that answers within the timeout,
    /// sorted by friendly name.
    pub async fn hosts(&self) -> Result<Vec<Host>, ClientError> {
        let subject = self.subjects.host_ping();
        let mut hosts: Vec<Host> =
            gather(&self.nats, subject, Vec::new(), self.timeout, false).await?;
        hosts.sort_by(|a, b| a.friendly_name.cmp(&b.friendly_name));
        Ok(hosts)
    }

    /// A host's inventory: labels and providers.
    pub async fn inventory(&self, host_id: &str) -> Result<HostInventory, ClientError> {
        let what = format!("get inventory of {host_id}");
        let reply = self
            .request(&what, self.subjects.host_get(host_id), Vec::new())
            .await?;
        required(&what, reply)
    }

    /// Sets a host label.
    pub async fn put_label(
        &self,
        host_id: &str,
        key: &str,
        value: &str,
    ) -> Result<String, ClientError> {
        let body = HostLabel {
            key: key.to_string(),
            value: value.to_string(),
        };
        let what = format!("put label {key} on {host_id}");
        self.command(&what, self.subjects.label_put(host_id), &body, self.timeout)
            .await
    }

    /// Removes a host label.
    pub async fn del_label(&self, host_id: &str, key: &str) -> Result<String, ClientError> {
        let body = HostLabelIdentifier {
            key: key.to_string(),
        };
        let what = format!("delete label {key} on {host_id}");
        self.command(&what, self.subjects.label_del(host_id), &body, self.timeout)
            .await
    }

    /// Asks a host to stop, within `timeout` (the host's default without one).
    pub async fn stop_host(
        &self,
        host_id: &str,
        timeout: Option<Duration>,
    ) -> Result<String, ClientError> {
        let body = StopHostCommand {
            host_id: host_id.to_string(),
            timeout: timeout.map(|t| t.as_millis() as u64),
        };
        let what = format!("stop host {host_id}");
        self.command(&what, self.subjects.host_stop(host_id), &body, self.timeout)
            .await
    }

    /// Puts a link.
    pub async fn put_link(&self, link: &Link) -> Result<String, ClientError> {
        let what = format!("put link {} -> {}", link.source_id, link.target);
        self.command(&what, self.subjects.link_put(), link, self.timeout)
            .await
    }

    /// Deletes a link.
    pub async fn del_link(
        &self,
        request: &DeleteInterfaceLinkDefinitionRequest,
    ) -> Result<String, ClientError> {
        let what = format!(
            "delete link {} {}:{}",
            request.source_id, request.wit_namespace, request.wit_package
        );
        self.command(&what, self.subjects.link_del(), request, self.timeout)
            .await
    }

    /// Every link of the lattice.
    pub async fn links(&self) -> Result<Vec<Link>, ClientError> {
        let what = "get links";
        let reply = self
            .request(what, self.subjects.link_get(), Vec::new())
            .await?;
        Ok(data(what, reply)?.unwrap_or_default())
    }

    /// Puts a named config.
    pub async fn put_config(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<String, ClientError> {
        let what = format!("put config {name}");
        self.command(&what, self.subjects.config_put(name), config, self.timeout)
            .await
    }

    /// A named config; `None` if it does not exist.
    pub async fn config(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ClientError> {
        let what = format!("get config {name}");
        let reply = self
            .request(&what, self.subjects.config_get(name), Vec::new())
            .await?;
        data(&what, reply)
    }

    /// Deletes a named config.
    pub async fn del_config(&self, name: &str) -> Result<String, ClientError> {
        let what = format!("delete config {name}");
        let reply: CtlResponse<serde_json::Value> = self
            .request(&what, self.subjects.config_del(name), Vec::new())
            .await?;
        message(&what, reply)
    }

    /// Sends registry credentials to every host (`registry.put`; `credentials` maps a
    /// registry to `{"username","password"}` or `{"token"}`). Returns each answering
    /// host's reply: a success, or its error message.
    pub async fn put_registries(
        &self,
        credentials: &serde_json::Value,
    ) -> Result<Vec<Result<String, String>>, ClientError> {
        let body = serde_json::to_vec(credentials).expect("JSON encodes");
        let replies: Vec<CtlResponse<serde_json::Value>> = crate::request::gather_replies(
            &self.nats,
            self.subjects.registry_put(),
            body,
            self.timeout,
            false,
        )
        .await?;
        Ok(replies
            .into_iter()
            .map(|r| match r.success {
                true => Ok(r.message),
                false => Err(r.message),
            })
            .collect())
    }

    /// Asks every host to bid for a provider; the first bid (within the timeout) wins.
    pub async fn auction(
        &self,
        request: &ProviderAuctionRequest,
    ) -> Result<Option<ProviderAuctionAck>, ClientError> {
        let body = serde_json::to_vec(request).expect("requests encode");
        let subject = self.subjects.provider_auction();
        let bids: Vec<ProviderAuctionAck> =
            gather(&self.nats, subject, body, self.timeout, true).await?;
        Ok(bids.into_iter().next())
    }

    /// The host whose inventory lists `provider_id`, if any answers.
    pub async fn find_provider_host(
        &self,
        provider_id: &str,
    ) -> Result<Option<String>, ClientError> {
        for host in self.hosts().await? {
            let inventory = self.inventory(&host.id).await?;
            if inventory.providers.iter().any(|p| p.id == provider_id) {
                return Ok(Some(host.id));
            }
        }
        Ok(None)
    }

    /// Starts a provider; returns at the host's acknowledgement (follow
    /// [`CtlClient::events`] for `provider_started` and `health_check_passed`).
    pub async fn start_provider(
        &self,
        command: &StartProviderCommand,
    ) -> Result<String, ClientError> {
        let what = format!(
            "start provider {} on {}",
            command.provider_id, command.host_id
        );
        let subject = self.subjects.provider_start(&command.host_id);
        self.command(&what, subject, command, self.timeout).await
    }

    /// Stops a provider. The host replies once the stop is under way (a lattice host
    /// once the process is gone), so this waits at least 30 s.
    pub async fn stop_provider(
        &self,
        host_id: &str,
        provider_id: &str,
    ) -> Result<String, ClientError> {
        let body = StopProviderCommand {
            host_id: host_id.to_string(),
            provider_id: provider_id.to_string(),
        };
        let what = format!("stop provider {provider_id} on {host_id}");
        let timeout = self.timeout.max(MIN_PROVIDER_STOP_TIMEOUT);
        self.command(&what, self.subjects.provider_stop(host_id), &body, timeout)
            .await
    }

    /// What a provider printed (the last `tail` lines, or all the host kept).
    pub async fn provider_logs(
        &self,
        host_id: &str,
        provider_id: &str,
        tail: Option<usize>,
    ) -> Result<ProviderLogs, ClientError> {
        let body = serde_json::to_vec(&ProviderLogsRequest {
            provider_id: provider_id.to_string(),
            tail,
        })
        .expect("requests encode");
        let what = format!("logs of {provider_id} on {host_id}");
        let reply = self
            .request(&what, self.subjects.provider_logs(host_id), body)
            .await?;
        required(&what, reply)
    }

    /// Starts, rescales or (with `count: 0`) stops a component; returns at the host's
    /// acknowledgement (follow [`CtlClient::events`] for `component_scaled`).
    pub async fn scale_component(
        &self,
        command: &ScaleComponentCommand,
    ) -> Result<String, ClientError> {
        let what = format!(
            "scale component {} on {}",
            command.component_id, command.host_id
        );
        let subject = self.subjects.component_scale(&command.host_id);
        self.command(&what, subject, command, self.timeout).await
    }

    /// Asks every host to bid for a component; the first bid (within the timeout) wins.
    pub async fn component_auction(
        &self,
        request: &ComponentAuctionRequest,
    ) -> Result<Option<ComponentAuctionAck>, ClientError> {
        let body = serde_json::to_vec(request).expect("requests encode");
        let subject = self.subjects.component_auction();
        let bids: Vec<ComponentAuctionAck> =
            gather(&self.nats, subject, body, self.timeout, true).await?;
        Ok(bids.into_iter().next())
    }

    /// The host whose inventory lists component `component_id`, if any answers.
    pub async fn find_component_host(
        &self,
        component_id: &str,
    ) -> Result<Option<String>, ClientError> {
        for host in self.hosts().await? {
            let inventory = self.inventory(&host.id).await?;
            if inventory.components.iter().any(|c| c.id == component_id) {
                return Ok(Some(host.id));
            }
        }
        Ok(None)
    }

    /// The exported functions of a component running on `host_id` (lattice extension).
    pub async fn describe_component(
        &self,
        host_id: &str,
        component_id: &str,
    ) -> Result<lattice_proto::wit::ComponentExports, ClientError> {
        let body = serde_json::to_vec(&lattice_proto::wit::DescribeComponentRequest {
            component_id: component_id.to_string(),
        })
        .expect("requests encode");
        let what = format!("describe component {component_id} on {host_id}");
        let reply = self
            .request(&what, self.subjects.component_describe(host_id), body)
            .await?;
        required(&what, reply)
    }
}
