//! `wasmcloud+builtin://messaging-nats`: `wasmcloud:messaging@0.2.0` over NATS, both ways.
//!
//! - A link from the provider to a component (interface `handler`) subscribes to the
//!   link's `subscriptions` (comma-separated; `subject|queue` joins a queue group) and
//!   calls the component's `handler.handle-message` for each message, over wRPC (so the
//!   component may run on any host).
//! - A link from a component to the provider (interface `consumer`) gives that component
//!   `consumer.publish` and `consumer.request`, served over wRPC by the provider, on a
//!   NATS connection made from the link's config.
//!
//! - A handler link's `consumers` (JetStream pull consumers that exist already) are
//!   pulled continuously; each message is acknowledged once the component handled it,
//!   and negatively (redelivered after a second) when it failed ([`jetstream`]).
//!
//! Config (the link's over the provider's): `cluster_uris` (comma-separated, default
//! `0.0.0.0:4222`), `client_jwt` + `client_seed`, `tls_ca` (a PEM file of extra roots),
//! `custom_inbox_prefix`, `subscriptions`, `consumers`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use lattice_nats::{NatsAuth, NatsConnectConfig};
use lattice_proto::InterfaceLinkDefinition;
use lattice_proto::provider::HealthCheckResponse;
use lattice_provider_sdk::wrpc::subjects::{InvocationSubject, SubjectPrefix};
use lattice_provider_sdk::wrpc::value::{Type, Value, encode_tuple};
use lattice_provider_sdk::wrpc::{IncomingInvocation, InvocationHeaders, WrpcClient};
use lattice_provider_sdk::{BoxError, LinkConfig, LinkRole, Provider, ProviderContext};
use tokio_util::sync::CancellationToken;

use super::BuiltinEnv;

mod jetstream;

const HANDLER: &str = "wasmcloud:messaging/handler@0.2.0";
const CONSUMER: &str = "wasmcloud:messaging/consumer@0.2.0";
const DEFAULT_CLUSTER_URIS: &str = "0.0.0.0:4222";

/// `broker-message { subject: string, body: list<u8>, reply-to: option<string> }`.
fn broker_message_type() -> Type {
    Type::record([
        ("subject", Type::String),
        ("body", Type::list(Type::U8)),
        ("reply-to", Type::option(Type::String)),
    ])
}

fn broker_message(subject: String, body: Bytes, reply_to: Option<String>) -> Value {
    Value::Record(vec![
        Value::String(subject),
        Value::Bytes(body),
        Value::Option(reply_to.map(|r| Box::new(Value::String(r)))),
    ])
}

/// `(subject, body, reply-to)` of a decoded `broker-message`.
fn from_broker_message(value: &Value) -> Option<(String, Bytes, Option<String>)> {
    let Value::Record(fields) = value else {
        return None;
    };
    let subject = match fields.first()? {
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let body = match fields.get(1)? {
        Value::Bytes(b) => b.clone(),
        Value::List(items) => items
            .iter()
            .map(|v| match v {
                Value::U8(b) => Some(*b),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()?
            .into(),
        _ => return None,
    };
    let reply_to = match fields.get(2)? {
        Value::Option(Some(r)) => match r.as_ref() {
            Value::String(s) => Some(s.clone()),
            _ => return None,
        },
        Value::Option(None) => None,
        _ => return None,
    };
    Some((subject, body, reply_to))
}

fn string_error(message: impl Into<String>) -> Value {
    Value::Result(Err(Some(Box::new(Value::String(message.into())))))
}

/// Connects with the merged config.
async fn connect(
    config: &BTreeMap<String, String>,
    name: &str,
) -> Result<async_nats::Client, String> {
    let uris = config
        .get("cluster_uris")
        .map_or(DEFAULT_CLUSTER_URIS, |u| u.as_str())
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| match u.contains("://") {
            true => u.to_string(),
            false => format!("nats://{u}"),
        })
        .collect::<Vec<_>>()
        .join(",");
    let auth = match (config.get("client_jwt"), config.get("client_seed")) {
        (Some(jwt), Some(seed)) => NatsAuth::Jwt {
            jwt: jwt.clone(),
            seed: seed.clone(),
        },
        (None, None) => NatsAuth::Anonymous,
        _ => return Err("`client_jwt` and `client_seed` go together".into()),
    };
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5));
    if let Some(ca) = config.get("tls_ca") {
        options = options.add_root_certificates(ca.into());
    }
    if let Some(prefix) = config.get("custom_inbox_prefix") {
        options = options.custom_inbox_prefix(prefix);
    }
    let target = NatsConnectConfig { url: uris, auth };
    lattice_nats::connect_with("messaging", &target, options)
        .await
        .map_err(|e| e.to_string())
}

pub(crate) struct MessagingNats {
    env: BuiltinEnv,
    provider_id: String,
    /// Set by `init`.
    started: tokio::sync::OnceCell<Started>,
    /// Subscriptions of each handler link, by `{target}/{link name}`.
    handlers: tokio::sync::Mutex<HashMap<String, CancellationToken>>,
    /// The connection of each component linked to `consumer`, by component ID.
    consumers: Arc<Mutex<HashMap<String, async_nats::Client>>>,
    problems: super::Problems,
}

struct Started {
    wrpc: WrpcClient,
    lattice: String,
    config: BTreeMap<String, String>,
    serving: CancellationToken,
}

impl Drop for Started {
    fn drop(&mut self) {
        self.serving.cancel();
    }
}

impl MessagingNats {
    pub(crate) fn new(env: BuiltinEnv, provider_id: String) -> Self {
        MessagingNats {
            env,
            provider_id,
            started: tokio::sync::OnceCell::new(),
            handlers: tokio::sync::Mutex::new(HashMap::new()),
            consumers: Arc::new(Mutex::new(HashMap::new())),
            problems: super::Problems::default(),
        }
    }

    fn merged(&self, link_config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut merged = self
            .started
            .get()
            .map(|s| s.config.clone())
            .unwrap_or_default();
        merged.extend(link_config.clone());
        merged
    }

    /// Subscribes for a handler link and calls the component per message.
    async fn put_handler(
        &self,
        link: &InterfaceLinkDefinition,
        config: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let started = self
            .started
            .get()
            .ok_or("the provider is not initialised")?;
        let merged = self.merged(config);
        let consumers = jetstream::parse(merged.get("consumers"))?;
        let client = connect(&merged, &self.provider_id).await?;
        let subscriptions: Vec<(String, Option<String>)> = merged
            .get("subscriptions")
            .map(|s| s.as_str())
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once('|') {
                Some((subject, queue)) => {
                    (subject.trim().to_string(), Some(queue.trim().to_string()))
                }
                None => (s.to_string(), None),
            })
            .collect();
        let stop = CancellationToken::new();
        // What was started is stopped again if the link cannot be applied in full.
        let started_guard = stop.clone().drop_guard();
        let delivery = Delivery {
            wrpc: started.wrpc.clone(),
            target: InvocationSubject::new(
                SubjectPrefix::target(&started.lattice, &link.target),
                HANDLER,
                "handle-message",
            ),
            headers: InvocationHeaders::new()
                .with_source_id(&self.provider_id)
                .with_link_name(&link.name),
        };
        for (subject, queue) in subscriptions {
            let subscriber = match &queue {
                Some(queue) => client.queue_subscribe(subject.clone(), queue.clone()).await,
                None => client.subscribe(subject.clone()).await,
            }
            .map_err(|e| format!("cannot subscribe to {subject}: {e}"))?;
            tokio::spawn(deliver(subscriber, delivery.clone(), stop.clone()));
        }
        jetstream::start(&client, &consumers, &delivery, &stop).await?;
        // The subscriptions are known to the server before the link counts as applied.
        client.flush().await.map_err(|e| e.to_string())?;
        started_guard.disarm();
        let key = format!("{}/{}", link.target, link.name);
        if let Some(old) = self.handlers.lock().await.insert(key, stop) {
            old.cancel();
        }
        Ok(())
    }
}

/// Calls one component's `handle-message`.
#[derive(Clone)]
pub(super) struct Delivery {
    wrpc: WrpcClient,
    target: InvocationSubject,
    headers: InvocationHeaders,
}

impl Delivery {
    /// Hands the component one message; `Err` says why it was not handled (the
    /// component's own error, or the call failing).
    pub(super) async fn call(
        &self,
        subject: String,
        body: Bytes,
        reply_to: Option<String>,
    ) -> Result<(), String> {
        let mut params = BytesMut::new();
        encode_tuple(
            &[broker_message(subject, body, reply_to)],
            &[broker_message_type()],
            &mut params,
        )
        .map_err(|e| format!("cannot encode a broker message: {e}"))?;
        let result_type = [Type::result(None, Some(Type::String))];
        let called = async {
            let mut invocation = self
                .wrpc
                .invoke(&self.target, &self.headers, params.freeze())
                .await?;
            let results = invocation.read_results(&result_type).await?;
            Ok::<_, BoxError>(results)
        };
        match called.await {
            Ok(results) => match results.first() {
                Some(Value::Result(Err(Some(reason)))) => match reason.as_ref() {
                    Value::String(reason) => Err(reason.clone()),
                    other => Err(format!("{other:?}")),
                },
                _ => Ok(()),
            },
            Err(error) => Err(format!("cannot call {}: {error}", self.target)),
        }
    }
}

/// Calls `handle-message` for every message of `subscriber` until `stop`.
async fn deliver(
    mut subscriber: async_nats::Subscriber,
    delivery: Delivery,
    stop: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => break,
            message = subscriber.next() => match message {
                Some(message) => message,
                None => break,
            },
        };
        let delivery = delivery.clone();
        tokio::spawn(async move {
            let reply_to = message.reply.map(|r| r.to_string());
            let subject = message.subject.to_string();
            if let Err(reason) = delivery.call(subject, message.payload, reply_to).await {
                tracing::warn!(target = %delivery.target, %reason, "a message was not handled");
            }
        });
    }
    let _ = subscriber.unsubscribe().await;
}

/// Serves `consumer.publish` and `consumer.request` for linked components.
async fn serve_consumer(
    wrpc: WrpcClient,
    prefix: SubjectPrefix,
    consumers: Arc<Mutex<HashMap<String, async_nats::Client>>>,
    stop: CancellationToken,
) -> Result<(), String> {
    for func in ["publish", "request"] {
        let subject = InvocationSubject::new(prefix.clone(), CONSUMER, func);
        let mut calls = wrpc
            .serve(&subject)
            .await
            .map_err(|e| format!("cannot serve {subject}: {e}"))?;
        let (consumers, stop) = (consumers.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let call = tokio::select! {
                    _ = stop.cancelled() => return,
                    call = calls.next() => match call {
                        Some(Ok(call)) => call,
                        Some(Err(_)) => continue,
                        None => return,
                    },
                };
                let consumers = consumers.clone();
                tokio::spawn(async move {
                    let source = call.headers().source_id().unwrap_or_default().to_string();
                    let client = consumers
                        .lock()
                        .expect("not poisoned")
                        .get(&source)
                        .cloned();
                    match func {
                        "publish" => publish(call, client, &source).await,
                        _ => request(call, client, &source).await,
                    }
                });
            }
        });
    }
    Ok(())
}

fn not_linked(source: &str) -> String {
    format!("component `{source}` has no consumer link to this messaging-nats provider")
}

async fn publish(mut call: IncomingInvocation, client: Option<async_nats::Client>, source: &str) {
    let result_type = Type::result(None, Some(Type::String));
    let outcome = match call.read_params(&[broker_message_type()]).await {
        Ok(params) => match (params.first().and_then(from_broker_message), client) {
            (None, _) => string_error("undecodable broker-message"),
            (Some(_), None) => string_error(not_linked(source)),
            (Some((subject, body, reply_to)), Some(client)) => {
                let sent = match reply_to {
                    Some(reply) => client.publish_with_reply(subject, reply, body).await,
                    None => client.publish(subject, body).await,
                };
                match sent {
                    Ok(()) => Value::Result(Ok(None)),
                    Err(e) => string_error(e.to_string()),
                }
            }
        },
        Err(error) => {
            tracing::warn!(%error, "cannot read consumer.publish parameters");
            return;
        }
    };
    let _ = call.write_results(&[outcome], &[result_type]).await;
}

async fn request(mut call: IncomingInvocation, client: Option<async_nats::Client>, source: &str) {
    let message_type = broker_message_type();
    let result_type = Type::result(Some(message_type.clone()), Some(Type::String));
    let params = match call
        .read_params(&[Type::String, Type::list(Type::U8), Type::U32])
        .await
    {
        Ok(params) => params,
        Err(error) => {
            tracing::warn!(%error, "cannot read consumer.request parameters");
            return;
        }
    };
    let outcome = match (params.as_slice(), client) {
        (_, None) => string_error(not_linked(source)),
        ([Value::String(subject), body, Value::U32(timeout_ms)], Some(client)) => {
            let body = match body {
                Value::Bytes(b) => b.clone(),
                _ => Bytes::new(),
            };
            let timeout = Duration::from_millis(u64::from(*timeout_ms));
            match tokio::time::timeout(timeout, client.request(subject.clone(), body)).await {
                Ok(Ok(reply)) => Value::Result(Ok(Some(Box::new(broker_message(
                    reply.subject.to_string(),
                    reply.payload,
                    reply.reply.map(|r| r.to_string()),
                ))))),
                Ok(Err(e)) => string_error(e.to_string()),
                Err(_) => string_error(format!("no reply on {subject} within {timeout_ms} ms")),
            }
        }
        _ => string_error("undecodable consumer.request parameters"),
    };
    let _ = call.write_results(&[outcome], &[result_type]).await;
}

impl Provider for MessagingNats {
    async fn init(&self, ctx: &ProviderContext) -> Result<(), BoxError> {
        let wrpc = ctx.wrpc().await?;
        let serving = CancellationToken::new();
        serve_consumer(
            wrpc.clone(),
            ctx.wrpc_prefix(),
            self.consumers.clone(),
            serving.clone(),
        )
        .await?;
        let _ = self.started.set(Started {
            wrpc,
            lattice: ctx.lattice().to_string(),
            config: ctx.config().clone(),
            serving,
        });
        Ok(())
    }

    async fn health(&self) -> HealthCheckResponse {
        self.problems.health()
    }

    async fn link_put(&self, link: LinkConfig) -> Result<(), BoxError> {
        let def = &link.link;
        if def.wit_namespace != "wasmcloud" || def.wit_package != "messaging" {
            return Ok(());
        }
        let key = format!("{}/{}/{}", def.source_id, def.target, def.name);
        let applied = match link.role {
            LinkRole::Source if def.interfaces.iter().any(|i| i == "handler") => {
                self.put_handler(def, &link.config).await
            }
            LinkRole::Target if def.interfaces.iter().any(|i| i == "consumer") => {
                match connect(&self.merged(&link.config), &self.provider_id).await {
                    Ok(client) => {
                        self.consumers
                            .lock()
                            .expect("not poisoned")
                            .insert(def.source_id.clone(), client);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            _ => return Ok(()),
        };
        match applied {
            Ok(()) => self.problems.set(&key, None),
            Err(reason) => {
                self.problems
                    .set(&key, Some(format!("link {}: {reason}", def.name)));
                self.env.link_failed(&self.provider_id, def, &reason).await;
            }
        }
        Ok(())
    }

    async fn link_del(
        &self,
        link: &InterfaceLinkDefinition,
        role: LinkRole,
    ) -> Result<(), BoxError> {
        match role {
            LinkRole::Source => {
                let key = format!("{}/{}", link.target, link.name);
                if let Some(stop) = self.handlers.lock().await.remove(&key) {
                    stop.cancel();
                }
            }
            LinkRole::Target => {
                self.consumers
                    .lock()
                    .expect("not poisoned")
                    .remove(&link.source_id);
            }
        }
        self.problems.set(
            &format!("{}/{}/{}", link.source_id, link.target, link.name),
            None,
        );
        Ok(())
    }

    async fn shutdown(&self) {
        for (_, stop) in self.handlers.lock().await.drain() {
            stop.cancel();
        }
        self.consumers.lock().expect("not poisoned").clear();
    }
}
