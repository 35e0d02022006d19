//! The policy service (spec §19) with a fake service on the real `nats-server`: one
//! provider permitted, one denied with its message in `provider_start_failed`; a
//! component denied in `component_scale_failed`; a change message flips a cached
//! decision; a silent service makes starts fail closed after the timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use lattice_proto::policy::{PolicyRequest, PolicyResponse};
use lattice_proto::subjects::CtlSubjects;
use lattice_test_support::components::{CALC, MATH};
use lattice_test_support::{EventWatcher, TestNats, ctl_request, workspace_bin};
use serde_json::json;

/// Answers every request: permitted unless the provider or component ID starts with
/// `denied`. Records the requests.
async fn fake_policy(client: async_nats::Client, topic: &str) -> Arc<Mutex<Vec<PolicyRequest>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut requests = client.subscribe(topic.to_string()).await.unwrap();
    client.flush().await.unwrap();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            let request: PolicyRequest = serde_json::from_slice(&message.payload).unwrap();
            let body = serde_json::to_value(&request.request).unwrap();
            let id = body["providerId"]
                .as_str()
                .or(body["componentId"].as_str())
                .unwrap_or_default()
                .to_string();
            let guarded_call = body["function"] == "add"
                && body["target"]["componentId"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("guarded"));
            let denied = id.starts_with("denied") || guarded_call;
            record.lock().unwrap().push(request.clone());
            let response = PolicyResponse {
                request_id: request.request_id,
                permitted: !denied,
                message: denied.then(|| format!("{id} is not on the list")),
            };
            let _ = client
                .publish(
                    message.reply.unwrap(),
                    serde_json::to_vec(&response).unwrap().into(),
                )
                .await;
        }
    });
    seen
}

#[tokio::test]
async fn starts_are_asked_about_denials_named_changes_applied_and_silence_denies() {
    let nats = TestNats::start().await.unwrap();
    let client = nats.client().await.unwrap();
    let events = EventWatcher::new(&client, "default").await.unwrap();
    let subjects = CtlSubjects::new("wasmbus.ctl", "default");
    let seen = fake_policy(nats.client().await.unwrap(), "test.policy").await;
    let host = nats
        .start_host(|c| {
            c.allow_file_load = true;
            c.labels.insert("zone".into(), "eu".into());
            c.policy.topic = Some("test.policy".into());
            c.policy.changes_topic = Some("test.policy.changes".into());
        })
        .await
        .unwrap();
    // A label set at run time reaches the policy service (1.9.2 sends the start labels).
    ctl_request(
        &client,
        subjects.label_put(host.id()),
        json!({"key": "tier", "value": "gold"}),
    )
    .await;
    let exe = workspace_bin("lattice-test-provider", "lattice-test-provider").unwrap();
    let start =
        |id: &str| json!({"provider_id": id, "provider_ref": format!("file://{}", exe.display())});

    ctl_request(
        &client,
        subjects.provider_start(host.id()),
        start("allowed"),
    )
    .await;
    events
        .next_matching("provider_started", |e| e.data["provider_id"] == "allowed")
        .await
        .unwrap();
    ctl_request(
        &client,
        subjects.provider_start(host.id()),
        start("denied-one"),
    )
    .await;
    let failed = events
        .next_matching("provider_start_failed", |e| {
            e.data["provider_id"] == "denied-one"
        })
        .await
        .unwrap();
    assert_eq!(
        failed.data["error"],
        "denied by policy: denied-one is not on the list"
    );
    {
        let requests = seen.lock().unwrap();
        let first = serde_json::to_value(&requests[0]).unwrap();
        assert_eq!(first["kind"], "startProvider");
        assert_eq!(first["version"], "v1");
        assert_eq!(
            first["request"]["imageRef"],
            exe.display().to_string(),
            "no scheme"
        );
        assert!(
            first["request"].as_object().unwrap().contains_key("claims"),
            "claims always written"
        );
        assert_eq!(first["host"]["publicKey"], host.id());
        assert_eq!(first["host"]["labels"]["zone"], "eu");
        assert_eq!(first["host"]["labels"]["tier"], "gold");
    }

    // A component, denied.
    let dir = tempfile::tempdir().unwrap();
    let math = dir.path().join("math.wasm");
    std::fs::write(&math, wat::parse_str(MATH).unwrap()).unwrap();
    let scale = json!({"component_id": "denied-math", "component_ref": format!("file://{}", math.display()), "count": 1, "host_id": host.id()});
    ctl_request(&client, subjects.component_scale(host.id()), scale).await;
    let failed = events
        .next_matching("component_scale_failed", |e| {
            e.data["component_id"] == "denied-math"
        })
        .await
        .unwrap();
    assert!(
        failed.data["error"]
            .as_str()
            .unwrap()
            .contains("denied-math is not on the list")
    );

    // Invocations over wRPC are asked about too: `add` of `guarded-math` is refused.
    for id in ["guarded-math", "open-math"] {
        let scale = json!({"component_id": id, "component_ref": format!("file://{}", math.display()), "count": 1, "host_id": host.id()});
        ctl_request(&client, subjects.component_scale(host.id()), scale).await;
        events
            .next_matching_within(
                "component_scaled",
                lattice_test_support::COMPILE_WAIT,
                |e| e.data["component_id"] == id,
            )
            .await
            .unwrap();
    }
    let wrpc = lattice_wrpc::WrpcClient::new(client.clone()).await.unwrap();
    let add = |id: &'static str| {
        crate::components::call_u32s(&wrpc, id, "local:test/math@0.1.0", "add", &[2, 3])
    };
    assert_eq!(add("open-math").await, Ok(5));
    assert!(
        add("guarded-math").await.is_err(),
        "the policy refused the call"
    );
    // So are calls made in-process, from a component on the same host through a link.
    let calc = dir.path().join("calc.wasm");
    std::fs::write(&calc, wat::parse_str(CALC).unwrap()).unwrap();
    let scale = json!({"component_id": "guarded-caller", "component_ref": format!("file://{}", calc.display()), "count": 1, "host_id": host.id()});
    ctl_request(&client, subjects.component_scale(host.id()), scale).await;
    events
        .next_matching_within(
            "component_scaled",
            lattice_test_support::COMPILE_WAIT,
            |e| e.data["component_id"] == "guarded-caller",
        )
        .await
        .unwrap();
    let link = json!({"source_id": "guarded-caller", "target": "guarded-math",
        "wit_namespace": "local", "wit_package": "test", "interfaces": ["math"]});
    crate::components::put_link(&client, link).await;
    // The link reaches the running component without a rescale; until it has, the call
    // fails with "link not found".
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let doubled = crate::components::call_u32s(
            &wrpc,
            "guarded-caller",
            "local:test/calc@0.1.0",
            "double",
            &[21],
        )
        .await;
        let error = doubled.expect_err("the policy refused math's add, called in-process");
        if !error.contains("link not found") || tokio::time::Instant::now() > deadline {
            break error;
        }
    };
    assert!(
        refused.contains("(on this host)") && refused.contains("denied by policy"),
        "{refused}"
    );
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|r| serde_json::to_value(r).unwrap()["kind"] == "performInvocation"),
        "invocations were asked about"
    );

    // The cached decision for `allowed` is flipped by a change message: its next start
    // is denied without asking again.
    ctl_request(
        &client,
        subjects.provider_stop(host.id()),
        json!({"provider_id": "allowed"}),
    )
    .await;
    events
        .next_matching("provider_stopped", |e| e.data["provider_id"] == "allowed")
        .await
        .unwrap();
    let request_id = seen.lock().unwrap()[0].request_id.clone();
    let asked = seen.lock().unwrap().len();
    let change = PolicyResponse {
        request_id,
        permitted: false,
        message: Some("revoked".into()),
    };
    client
        .publish(
            "test.policy.changes",
            serde_json::to_vec(&change).unwrap().into(),
        )
        .await
        .unwrap();
    client.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        ctl_request(
            &client,
            subjects.provider_start(host.id()),
            start("allowed"),
        )
        .await;
        let event = events
            .next_matching("provider_start_failed", |e| {
                e.data["provider_id"] == "allowed"
            })
            .await;
        // The change may land after the first start: try again until it is applied.
        if let Ok(event) = event {
            assert_eq!(event.data["error"], "denied by policy: revoked");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the change was never applied"
        );
    }
    assert_eq!(seen.lock().unwrap().len(), asked, "decided from the cache");

    // A service that never answers: denied after the timeout, saying so.
    let silent_host = nats
        .start_host(|c| {
            c.allow_file_load = true;
            c.policy.topic = Some("silent.policy".into());
            c.policy.timeout = Some(Duration::from_millis(300));
        })
        .await
        .unwrap();
    let _listener = client.subscribe("silent.policy").await.unwrap();
    client.flush().await.unwrap();
    ctl_request(
        &client,
        subjects.provider_start(silent_host.id()),
        start("unasked"),
    )
    .await;
    let failed = events
        .next_matching("provider_start_failed", |e| {
            e.data["provider_id"] == "unasked"
        })
        .await
        .unwrap();
    let error = failed.data["error"].as_str().unwrap();
    assert!(
        error.contains("did not answer") && error.contains("fail closed"),
        "{error}"
    );
}
