//! The control server stays up under bad input: every served subject answers malformed
//! JSON, wrong types, oversized payloads and unknown operations with an error reply
//! naming the problem, and the host still answers `host.ping` afterwards.
//! Real `nats-server`, real host, raw NATS requests.

use std::time::Duration;

use lattice_proto::CtlResponse;
use lattice_proto::ctl::Host as HostDescription;
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::{EventWatcher, TestNats, WAIT};

async fn request(
    nats: &async_nats::Client,
    subject: String,
    body: Vec<u8>,
) -> CtlResponse<serde_json::Value> {
    let reply = tokio::time::timeout(WAIT, nats.request(subject.clone(), body.into()))
        .await
        .unwrap_or_else(|_| panic!("no reply on {subject}"))
        .unwrap_or_else(|e| panic!("request on {subject}: {e}"));
    serde_json::from_slice(&reply.payload)
        .unwrap_or_else(|e| panic!("reply on {subject} is not a CtlResponse: {e}"))
}

async fn assert_pings(nats: &async_nats::Client, subjects: &CtlSubjects, host_id: &str) {
    let reply = request(nats, subjects.host_ping(), Vec::new()).await;
    assert!(reply.success);
    let host: HostDescription = serde_json::from_value(reply.response.unwrap()).unwrap();
    assert_eq!(host.id, host_id);
}

#[tokio::test]
async fn bad_input_on_every_subject_gets_an_error_and_the_host_keeps_serving() -> anyhow::Result<()>
{
    let nats = TestNats::start().await?;
    let host = nats.start_host(|c| c.max_ctl_payload = 64 * 1024).await?;
    let client = nats.client().await?;
    let s = CtlSubjects::new("wasmbus.ctl", "default");
    let id = host.id().to_string();

    let oversized = vec![b' '; 100 * 1024];
    let json_subjects = [s.host_stop(&id), s.label_put(&id), s.label_del(&id)];
    for subject in &json_subjects {
        for (body, expect) in [
            (b"{not json".to_vec(), "invalid"),
            (b"[1,2,3]".to_vec(), "invalid"),
            (
                br#"{"key": 42, "value": [], "host_id": 7, "timeout": "soon"}"#.to_vec(),
                "invalid type",
            ),
            (b"\xff\xfe\x00".to_vec(), "invalid"),
            (oversized.clone(), "exceeds this host's 65536-byte limit"),
        ] {
            let reply = request(&client, subject.clone(), body).await;
            assert!(!reply.success, "{subject} accepted bad input");
            assert!(
                reply.message.contains(expect),
                "{subject}: {:?} lacks {expect:?}",
                reply.message
            );
            assert!(
                reply.message.len() < 400,
                "a short message: {}",
                reply.message
            );
        }
        assert_pings(&client, &s, &id).await;
    }

    // Empty bodies where a document is required.
    for subject in [s.label_put(&id), s.label_del(&id)] {
        let reply = request(&client, subject.clone(), Vec::new()).await;
        assert!(!reply.success);
        assert!(
            reply.message.contains("payload is empty"),
            "{}",
            reply.message
        );
    }

    // Oversized requests on subjects that take no body are refused too.
    for subject in [s.host_ping(), s.host_get(&id)] {
        let reply = request(&client, subject, oversized.clone()).await;
        assert!(!reply.success);
        assert!(reply.message.contains("exceeds"), "{}", reply.message);
    }

    // Unknown operations under every subscription.
    let base = s.base();
    for subject in [
        format!("{base}.host.frobnicate.{id}"),
        format!("{base}.label.frobnicate.{id}"),
    ] {
        let reply = request(&client, subject, b"{}".to_vec()).await;
        assert!(!reply.success);
        assert_eq!(reply.message, "unsupported subject");
    }
    let reply = request(
        &client,
        format!("{base}.component.scale.{id}"),
        b"{}".to_vec(),
    )
    .await;
    assert!(!reply.success);
    assert!(
        reply.message.contains("invalid component.scale request")
            && reply.message.contains("component_id"),
        "{}",
        reply.message
    );
    let reply = request(
        &client,
        format!("{base}.component.frobnicate.{id}"),
        b"{}".to_vec(),
    )
    .await;
    assert!(
        !reply.success
            && reply
                .message
                .contains("component.frobnicate is not a control operation"),
        "{}",
        reply.message
    );

    // A stop addressed to another host ID is refused and does not stop this one.
    let reply = request(
        &client,
        s.host_stop(&id),
        br#"{"host_id":"NOTME"}"#.to_vec(),
    )
    .await;
    assert!(!reply.success);
    assert!(
        reply.message.contains("NOTME") && reply.message.contains(&id),
        "{}",
        reply.message
    );

    assert_pings(&client, &s, &id).await;
    host.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

#[tokio::test]
async fn labels_follow_the_spec() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let events = EventWatcher::new(&client, "default").await?;
    let host = nats
        .start_host(|c| {
            c.labels.insert("zone".into(), "eu".into());
        })
        .await?;
    let s = CtlSubjects::new("wasmbus.ctl", "default");
    let id = host.id().to_string();

    for key in ["hostcore.os", "HostCore.Arch"] {
        let body = serde_json::to_vec(&serde_json::json!({"key": key, "value": "x"}))?;
        let reply = request(&client, s.label_put(&id), body).await;
        assert_eq!(reply.message, "hostcore.* labels cannot be set dynamically");
    }
    let reply = request(
        &client,
        s.label_put(&id),
        br#"{"key":"rack","value":"7"}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (reply.success, reply.message.as_str()),
        (true, "successfully put label")
    );
    let changed = events.next_named("labels_changed").await?;
    assert_eq!(changed.data["labels"]["rack"], "7");
    assert_eq!(changed.data["labels"]["zone"], "eu");
    assert_eq!(changed.data["host_id"], id.as_str());

    let reply = request(&client, s.label_del(&id), br#"{"key":"rack"}"#.to_vec()).await;
    assert_eq!(reply.message, "successfully deleted label");
    let changed = events.next_named("labels_changed").await?;
    assert!(changed.data["labels"].get("rack").is_none());

    let reply = request(&client, s.label_del(&id), br#"{"key":"rack"}"#.to_vec()).await;
    assert_eq!(reply.message, "successfully deleted label (no such label)");
    assert_eq!(
        host.labels().await?.get("zone").map(String::as_str),
        Some("eu")
    );
    host.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

#[tokio::test]
async fn many_concurrent_requests_are_all_answered() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let host = nats.start_host(|c| c.max_concurrent_ctl = 4).await?;
    let client = nats.client().await?;
    let s = CtlSubjects::new("wasmbus.ctl", "default");
    let requests = (0..300).map(|i| {
        let subject = if i % 2 == 0 {
            s.host_get(host.id())
        } else {
            s.label_put(host.id())
        };
        let body = if i % 2 == 0 {
            Vec::new()
        } else {
            format!(r#"{{"key":"k{i}","value":"v"}}"#).into_bytes()
        };
        request(&client, subject, body)
    });
    let replies = futures::future::join_all(requests).await;
    assert!(replies.iter().all(|r| r.success), "every request succeeded");
    assert_eq!(host.labels().await?.len(), 3 + 150);
    host.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

#[tokio::test]
async fn ctl_stop_ends_in_one_graceful_shutdown() -> anyhow::Result<()> {
    let nats = TestNats::start().await?;
    let client = nats.client().await?;
    let events = EventWatcher::new(&client, "default").await?;
    let host = nats.start_host(|_| {}).await?;
    let s = CtlSubjects::new("wasmbus.ctl", "default");
    let body = serde_json::to_vec(&serde_json::json!({"host_id": host.id(), "timeout": 1234}))?;
    let reply = request(&client, s.host_stop(host.id()), body).await;
    assert_eq!(
        (reply.success, reply.message.as_str()),
        (true, "successfully handled stop host")
    );
    let deadline = tokio::time::timeout(WAIT, host.stop_requested()).await?;
    assert_eq!(deadline, Duration::from_millis(1234));
    let id = host.id().to_string();
    host.shutdown(deadline).await;
    let stopped = events.next_named("host_stopped").await?;
    assert_eq!(stopped.source, id);
    assert_eq!(stopped.data["labels"]["hostcore.os"], std::env::consts::OS);
    // Gone from the lattice: nobody answers its subjects any more.
    let err = client
        .request(s.host_get(&id), Vec::new().into())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), async_nats::RequestErrorKind::NoResponders);
    Ok(())
}
