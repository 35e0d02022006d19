//! A host on a `nats-server` that requires TLS with a certificate from a private CA:
//! refused (naming the connection) without `tls_ca_paths`, joined with it.

use std::time::Duration;

use lattice_host::{Host, HostConfig};
use lattice_proto::subjects::CtlSubjects;

#[tokio::test(flavor = "multi_thread")]
async fn a_host_joins_a_tls_nats_server_when_it_trusts_the_servers_ca() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let binary = lattice_host::nats_server::find_nats_server(None).unwrap();
    let _server = tokio::process::Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir.path().join("js"))
        .arg("--tls")
        .arg("--tlscert")
        .arg(&cert_file)
        .arg("--tlskey")
        .arg(&key_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nats-server did not listen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = format!("tls://127.0.0.1:{port}");

    let untrusting = HostConfig::new(url.clone());
    let refused = Host::start(untrusting)
        .await
        .err()
        .expect("the CA is not trusted");
    let text = refused.to_string();
    assert!(text.contains("ctl") && text.contains(&url), "{text}");

    let mut missing = HostConfig::new(url.clone());
    missing.tls_ca_paths = vec![dir.path().join("nope.pem")];
    let text = Host::start(missing)
        .await
        .err()
        .expect("no such file")
        .to_string();
    assert!(text.contains("nope.pem"), "{text}");

    let mut trusting = HostConfig::new(url.clone());
    trusting.tls_ca_paths = vec![cert_file.clone()];
    let host = Host::start(trusting).await.unwrap();
    let client = async_nats::ConnectOptions::new()
        .add_root_certificates(cert_file)
        .connect(url.as_str())
        .await
        .unwrap();
    let subject = CtlSubjects::new("wasmbus.ctl", "default").host_ping();
    let reply = tokio::time::timeout(Duration::from_secs(10), client.request(subject, "".into()))
        .await
        .unwrap()
        .unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply["response"]["id"], host.id(), "{reply}");
    host.shutdown(Duration::from_secs(5)).await;
}
