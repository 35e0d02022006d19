//! The SDK against a real `nats-server`, with the test in the host's role: health,
//! link put with sealed secrets on the provider's xkey subject, a link change after a
//! config change, link delete, config update, and shutdown (ignored from another host, obeyed from its own).

use std::collections::BTreeMap;
use std::time::Duration;

use lattice_host::nats_server::{NatsServer, NatsServerConfig, find_nats_server};
use lattice_proto::provider::{LINK_DELETE_REASON_HEADER, LinkDeleteReason};
use lattice_proto::subjects::ProviderSubjects;
use lattice_provider_sdk::{
    BoxError, HostData, InterfaceLinkDefinition, LinkConfig, LinkRole, Provider, ProviderContext,
    SecretValue, run_provider_with,
};
use nkeys::XKey;
use tokio::sync::mpsc;

#[derive(Debug)]
enum Seen {
    Init(String),
    Put(Box<LinkConfig>),
    Del(String, LinkRole),
    Config(BTreeMap<String, String>),
    Shutdown,
}

struct Recorder(mpsc::UnboundedSender<Seen>);

impl Provider for Recorder {
    async fn init(&self, ctx: &ProviderContext) -> Result<(), BoxError> {
        self.0.send(Seen::Init(ctx.provider_id().to_string()))?;
        Ok(())
    }
    async fn link_put(&self, link: LinkConfig) -> Result<(), BoxError> {
        self.0.send(Seen::Put(Box::new(link)))?;
        Ok(())
    }
    async fn link_del(
        &self,
        link: &InterfaceLinkDefinition,
        role: LinkRole,
    ) -> Result<(), BoxError> {
        self.0.send(Seen::Del(link.source_id.clone(), role))?;
        Ok(())
    }
    async fn config_update(&self, config: &BTreeMap<String, String>) -> Result<(), BoxError> {
        self.0.send(Seen::Config(config.clone()))?;
        Ok(())
    }
    async fn shutdown(&self) {
        let _ = self.0.send(Seen::Shutdown);
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the provider reacted")
        .expect("open")
}

#[tokio::test]
async fn the_sdk_serves_what_a_host_sends() {
    let server = NatsServer::start(&NatsServerConfig::loopback(
        find_nats_server(None).unwrap(),
        None,
    ))
    .await
    .unwrap();
    let nats = async_nats::connect(server.url()).await.unwrap();
    let host_key = XKey::new();
    let provider_key = XKey::new();
    let host_data = HostData {
        host_id: "NHOST".into(),
        lattice_rpc_prefix: "sdk".into(),
        lattice_rpc_url: server.url().into(),
        provider_key: "kv".into(),
        host_xkey_public_key: host_key.public_key(),
        provider_xkey_private_key: provider_key.seed().unwrap(),
        ..serde_json::from_str(r#"{"env_values":{},"link_definitions":[]}"#).unwrap()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let provider = tokio::spawn(run_provider_with(Recorder(tx), host_data));
    assert!(matches!(next(&mut rx).await, Seen::Init(id) if id == "kv"));
    let subjects = ProviderSubjects::new("sdk");

    // Health answers with the default.
    let reply = nats
        .request(subjects.health("kv"), "".into())
        .await
        .unwrap();
    assert_eq!(&reply.payload[..], br#"{"healthy":true}"#);

    // A link put on the xkey subject, its target-side secret sealed for this provider.
    let secrets = serde_json::to_vec(&BTreeMap::from([(
        "password",
        SecretValue::String("hunter2".into()),
    )]))
    .unwrap();
    let recipient = XKey::from_public_key(&provider_key.public_key()).unwrap();
    let link = InterfaceLinkDefinition {
        source_id: "comp".into(),
        target: "kv".into(),
        name: "default".into(),
        wit_namespace: "wasi".into(),
        wit_package: "keyvalue".into(),
        interfaces: vec!["store".into()],
        source_config: BTreeMap::new(),
        target_config: BTreeMap::from([("URL".into(), "redis://x".into())]),
        source_secrets: None,
        target_secrets: Some(host_key.seal(&secrets, &recipient).unwrap()),
    };
    let body = serde_json::to_vec(&link).unwrap();
    nats.publish(
        subjects.link_put(&provider_key.public_key()),
        body.clone().into(),
    )
    .await
    .unwrap();
    let Seen::Put(put) = next(&mut rx).await else {
        panic!("expected a link put")
    };
    assert_eq!(put.role, LinkRole::Target);
    assert_eq!(put.peer(), "comp");
    assert_eq!(put.config["URL"], "redis://x");
    assert_eq!(
        put.secrets["password"],
        SecretValue::String("hunter2".into())
    );

    // An identical re-put is ignored; the next thing seen is the config update.
    nats.publish(subjects.link_put(&provider_key.public_key()), body.into())
        .await
        .unwrap();
    nats.publish(subjects.config_update("kv"), r#"{"A":"1"}"#.into())
        .await
        .unwrap();
    assert!(matches!(next(&mut rx).await, Seen::Config(c) if c["A"] == "1"));
    // Not a string map: dropped, the provider keeps serving.
    nats.publish(subjects.config_update("kv"), r#"{"A":1}"#.into())
        .await
        .unwrap();

    // A config the link uses changed: the host retracts the link (a delete marked with
    // its reason, for the official SDK) and puts it again. This SDK skips the marked
    // delete and passes the changed put on, whichever of the two it takes first.
    let for_delete = InterfaceLinkDefinition {
        target_config: BTreeMap::new(),
        source_secrets: None,
        target_secrets: None,
        ..link.clone()
    };
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        LINK_DELETE_REASON_HEADER,
        LinkDeleteReason::ConfigChanged.as_str(),
    );
    nats.publish_with_headers(
        subjects.link_del("kv"),
        headers,
        serde_json::to_vec(&for_delete).unwrap().into(),
    )
    .await
    .unwrap();
    let changed = InterfaceLinkDefinition {
        target_config: BTreeMap::from([("URL".into(), "redis://y".into())]),
        ..link.clone()
    };
    nats.publish(
        subjects.link_put(&provider_key.public_key()),
        serde_json::to_vec(&changed).unwrap().into(),
    )
    .await
    .unwrap();
    let Seen::Put(put) = next(&mut rx).await else {
        panic!("expected the changed link, not a delete")
    };
    assert_eq!(put.config["URL"], "redis://y");
    assert_eq!(
        put.secrets["password"],
        SecretValue::String("hunter2".into())
    );

    // A plain delete is passed on (and is the only one: shutdown comes next).
    let del = InterfaceLinkDefinition::for_delete(&lattice_proto::Link {
        source_id: "comp".into(),
        target: "kv".into(),
        name: "default".into(),
        wit_namespace: "wasi".into(),
        wit_package: "keyvalue".into(),
        interfaces: vec!["store".into()],
        source_config: vec![],
        target_config: vec![],
    });
    nats.publish(
        subjects.link_del("kv"),
        serde_json::to_vec(&del).unwrap().into(),
    )
    .await
    .unwrap();
    assert!(matches!(next(&mut rx).await, Seen::Del(source, LinkRole::Target) if source == "comp"));

    // Shutdown from another host is ignored (no reply comes); from its own host it is obeyed.
    let other = nats
        .send_request(
            subjects.shutdown("kv"),
            async_nats::Request::new()
                .payload(r#"{"host_id":"NOTHER"}"#.into())
                .timeout(Some(Duration::from_millis(300))),
        )
        .await;
    assert!(other.is_err(), "ignored");
    let reply = nats
        .request(subjects.shutdown("kv"), r#"{"host_id":"NHOST"}"#.into())
        .await
        .unwrap();
    assert_eq!(&reply.payload[..], b"shutting down");
    assert!(matches!(next(&mut rx).await, Seen::Shutdown));
    tokio::time::timeout(Duration::from_secs(10), provider)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
