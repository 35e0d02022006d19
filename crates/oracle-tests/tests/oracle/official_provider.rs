//! A provider built with the official `wasmcloud-provider-sdk` runs under lattice
//! unmodified: it decodes its HostData, answers health, and on `provider.stop` runs its
//! shutdown hook and exits by itself before any signal is sent. Packaged with the
//! official `provider-archive` crate, it loads from a PAR too.

use std::time::Duration;

use futures::StreamExt as _;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::{EventWatcher, TestNats, WAIT};

const OFFICIAL_PROVIDER: &str = env!("CARGO_BIN_EXE_official-sdk-provider");

async fn start_and_stop(reference: String, provider_id: &str) -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let events = EventWatcher::new(&client, "default").await?;
    let host = nats
        .start_host(|c| {
            c.allow_file_load = true;
            c.providers.shutdown_grace = Duration::from_secs(5);
        })
        .await?;
    let id = host.id().to_string();
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let body = serde_json::json!({"provider_id": provider_id, "provider_ref": reference});
    let reply = client
        .request(
            subjects.provider_start(&id),
            serde_json::to_vec(&body)?.into(),
        )
        .await?;
    let reply: serde_json::Value = serde_json::from_slice(&reply.payload)?;
    assert_eq!(reply["success"], true, "{reply}");

    let started = events
        .next_matching("provider_started", |e| e.data["provider_id"] == provider_id)
        .await?;
    let passed = events
        .next_matching("health_check_passed", |e| {
            e.data["provider_id"] == provider_id
        })
        .await?;
    assert_eq!(passed.source, id);

    let mut hook = client
        .subscribe(format!("oracle.{provider_id}.shutdown_hook"))
        .await?;
    lattice_host::nats::server_round_trip(&client)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let body = serde_json::json!({"provider_id": provider_id, "host_id": id});
    let reply = client
        .request(
            subjects.provider_stop(&id),
            serde_json::to_vec(&body)?.into(),
        )
        .await?;
    let reply: serde_json::Value = serde_json::from_slice(&reply.payload)?;
    assert_eq!(reply["message"], "successfully stopped provider");
    let ran = tokio::time::timeout(WAIT, hook.next())
        .await?
        .expect("the hook reported");
    assert_eq!(&ran.payload[..], b"ran");
    let stopped = events
        .next_matching("provider_stopped", |e| e.data["provider_id"] == provider_id)
        .await?;
    assert_eq!(
        stopped.data["ended_by"], "shutdown_request",
        "it exited before any signal: {}",
        stopped.data
    );
    assert_eq!(stopped.data["exit_status"], "exit status: 0");
    assert!(
        started.data.get("claims").is_none(),
        "a bare executable has no claims"
    );
    host.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

#[tokio::test]
async fn an_official_sdk_provider_runs_is_healthy_and_stops_by_itself() -> anyhow::Result<()> {
    start_and_stop(format!("file://{OFFICIAL_PROVIDER}"), "official").await
}

#[tokio::test]
async fn an_official_provider_archive_loads_with_its_claims_checked() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let binary = std::fs::read(OFFICIAL_PROVIDER)?;
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    let mut archive = provider_archive::ProviderArchive::new(
        "Oracle",
        "lattice tests",
        Some(7),
        Some("1.2.3".into()),
    );
    archive
        .add_library(&target, &binary)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = dir.path().join("oracle.par.gz");
    let issuer = nkeys::KeyPair::new_account();
    let subject = nkeys::KeyPair::new_service();
    archive
        .write(&path, &issuer, &subject, true)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let events = EventWatcher::new(&client, "default").await?;
    let host = nats.start_host(|c| c.allow_file_load = true).await?;
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let body = serde_json::json!({"provider_id": "archived", "provider_ref": format!("file://{}", path.display())});
    client
        .request(
            subjects.provider_start(host.id()),
            serde_json::to_vec(&body)?.into(),
        )
        .await?;
    let started = events.next_named("provider_started").await?;
    // wash waits for exactly this text: the reference without `file://` (1.9.2).
    assert_eq!(started.data["image_ref"], path.display().to_string());
    assert_eq!(started.data["claims"]["name"], "Oracle");
    assert_eq!(started.data["claims"]["version"], "1.2.3");
    assert_eq!(started.data["claims"]["issuer"], issuer.public_key());
    events.next_named("health_check_passed").await?;
    let reply = client
        .request(subjects.host_get(host.id()), "".into())
        .await?;
    let inventory: wasmcloud_control_interface::CtlResponse<
        wasmcloud_control_interface::HostInventory,
    > = serde_json::from_slice(&reply.payload)?;
    let inventory = inventory.into_data().expect("inventory");
    let provider = &inventory.providers()[0];
    assert_eq!((provider.name(), provider.revision()), (Some("Oracle"), 7));
    assert_eq!(
        provider.image_ref(),
        Some(path.display().to_string().as_str())
    );

    // The claims are stored in CLAIMS_{subject} and served on claims.get, which the
    // official client (and wash, and wadm on every heartbeat) asks for.
    let official =
        wasmcloud_control_interface::ClientBuilder::new(async_nats_039::connect(nats.url()).await?)
            .lattice("default")
            .timeout(WAIT)
            .build();
    let claims = official
        .get_claims()
        .await
        .map_err(|e| anyhow::anyhow!("official client: {e}"))?;
    assert!(claims.succeeded(), "{}", claims.message());
    let claims = claims.into_data().expect("claims");
    let ours = claims
        .iter()
        .find(|c| c.get("subject") == Some(&subject.public_key()))
        .expect("the archive's claims are listed");
    for (key, value) in [
        ("name", "Oracle".to_string()),
        ("issuer", issuer.public_key()),
        ("iss", issuer.public_key()),
        ("sub", subject.public_key()),
        ("rev", "7".to_string()),
        ("revision", "7".to_string()),
        ("version", "1.2.3".to_string()),
    ] {
        assert_eq!(ours.get(key), Some(&value), "{key}");
    }
    let kv = async_nats::jetstream::new(client.clone())
        .get_key_value("LATTICEDATA_default")
        .await?;
    let stored: serde_json::Value = serde_json::from_slice(
        &kv.get(format!("CLAIMS_{}", subject.public_key()))
            .await?
            .expect("CLAIMS_{subject} is written"),
    )?;
    assert_eq!(stored["issuer"], issuer.public_key());
    assert_eq!(stored["revision"], "7");
    host.shutdown(Duration::from_secs(5)).await;

    // The official archive with one byte of its binary flipped is refused, naming the mismatch.
    let tampered = dir.path().join("tampered.par");
    tamper(&path, &tampered, &target)?;
    let host = nats.start_host(|c| c.allow_file_load = true).await?;
    let body = serde_json::json!({"provider_id": "tampered", "provider_ref": format!("file://{}", tampered.display())});
    client
        .request(
            subjects.provider_start(host.id()),
            serde_json::to_vec(&body)?.into(),
        )
        .await?;
    let failed = events.next_named("provider_start_failed").await?;
    let error = failed.data["error"].as_str().unwrap_or_default();
    assert!(error.contains("hash mismatch"), "{error}");
    host.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

/// Copies a gzipped PAR to a plain tar whose `{target}.bin` has its last byte flipped.
fn tamper(
    source: &std::path::Path,
    destination: &std::path::Path,
    target: &str,
) -> anyhow::Result<()> {
    use std::io::Read as _;
    let mut input = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(source)?));
    let mut output = tar::Builder::new(std::fs::File::create(destination)?);
    for entry in input.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        if name.to_string_lossy() == format!("{target}.bin") {
            *data.last_mut().expect("a binary has bytes") ^= 0xff;
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        output.append_data(&mut header, name, &data[..])?;
    }
    output.finish()?;
    Ok(())
}

/// Archives lattice makes (`lattice par create` is a thin shell over this builder) load
/// in the official `provider-archive` crate (its hashes checked) with claims wascap
/// validates (signature, times), as wash's own do.
#[tokio::test]
async fn an_archive_made_by_lattice_loads_in_the_official_crates() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("made.par.gz");
    let issuer = nkeys::KeyPair::new_account();
    let subject = nkeys::KeyPair::new_service();
    let target = lattice_artifacts::par::native_target();
    lattice_artifacts::par::ParBuilder::new("Made By Lattice", "lattice tests")
        .version(Some("0.3.0".into()))
        .revision(Some(3))
        .binary(&target, std::fs::read(OFFICIAL_PROVIDER)?)
        .write(&path, &issuer, &subject, true)?;

    let archive = provider_archive::ProviderArchive::try_load(&std::fs::read(&path)?)
        .await
        .map_err(|e| anyhow::anyhow!("the official crate refuses it: {e}"))?;
    assert_eq!(archive.targets(), [target]);
    let claims = archive.claims().expect("claims");
    let metadata = claims.metadata.clone().expect("provider metadata");
    assert_eq!(metadata.name.as_deref(), Some("Made By Lattice"));
    assert_eq!(metadata.vendor, "lattice tests");
    assert_eq!(metadata.rev, Some(3));
    assert_eq!(metadata.ver.as_deref(), Some("0.3.0"));
    assert_eq!(claims.issuer, issuer.public_key());
    assert_eq!(claims.subject, subject.public_key());
    let token = archive.claims_token().expect("claims");
    let validation = wascap::jwt::validate_token::<wascap::jwt::CapabilityProvider>(&token.jwt)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert!(!validation.expired && validation.signature_valid && !validation.cannot_use_yet);
    Ok(())
}
