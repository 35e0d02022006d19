//! Every NATS subject lattice uses, built by typed functions, and the one parser that
//! turns an incoming control subject into a [`CtlOp`].
//!
//! The subscription table ([`CtlSubjects::subscriptions`]) and the parser
//! ([`CtlSubjects::parse`]) are written side by side over the same [`CtlGroup`]s, so a
//! subject the host subscribes to is always one it can parse.

/// Default control-interface prefix.
pub const DEFAULT_CTL_PREFIX: &str = "wasmbus.ctl";

/// A family of control operations that a host serves together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtlGroup {
    /// `host.ping` (every host) and `host.{op}.{host_id}`.
    Host,
    /// `label.{op}.{host_id}`.
    Label,
    /// `provider.{op}.{host_id}`.
    Provider,
    /// `provider.auction` (every host).
    ProviderAuction,
    /// `component.{op}.{host_id}`.
    Component,
    /// `component.auction` (every host).
    ComponentAuction,
    /// `link.*` (queue group).
    Link,
    /// `config.>` (queue group).
    Config,
    /// `claims.get` (queue group).
    Claims,
    /// `registry.put` (every host).
    Registry,
}

/// One subscription of the control interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtlSubscription {
    /// The subject (may contain wildcards).
    pub subject: String,
    /// The queue group, for operations that exactly one host should answer.
    pub queue_group: Option<String>,
}

/// A parsed control-interface operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtlOp {
    /// `host.ping`
    HostPing,
    /// `host.get.{host_id}`
    HostGet,
    /// `host.stop.{host_id}`
    HostStop,
    /// `label.put.{host_id}`
    LabelPut,
    /// `label.del.{host_id}`
    LabelDel,
    /// `provider.start.{host_id}`
    ProviderStart,
    /// `provider.stop.{host_id}`
    ProviderStop,
    /// `provider.logs.{host_id}` (lattice extension): recent output of a provider.
    ProviderLogs,
    /// `provider.auction`
    ProviderAuction,
    /// `component.auction`
    ComponentAuction,
    /// `component.scale.{host_id}`
    ComponentScale,
    /// `component.update.{host_id}`
    ComponentUpdate,
    /// `component.describe.{host_id}` (lattice extension): a running component's exports.
    ComponentDescribe,
    /// `component.{op}.{host_id}` for any other `op`: unsupported.
    Component {
        /// The operation token (`scale`, `update`, …).
        op: String,
    },
    /// `link.put`
    LinkPut,
    /// `link.del`
    LinkDel,
    /// `link.get`
    LinkGet,
    /// `config.put.{name}`
    ConfigPut {
        /// Config name.
        name: String,
    },
    /// `config.get.{name}`
    ConfigGet {
        /// Config name.
        name: String,
    },
    /// `config.del.{name}`
    ConfigDel {
        /// Config name.
        name: String,
    },
    /// `claims.get`
    ClaimsGet,
    /// `registry.put`: registry credentials, applied by every host.
    RegistryPut,
}

impl CtlOp {
    /// The operation's name, e.g. `host.ping` or `config.put` (config names and host
    /// IDs left out), for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            CtlOp::HostPing => "host.ping",
            CtlOp::HostGet => "host.get",
            CtlOp::HostStop => "host.stop",
            CtlOp::LabelPut => "label.put",
            CtlOp::LabelDel => "label.del",
            CtlOp::ProviderStart => "provider.start",
            CtlOp::ProviderStop => "provider.stop",
            CtlOp::ProviderLogs => "provider.logs",
            CtlOp::ProviderAuction => "provider.auction",
            CtlOp::ComponentAuction => "component.auction",
            CtlOp::ComponentScale => "component.scale",
            CtlOp::ComponentUpdate => "component.update",
            CtlOp::ComponentDescribe => "component.describe",
            CtlOp::Component { .. } => "component",
            CtlOp::LinkPut => "link.put",
            CtlOp::LinkDel => "link.del",
            CtlOp::LinkGet => "link.get",
            CtlOp::ConfigPut { .. } => "config.put",
            CtlOp::ConfigGet { .. } => "config.get",
            CtlOp::ConfigDel { .. } => "config.del",
            CtlOp::ClaimsGet => "claims.get",
            CtlOp::RegistryPut => "registry.put",
        }
    }
}

/// A control subject that names no operation this host knows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported subject")]
pub struct UnsupportedSubject {
    /// The subject as received.
    pub subject: String,
}

/// Builds and parses the control subjects of one lattice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CtlSubjects {
    base: String,
}

impl CtlSubjects {
    /// Control subjects under `{prefix}.v1.{lattice}`.
    pub fn new(prefix: &str, lattice: &str) -> Self {
        CtlSubjects {
            base: format!("{prefix}.v1.{lattice}"),
        }
    }

    /// `{prefix}.v1.{lattice}`
    pub fn base(&self) -> &str {
        &self.base
    }

    fn subject(&self, tail: &str) -> String {
        format!("{}.{tail}", self.base)
    }

    /// The subscriptions that serve `groups` for the host `host_id`.
    pub fn subscriptions(&self, host_id: &str, groups: &[CtlGroup]) -> Vec<CtlSubscription> {
        let plain = |tail: String| CtlSubscription {
            subject: self.subject(&tail),
            queue_group: None,
        };
        let queued = |tail: &str, group: &str| CtlSubscription {
            subject: self.subject(tail),
            queue_group: Some(self.subject(group)),
        };
        let mut subs = Vec::new();
        for group in groups {
            match group {
                CtlGroup::Host => {
                    subs.push(plain("host.ping".into()));
                    subs.push(plain(format!("host.*.{host_id}")));
                }
                CtlGroup::Label => subs.push(plain(format!("label.*.{host_id}"))),
                CtlGroup::Provider => subs.push(plain(format!("provider.*.{host_id}"))),
                CtlGroup::ProviderAuction => subs.push(plain("provider.auction".into())),
                CtlGroup::Component => subs.push(plain(format!("component.*.{host_id}"))),
                CtlGroup::ComponentAuction => subs.push(plain("component.auction".into())),
                CtlGroup::Link => subs.push(queued("link.*", "link")),
                CtlGroup::Config => subs.push(queued("config.>", "config")),
                CtlGroup::Claims => subs.push(queued("claims.get", "claims")),
                CtlGroup::Registry => subs.push(plain("registry.put".into())),
            }
        }
        subs
    }

    /// Parses an incoming control subject. The host ID token of host-scoped subjects is
    /// not checked here: the subscription already names it.
    pub fn parse(&self, subject: &str) -> Result<CtlOp, UnsupportedSubject> {
        let unsupported = || UnsupportedSubject {
            subject: subject.to_string(),
        };
        let rest = subject
            .strip_prefix(self.base.as_str())
            .and_then(|r| r.strip_prefix('.'))
            .ok_or_else(unsupported)?;
        let tokens: Vec<&str> = rest.split('.').collect();
        let op = match tokens.as_slice() {
            ["host", "ping"] => CtlOp::HostPing,
            ["host", "get", _] => CtlOp::HostGet,
            ["host", "stop", _] => CtlOp::HostStop,
            ["label", "put", _] => CtlOp::LabelPut,
            ["label", "del", _] => CtlOp::LabelDel,
            ["provider", "start", _] => CtlOp::ProviderStart,
            ["provider", "stop", _] => CtlOp::ProviderStop,
            ["provider", "logs", _] => CtlOp::ProviderLogs,
            ["provider", "auction"] => CtlOp::ProviderAuction,
            ["component", "auction"] => CtlOp::ComponentAuction,
            ["component", "scale", _] => CtlOp::ComponentScale,
            ["component", "update", _] => CtlOp::ComponentUpdate,
            ["component", "describe", _] => CtlOp::ComponentDescribe,
            ["component", op, _] => CtlOp::Component { op: op.to_string() },
            ["link", "put"] => CtlOp::LinkPut,
            ["link", "del"] => CtlOp::LinkDel,
            ["link", "get"] => CtlOp::LinkGet,
            // A name with dots arrives as several tokens: parsed whole, refused by the handler.
            ["config", "put", name @ ..] if !name.is_empty() => CtlOp::ConfigPut {
                name: name.join("."),
            },
            ["config", "get", name @ ..] if !name.is_empty() => CtlOp::ConfigGet {
                name: name.join("."),
            },
            ["config", "del", name @ ..] if !name.is_empty() => CtlOp::ConfigDel {
                name: name.join("."),
            },
            ["claims", "get"] => CtlOp::ClaimsGet,
            ["registry", "put"] => CtlOp::RegistryPut,
            _ => return Err(unsupported()),
        };
        Ok(op)
    }

    /// `host.ping`: every host answers.
    pub fn host_ping(&self) -> String {
        self.subject("host.ping")
    }

    /// `host.get.{host_id}`
    pub fn host_get(&self, host_id: &str) -> String {
        self.subject(&format!("host.get.{host_id}"))
    }

    /// `host.stop.{host_id}`
    pub fn host_stop(&self, host_id: &str) -> String {
        self.subject(&format!("host.stop.{host_id}"))
    }

    /// `label.put.{host_id}`
    pub fn label_put(&self, host_id: &str) -> String {
        self.subject(&format!("label.put.{host_id}"))
    }

    /// `label.del.{host_id}`
    pub fn label_del(&self, host_id: &str) -> String {
        self.subject(&format!("label.del.{host_id}"))
    }

    /// `provider.start.{host_id}`
    pub fn provider_start(&self, host_id: &str) -> String {
        self.subject(&format!("provider.start.{host_id}"))
    }

    /// `provider.stop.{host_id}`
    pub fn provider_stop(&self, host_id: &str) -> String {
        self.subject(&format!("provider.stop.{host_id}"))
    }

    /// `link.put` (one host of the queue group answers).
    pub fn link_put(&self) -> String {
        self.subject("link.put")
    }

    /// `link.del`
    pub fn link_del(&self) -> String {
        self.subject("link.del")
    }

    /// `link.get`
    pub fn link_get(&self) -> String {
        self.subject("link.get")
    }

    /// `config.put.{name}`
    pub fn config_put(&self, name: &str) -> String {
        self.subject(&format!("config.put.{name}"))
    }

    /// `config.get.{name}`
    pub fn config_get(&self, name: &str) -> String {
        self.subject(&format!("config.get.{name}"))
    }

    /// `config.del.{name}`
    pub fn config_del(&self, name: &str) -> String {
        self.subject(&format!("config.del.{name}"))
    }

    /// `provider.auction`: every host may bid.
    pub fn provider_auction(&self) -> String {
        self.subject("provider.auction")
    }

    /// `component.scale.{host_id}`
    pub fn component_scale(&self, host_id: &str) -> String {
        self.subject(&format!("component.scale.{host_id}"))
    }

    /// `component.update.{host_id}`
    pub fn component_update(&self, host_id: &str) -> String {
        self.subject(&format!("component.update.{host_id}"))
    }

    /// `component.describe.{host_id}` (lattice extension)
    pub fn component_describe(&self, host_id: &str) -> String {
        self.subject(&format!("component.describe.{host_id}"))
    }

    /// `component.auction`
    pub fn component_auction(&self) -> String {
        self.subject("component.auction")
    }

    /// `claims.get`
    pub fn claims_get(&self) -> String {
        self.subject("claims.get")
    }

    /// `registry.put`: every host applies it.
    pub fn registry_put(&self) -> String {
        self.subject("registry.put")
    }

    /// `provider.logs.{host_id}` (lattice extension)
    pub fn provider_logs(&self, host_id: &str) -> String {
        self.subject(&format!("provider.logs.{host_id}"))
    }
}

/// Subjects of lattice events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSubjects {
    base: String,
}

impl EventSubjects {
    /// Event subjects of `lattice`: `wasmbus.evt.{lattice}.…`.
    pub fn new(lattice: &str) -> Self {
        EventSubjects {
            base: format!("wasmbus.evt.{lattice}"),
        }
    }

    /// `wasmbus.evt.{lattice}.{event_name}`
    pub fn event(&self, event_name: &str) -> String {
        format!("{}.{event_name}", self.base)
    }

    /// `wasmbus.evt.{lattice}.>`: every event of the lattice.
    pub fn all(&self) -> String {
        format!("{}.>", self.base)
    }
}

/// Subjects a host uses to talk to the providers of one lattice (spec §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderSubjects {
    base: String,
}

impl ProviderSubjects {
    /// Provider subjects of `lattice`: `wasmbus.rpc.{lattice}.…`.
    pub fn new(lattice: &str) -> Self {
        ProviderSubjects {
            base: format!("wasmbus.rpc.{lattice}"),
        }
    }

    /// `wasmbus.rpc.{lattice}.{provider_id}.health`
    pub fn health(&self, provider_id: &str) -> String {
        format!("{}.{provider_id}.health", self.base)
    }

    /// `wasmbus.rpc.{lattice}.{provider_id}.default.shutdown`
    pub fn shutdown(&self, provider_id: &str) -> String {
        format!("{}.{provider_id}.default.shutdown", self.base)
    }

    /// `wasmbus.rpc.{lattice}.{id}.linkdefs.put`, `id` being an xkey public key (or a
    /// provider ID for pre-1.1 providers).
    pub fn link_put(&self, id: &str) -> String {
        format!("{}.{id}.linkdefs.put", self.base)
    }

    /// `wasmbus.rpc.{lattice}.{provider_id}.linkdefs.del`
    pub fn link_del(&self, provider_id: &str) -> String {
        format!("{}.{provider_id}.linkdefs.del", self.base)
    }

    /// `wasmbus.rpc.{lattice}.{provider_id}.config.update`
    pub fn config_update(&self, provider_id: &str) -> String {
        format!("{}.{provider_id}.config.update", self.base)
    }
}

/// Where a host publishes a provider's output lines as they come (lattice extension):
/// `{ctl_prefix}.v1.{lattice}.logs.{host_id}.{provider_id}`.
///
/// It lives under the control prefix, so the NATS permissions that guard control
/// requests guard it too: whoever may subscribe to `{ctl_prefix}.v1.{lattice}.>` can read
/// every provider's output. It is outside `wasmbus.evt` (wadm stores every event there)
/// and matches no control subscription of a lattice or 1.x host (`logs` is no operation
/// family), so no host takes a line for a request.
pub fn log_lines(ctl_prefix: &str, lattice: &str, host_id: &str, provider_id: &str) -> String {
    let ctl = CtlSubjects::new(ctl_prefix, lattice);
    format!("{}.logs.{host_id}.{provider_id}", ctl.base())
}

/// True if `s` can stand as one NATS subject token: non-empty, no `.`, no wildcard, no whitespace.
pub fn is_subject_token(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace())
}

#[cfg(test)]
mod tests;
