//! `lattice start provider`, `lattice stop provider`, `lattice logs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use lattice_client::{ClientError, CtlClient};
use lattice_proto::ctl::{LogLine, ProviderAuctionRequest, StartProviderCommand};
use lattice_proto::events::Event;
use lattice_proto::subjects::is_subject_token;

use crate::args::{GlobalArgs, OutputFormat, StartCommand};
use crate::output;

pub(crate) async fn start(
    client: &CtlClient,
    global: &GlobalArgs,
    command: StartCommand,
) -> anyhow::Result<()> {
    let StartCommand::Provider {
        provider_ref,
        provider_id,
        config,
        annotations,
        host,
        constraints,
        no_wait,
        wait_timeout,
    } = command
    else {
        unreachable!("components are started by component_commands");
    };
    let provider_ref = crate::component_commands::reference(&provider_ref)?;
    let text = global.output == OutputFormat::Text;
    let host_id = match host {
        Some(host) => host,
        None => {
            let constraints: BTreeMap<_, _> = constraints.into_iter().collect();
            let request = ProviderAuctionRequest {
                provider_ref: provider_ref.clone(),
                provider_id: provider_id.clone(),
                constraints: constraints.clone(),
            };
            match client.auction(&request).await? {
                Some(bid) => bid.host_id,
                None => bail!(
                    "no host bid for provider `{provider_id}`: none answered within {:?} that has the labels {constraints:?} and does not run that ID already",
                    global.timeout
                ),
            }
        }
    };
    // Follow events before starting, so none is missed.
    let mut events = client.events().await?;
    let sent = Instant::now();
    let message = client
        .start_provider(&StartProviderCommand {
            provider_id: provider_id.clone(),
            provider_ref: provider_ref.clone(),
            host_id: host_id.clone(),
            config,
            annotations: (!annotations.is_empty()).then(|| annotations.into_iter().collect()),
        })
        .await?;
    if text {
        eprintln!("{message} `{provider_id}` on host {host_id}");
    }
    if no_wait {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + wait_timeout;
    loop {
        let event = tokio::time::timeout_at(deadline, events.next_event())
            .await
            .with_context(|| format!("provider `{provider_id}` is not healthy after {wait_timeout:?}; see `lattice logs {provider_id}`"))??;
        if event.source != host_id {
            continue;
        }
        if let Ok(Event::ArtifactPullProgress(d)) = event.decode() {
            if text && d.reference == provider_ref {
                eprintln!("{}", output::pull_progress(&d));
            }
            continue;
        }
        if event.data["provider_id"] != provider_id.as_str() {
            continue;
        }
        match event.decode() {
            Ok(Event::ProviderStarted(_)) if text => {
                eprintln!("started ({} ms)", sent.elapsed().as_millis())
            }
            Ok(Event::ProviderStartFailed(d)) => {
                bail!("provider `{provider_id}` failed to start: {}", d.error)
            }
            Ok(Event::ProviderRestarted(d)) if text => {
                eprintln!(
                    "process ended ({}); restart {} in {} ms",
                    d.exit_status, d.restarts, d.delay_ms
                )
            }
            Ok(Event::HealthCheckPassed(_)) => {
                let ms = sent.elapsed().as_millis();
                match global.output {
                    OutputFormat::Text => println!(
                        "provider `{provider_id}` is running and healthy on {host_id} ({ms} ms)"
                    ),
                    OutputFormat::Json => output::json(&serde_json::json!({
                        "provider_id": provider_id, "host_id": host_id, "healthy": true, "milliseconds": ms as u64,
                    })),
                }
                return Ok(());
            }
            Ok(Event::ProviderStopped(d)) if d.reason == "failed" => {
                // Events carry no output; the host may still have it.
                let output = match client.provider_logs(&host_id, &provider_id, Some(20)).await {
                    Ok(logs) if !logs.lines.is_empty() => {
                        let lines: Vec<_> = logs.lines.into_iter().map(|l| l.line).collect();
                        format!("; its last output:\n{}", lines.join("\n"))
                    }
                    _ => String::new(),
                };
                bail!(
                    "provider `{provider_id}` failed ({}) after {} restarts{output}",
                    d.exit_status.unwrap_or_default(),
                    d.restarts.unwrap_or_default(),
                )
            }
            _ => {}
        }
    }
}

pub(crate) async fn stop(
    client: &CtlClient,
    provider_id: &str,
    host: Option<String>,
) -> anyhow::Result<String> {
    let host_id = match host {
        Some(host) => host,
        None => host_running(client, provider_id).await?,
    };
    // The host replies when the stop is under way and reports its end with
    // `provider_stopped`: follow events first, so that is not missed.
    let mut events = client.events().await?;
    client.stop_provider(&host_id, provider_id).await?;
    let wait = client.timeout().max(Duration::from_secs(30));
    let stopped = |event: &lattice_proto::events::CloudEvent| {
        event.source == host_id
            && event.data["provider_id"] == provider_id
            && matches!(event.decode(), Ok(Event::ProviderStopped(_)))
    };
    let event = match events.wait_for("provider_stopped", stopped, wait).await {
        Err(ClientError::NoEvent { .. }) => {
            bail!("provider `{provider_id}` on {host_id} has not stopped after {wait:?}")
        }
        other => other?,
    };
    let how = match event.decode() {
        Ok(Event::ProviderStopped(d)) => match (d.exit_status, d.ended_by) {
            (Some(exit), Some(by)) => format!(" ({exit}, ended by {by})"),
            _ => String::new(),
        },
        _ => String::new(),
    };
    Ok(format!(
        "stopped provider `{provider_id}` on {host_id}{how}"
    ))
}

/// The host whose inventory lists `provider_id`.
async fn host_running(client: &CtlClient, provider_id: &str) -> anyhow::Result<String> {
    client
        .find_provider_host(provider_id)
        .await?
        .with_context(|| {
            format!(
                "no host of the lattice runs a provider `{provider_id}` (see `lattice get inventory`)"
            )
        })
}

pub(crate) async fn logs(
    client: &CtlClient,
    global: &GlobalArgs,
    provider_id: &str,
    host: Option<String>,
    tail: Option<usize>,
    follow: bool,
) -> anyhow::Result<()> {
    let host_id = match host {
        Some(host) => host,
        None => host_running(client, provider_id).await?,
    };
    let print = |line: &LogLine| match global.output {
        OutputFormat::Json => println!("{}", serde_json::to_string(line).expect("lines encode")),
        OutputFormat::Text => println!("{} {:<6} {}", line.time, line.stream, line.line),
    };
    let logs = client.provider_logs(&host_id, provider_id, tail).await?;
    let mut last_seq = 0;
    for line in &logs.lines {
        print(line);
        last_seq = line.seq;
    }
    if !follow {
        return Ok(());
    }
    // Follow where the host says it publishes, then ask again (as much as the user asked
    // for) for what it printed between the first reply and the subscription.
    let subject = logs.follow_subject;
    if subject.is_empty() || !subject.split('.').all(is_subject_token) {
        bail!(
            "host {host_id} offers no live output for `{provider_id}` (follow subject {subject:?})"
        );
    }
    let mut live = client.nats().subscribe(subject).await?;
    lattice_nats::server_round_trip(client.nats())
        .await
        .map_err(|e| anyhow::anyhow!("cannot sync with NATS: {e}"))?;
    for line in client
        .provider_logs(&host_id, provider_id, tail)
        .await?
        .lines
    {
        if line.seq > last_seq {
            print(&line);
            last_seq = line.seq;
        }
    }
    loop {
        tokio::select! {
            message = live.next() => {
                let Some(message) = message else { return Ok(()) };
                if let Ok(line) = serde_json::from_slice::<LogLine>(&message.payload)
                    && line.seq > last_seq {
                        last_seq = line.seq;
                        print(&line);
                    }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn paths_become_file_references_and_registry_references_pass() {
        use crate::component_commands::reference;
        assert_eq!(reference("file:///a/b").unwrap(), "file:///a/b");
        assert_eq!(reference("/opt/p.par.gz").unwrap(), "file:///opt/p.par.gz");
        assert!(reference("./rel/p").unwrap().starts_with("file:///"));
        for registry in [
            "ghcr.io/wasmcloud/http-server:0.23.0",
            "localhost:5000/p@sha256:abc",
            "oci://ghcr.io/x:1",
            "wasmcloud+builtin://http-server",
        ] {
            assert_eq!(reference(registry).unwrap(), registry);
        }
    }
}
