//! `lattice secrets serve`'s backend against the official secrets client and types
//! (wasmcloud-secrets-client 0.9.0, wasmcloud-secrets-types 0.8.0, as wasmCloud v1.9.2
//! pins them): the official client fetches from it, gets 1.9.2's errors, and what
//! lattice's client sends decodes with the official types.

use std::time::Duration;

use lattice_secrets::admin::BackendAddress;
use lattice_secrets::server::{BackendConfig, serve};
use lattice_test_support::TestNats;

/// `lattice secrets serve`'s backend (`nats-kv` under `wasmcloud.secrets`), once it
/// is subscribed; it stops when the sender is used or dropped.
async fn start_backend(
    client: &async_nats::Client,
) -> anyhow::Result<(
    tokio::task::JoinHandle<Result<(), lattice_secrets::server::BackendError>>,
    tokio::sync::oneshot::Sender<()>,
)> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let backend = tokio::spawn(serve(
        client.clone(),
        BackendConfig {
            topic: "wasmcloud.secrets".into(),
            name: "nats-kv".into(),
            bucket: "WASMCLOUD_SECRETS".into(),
            transit: nkeys::XKey::new(),
            encryption: nkeys::XKey::new(),
        },
        Some(ready_tx),
        async {
            let _ = stop_rx.await;
        },
    ));
    ready_rx.await?;
    Ok((backend, stop_tx))
}

/// Where that backend (or the official one) listens.
/// A signed archive of the official SDK's provider in `dir`, and its service key.
fn official_archive(dir: &std::path::Path) -> anyhow::Result<(std::path::PathBuf, nkeys::KeyPair)> {
    let (account, service) = (nkeys::KeyPair::new_account(), nkeys::KeyPair::new_service());
    let par = dir.join("official.par.gz");
    lattice_artifacts::par::ParBuilder::new("Official", "tests")
        .binary(
            lattice_artifacts::par::native_target(),
            std::fs::read(env!("CARGO_BIN_EXE_official-sdk-provider"))?,
        )
        .write(&par, &account, &service, true)?;
    Ok((par, service))
}

/// A host that loads files and asks the backends on `wasmcloud.secrets`.
fn with_secrets(c: &mut lattice_host::HostConfig) {
    c.allow_file_load = true;
    c.secrets_topic = Some("wasmcloud.secrets".into());
}

fn admin() -> BackendAddress {
    BackendAddress {
        topic: "wasmcloud.secrets".into(),
        name: "nats-kv".into(),
        timeout: Duration::from_secs(5),
    }
}

/// The error of a fetch that must fail (the official `Secret` has no `Debug`).
fn refusal<T>(
    result: Result<T, wasmcloud_secrets_client::SecretClientError>,
    what: &str,
) -> String {
    match result {
        Ok(_) => panic!("{what}: the fetch succeeded"),
        Err(e) => e.to_string(),
    }
}

fn signed(claims: serde_json::Value, key: &nkeys::KeyPair) -> String {
    lattice_artifacts::jwt::sign(&claims, key).unwrap()
}

#[tokio::test]
async fn the_official_client_fetches_from_lattice_secrets_serve() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let (backend, stop_tx) = start_backend(&client).await?;
    let admin = admin();
    admin
        .put(
            &client,
            "api-token",
            lattice_proto::SecretValue::String("t0ken".into()),
        )
        .await?;
    admin
        .put(
            &client,
            "cert",
            lattice_proto::SecretValue::Bytes(vec![0xff, 0x00, 0xfe]),
        )
        .await?;

    // A component entity (wascap Component claims) and a host, both signed.
    let account = nkeys::KeyPair::new_account();
    let module = nkeys::KeyPair::new_module();
    let entity_jwt = signed(
        serde_json::json!({"jti": "j", "iat": 1, "iss": account.public_key(), "sub": module.public_key(),
            "wascap": {"name": "c", "hash": "AB", "prov": false}, "wascap_revision": 3}),
        &account,
    );
    let host_account = nkeys::KeyPair::new_account();
    let host_jwt = signed(
        serde_json::json!({"jti": "h", "iat": 1, "iss": host_account.public_key(), "sub": nkeys::KeyPair::new_server().public_key(),
            "wascap": {"name": "host", "labels": {"self_signed": "true"}}, "wascap_revision": 3}),
        &host_account,
    );
    admin
        .map(
            &client,
            &module.public_key(),
            &["api-token".into(), "cert".into()],
            true,
        )
        .await?;

    let official_nats = async_nats_039::connect(nats.url()).await?;
    let official =
        wasmcloud_secrets_client::Client::new("nats-kv", "wasmcloud.secrets", official_nats)
            .await?;
    let request = |key: &str, entity_jwt: &str| wasmcloud_secrets_types::SecretRequest {
        key: key.into(),
        field: None,
        version: None,
        context: wasmcloud_secrets_types::Context {
            entity_jwt: entity_jwt.into(),
            host_jwt: host_jwt.clone(),
            application: wasmcloud_secrets_types::Application {
                name: Some("app".into()),
                policy: "{}".into(),
            },
        },
    };
    let secret = official
        .get(request("api-token", &entity_jwt), nkeys::XKey::new())
        .await?;
    assert_eq!(secret.string_secret.as_deref(), Some("t0ken"));
    let binary = official
        .get(request("cert", &entity_jwt), nkeys::XKey::new())
        .await?;
    assert_eq!(
        binary.binary_secret,
        Some(vec![0xff, 0x00, 0xfe]),
        "binary secrets come back decrypted"
    );

    // 1.9.2's errors: not mapped, not stored, a forged entity JWT.
    let stranger = signed(
        serde_json::json!({"jti": "j", "iat": 1, "iss": account.public_key(), "sub": nkeys::KeyPair::new_module().public_key(),
            "wascap": {"name": "c", "hash": "AB"}, "wascap_revision": 3}),
        &account,
    );
    let forged = signed(
        serde_json::json!({"jti": "j", "iat": 1, "iss": account.public_key(), "sub": module.public_key(),
            "wascap": {"name": "c", "hash": "AB"}}),
        &nkeys::KeyPair::new_account(),
    );
    for (key, jwt, expected) in [
        ("api-token", stranger.as_str(), "unauthorized"),
        ("missing", entity_jwt.as_str(), "Unauthorized"),
        ("api-token", forged.as_str(), "Invalid Entity JWT"),
    ] {
        let err = refusal(
            official.get(request(key, jwt), nkeys::XKey::new()).await,
            key,
        );
        assert!(
            err.to_lowercase().contains(&expected.to_lowercase()),
            "{key}: {err}"
        );
    }
    // No entity JWT, and a policy of a type the backend does not know.
    let err = refusal(
        official
            .get(request("api-token", ""), nkeys::XKey::new())
            .await,
        "no jwt",
    );
    assert!(err.contains("Invalid Entity JWT"), "{err}");
    let mut foreign = request("api-token", &entity_jwt);
    foreign.context.application.policy = r#"{"type":"other.policy/v9","properties":{}}"#.into();
    let err = refusal(official.get(foreign, nkeys::XKey::new()).await, "policy");
    assert!(
        err.contains("Error processing policies") && err.contains("other.policy/v9"),
        "{err}"
    );
    // A request that is not sealed to the backend's key.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        lattice_secrets::types::HOST_XKEY_HEADER,
        nkeys::XKey::new().public_key().as_str(),
    );
    let reply = client
        .request_with_headers(
            "wasmcloud.secrets.v1alpha1.nats-kv.get",
            headers,
            br#"{"key":"api-token"}"#.to_vec().into(),
        )
        .await?;
    let answer: lattice_secrets::types::SecretResponse = serde_json::from_slice(&reply.payload)?;
    assert_eq!(
        answer.error,
        Some(lattice_secrets::types::GetSecretError::DecryptionError)
    );

    admin
        .map(&client, &module.public_key(), &["missing".into()], true)
        .await?;
    let err = refusal(
        official
            .get(request("missing", &entity_jwt), nkeys::XKey::new())
            .await,
        "not stored",
    );
    assert!(err.contains("Secret not found"), "{err}");
    // Denied again: a removal works (1.9.2's does not).
    admin
        .map(&client, &module.public_key(), &["api-token".into()], false)
        .await?;
    let err = refusal(
        official
            .get(request("api-token", &entity_jwt), nkeys::XKey::new())
            .await,
        "denied",
    );
    assert!(err.contains("unauthorized"), "{err}");

    // What lattice's client sends is what the official types read.
    let ours = lattice_secrets::types::SecretRequest {
        key: "k".into(),
        field: Some("f".into()),
        version: Some("2".into()),
        context: lattice_secrets::types::Context {
            entity_jwt: "e".into(),
            host_jwt: "h".into(),
            application: lattice_secrets::types::Application {
                name: None,
                policy: "{}".into(),
            },
        },
    };
    let theirs: wasmcloud_secrets_types::SecretRequest =
        serde_json::from_value(serde_json::to_value(&ours)?)?;
    assert_eq!(
        (
            theirs.key.as_str(),
            theirs.field.as_deref(),
            theirs.version.as_deref()
        ),
        ("k", Some("f"), Some("2"))
    );
    assert_eq!(theirs.context.application.policy, "{}");
    for error in [
        wasmcloud_secrets_types::GetSecretError::SecretNotFound,
        wasmcloud_secrets_types::GetSecretError::PolicyError("p".into()),
        wasmcloud_secrets_types::GetSecretError::InvalidXKey,
    ] {
        let ours: lattice_secrets::types::GetSecretError =
            serde_json::from_value(serde_json::to_value(&error)?)?;
        assert_eq!(ours.to_string(), error.to_string());
    }

    let _ = stop_tx.send(());
    backend.await??;
    Ok(())
}

/// A provider built with the official SDK gets its own secrets from HostData and opens
/// the link secrets lattice sealed for it.
#[tokio::test]
async fn an_official_sdk_provider_gets_its_secrets_and_opens_its_link_secrets() -> anyhow::Result<()>
{
    use futures::StreamExt as _;
    use lattice_proto::subjects::CtlSubjects;
    use lattice_test_support::ctl_request;
    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let (_backend, _stop) = start_backend(&client).await?;
    let admin = admin();
    admin
        .put(
            &client,
            "api-key",
            lattice_proto::SecretValue::String("official-s3cret".into()),
        )
        .await?;
    let dir = tempfile::tempdir()?;
    let (par, service) = official_archive(dir.path())?;
    admin
        .map(&client, &service.public_key(), &["api-key".into()], true)
        .await?;

    let host = nats.start_host(with_secrets).await?;
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let reference = serde_json::json!({"name": "api_key", "backend": "nats-kv", "key": "api-key",
        "policy": "{}", "type": "secret.wasmcloud.dev/v1alpha1"});
    assert!(
        ctl_request(&client, subjects.config_put("SECRET_api"), reference)
            .await
            .success
    );
    let mut init = client.subscribe("oracle.official.init_secrets").await?;
    let mut seen = client.subscribe("oracle.official.seen").await?;
    client.flush().await?;
    let start = serde_json::json!({"provider_id": "official",
        "provider_ref": format!("file://{}", par.display()), "config": ["SECRET_api"]});
    ctl_request(&client, subjects.provider_start(host.id()), start).await;
    let secrets = tokio::time::timeout(lattice_test_support::WAIT, init.next())
        .await?
        .expect("the provider reports its secrets");
    let secrets: serde_json::Value = serde_json::from_slice(&secrets.payload)?;
    assert_eq!(
        secrets["api_key"],
        serde_json::json!({"kind": "String", "value": "official-s3cret"})
    );

    let link = serde_json::json!({"source_id": "caller", "target": "official", "name": "default",
        "wit_namespace": "wasi", "wit_package": "keyvalue", "interfaces": ["store"],
        "source_config": [], "target_config": ["SECRET_api"]});
    assert!(
        ctl_request(&client, subjects.link_put(), link)
            .await
            .success
    );
    let report = loop {
        let message = tokio::time::timeout(lattice_test_support::WAIT, seen.next())
            .await?
            .expect("reports");
        let report: serde_json::Value = serde_json::from_slice(&message.payload)?;
        if report["kind"] == "link_put" {
            break report;
        }
    };
    assert_eq!(
        report["secrets"]["api_key"]["value"], "official-s3cret",
        "{report}"
    );
    Ok(())
}

/// The other way round: the official backend (`secrets-nats-kv` 0.2.0, the last one
/// published) serves a lattice host. lattice's `put` and `allow` manage it, and a
/// provider on lattice gets its secret from it.
#[tokio::test]
async fn a_lattice_host_fetches_from_the_official_backend() -> anyhow::Result<()> {
    use futures::StreamExt as _;
    use lattice_proto::subjects::CtlSubjects;
    use lattice_test_support::ctl_request;
    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let official_nats = async_nats_039::connect(nats.url()).await?;
    let api = secrets_nats_kv::Api::new(
        nkeys::XKey::new(),
        nkeys::XKey::new(),
        official_nats,
        "wasmcloud.secrets".into(),
        "nats-kv".into(),
        "WASMCLOUD_SECRETS".into(),
        64,
        "wasmcloud_secrets".into(),
        "v1alpha1".into(),
    );
    let _backend = tokio::spawn(async move { api.run().await });
    let admin = admin();
    // The official backend subscribes asynchronously: ask until it answers.
    let deadline = tokio::time::Instant::now() + lattice_test_support::WAIT;
    loop {
        match admin
            .put(
                &client,
                "db",
                lattice_proto::SecretValue::String("from-official".into()),
            )
            .await
        {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() > deadline => panic!("{e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let dir = tempfile::tempdir()?;
    let (par, service) = official_archive(dir.path())?;
    admin
        .map(&client, &service.public_key(), &["db".into()], true)
        .await?;
    let host = nats.start_host(with_secrets).await?;
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let reference = serde_json::json!({"name": "db", "backend": "nats-kv", "key": "db",
        "policy": "{}", "type": "secret.wasmcloud.dev/v1alpha1"});
    assert!(
        ctl_request(&client, subjects.config_put("SECRET_db"), reference)
            .await
            .success
    );
    let mut init = client.subscribe("oracle.theirs.init_secrets").await?;
    client.flush().await?;
    let start = serde_json::json!({"provider_id": "theirs",
        "provider_ref": format!("file://{}", par.display()), "config": ["SECRET_db"]});
    ctl_request(&client, subjects.provider_start(host.id()), start).await;
    let secrets = tokio::time::timeout(lattice_test_support::WAIT, init.next())
        .await?
        .expect("the provider reports its secrets");
    let secrets: serde_json::Value = serde_json::from_slice(&secrets.payload)?;
    assert_eq!(secrets["db"]["value"], "from-official");
    Ok(())
}
