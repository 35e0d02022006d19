//! The client against a real host on a real `nats-server`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use lattice_client::{ClientError, ClientOptions, CtlClient, EventStream};
use lattice_host::nats_server::{NatsServer, NatsServerConfig, find_nats_server};
use lattice_host::{Host, HostConfig};
use lattice_proto::ctl::ProviderAuctionRequest;

const WAIT: Duration = Duration::from_secs(10);

struct Lattice {
    server: NatsServer,
    host: Host,
    client: CtlClient,
    _store: tempfile::TempDir,
}

impl Lattice {
    async fn start() -> Lattice {
        let store = tempfile::tempdir().unwrap();
        let binary = find_nats_server(None).unwrap();
        let config = NatsServerConfig::loopback(binary, Some(store.path().to_path_buf()));
        let server = NatsServer::start(&config).await.unwrap();
        let mut host_config = HostConfig::new(server.url());
        host_config.allow_file_load = true;
        let host = Host::start(host_config).await.unwrap();
        let options = ClientOptions {
            timeout: Duration::from_secs(1),
            ..ClientOptions::new(server.url())
        };
        let client = CtlClient::connect(options).await.unwrap();
        Lattice {
            server,
            host,
            client,
            _store: store,
        }
    }

    async fn stop(self) {
        self.host.shutdown(WAIT).await;
        self.server.stop(WAIT).await;
    }
}

#[tokio::test]
async fn hosts_inventory_labels_and_auctions() {
    let lattice = Lattice::start().await;
    let client = &lattice.client;
    let id = lattice.host.id().to_string();

    let hosts = client.hosts().await.unwrap();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(hosts[0].id, id);
    assert_eq!(client.inventory(&id).await.unwrap().host_id, id);

    client.put_label(&id, "zone", "a").await.unwrap();
    let labels = client.inventory(&id).await.unwrap().labels;
    assert_eq!(labels.get("zone").map(String::as_str), Some("a"));
    client.del_label(&id, "zone").await.unwrap();
    let refused = client.put_label(&id, "hostcore.os", "x").await.unwrap_err();
    assert!(matches!(refused, ClientError::Refused { .. }), "{refused}");

    let request = ProviderAuctionRequest {
        provider_ref: "file:///nowhere".into(),
        provider_id: "p1".into(),
        constraints: BTreeMap::from([("zone".into(), "b".into())]),
    };
    assert!(client.auction(&request).await.unwrap().is_none());
    client.put_label(&id, "zone", "b").await.unwrap();
    let bid = client
        .auction(&request)
        .await
        .unwrap()
        .expect("the host bids");
    assert_eq!(bid.host_id, id);
    assert_eq!(client.find_provider_host("p1").await.unwrap(), None);

    let err = client.inventory("NOSUCHHOST").await.unwrap_err();
    assert!(matches!(err, ClientError::NoResponders { .. }), "{err}");
    assert!(err.to_string().contains("no host answers"), "{err}");
    lattice.stop().await;
}

#[tokio::test]
async fn config_links_and_events() {
    let lattice = Lattice::start().await;
    let client = &lattice.client;
    let mut events = client.events().await.unwrap();

    let config = BTreeMap::from([("lang".to_string(), "en".to_string())]);
    client.put_config("greeting", &config).await.unwrap();
    let set = events
        .wait_for("config_set", |e| e.data["config_name"] == "greeting", WAIT)
        .await
        .unwrap();
    assert_eq!(set.source, lattice.host.id());
    assert_eq!(client.config("greeting").await.unwrap(), Some(config));
    client.del_config("greeting").await.unwrap();
    assert_eq!(client.config("greeting").await.unwrap(), None);
    assert!(client.links().await.unwrap().is_empty());

    let none = events
        .wait_for("config_set", |_| true, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(none, ClientError::NoEvent { .. }), "{none}");
    lattice.stop().await;
}

#[tokio::test]
async fn raw_requests_report_timeouts_and_undecodable_replies() {
    let lattice = Lattice::start().await;
    let nats = lattice.client.nats().clone();

    let mut garbage = nats.subscribe("test.garbage").await.unwrap();
    let mut silent = nats.subscribe("test.silent").await.unwrap();
    lattice_nats::server_round_trip(&nats).await.unwrap();
    let responder = nats.clone();
    tokio::spawn(async move {
        while let Some(message) = garbage.next().await {
            let reply = message.reply.unwrap();
            responder.publish(reply, "not json".into()).await.unwrap();
        }
    });
    tokio::spawn(async move { while silent.next().await.is_some() {} });

    let timeout = Duration::from_millis(200);
    let err = lattice_client::request::<serde_json::Value>(
        &nats,
        "test.garbage".into(),
        Vec::new(),
        timeout,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::Undecodable { .. }), "{err}");
    let err = lattice_client::request::<serde_json::Value>(
        &nats,
        "test.silent".into(),
        Vec::new(),
        timeout,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::TimedOut { .. }), "{err}");

    // A stream made before the host stops sees it stop.
    let mut events = EventStream::subscribe(&nats, "default").await.unwrap();
    let Lattice { server, host, .. } = lattice;
    host.shutdown(WAIT).await;
    events
        .wait_for("host_stopped", |_| true, WAIT)
        .await
        .unwrap();
    server.stop(WAIT).await;
}
