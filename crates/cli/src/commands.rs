//! The client commands: each connects, does one thing over the control interface (or
//! follows events) and prints the result.

use lattice_client::{ClientError, ClientOptions, CtlClient};
use lattice_nats::{NatsConnectConfig, NatsError};
use lattice_proto::events::CloudEvent;
use lattice_proto::subjects::EventSubjects;

use std::time::Duration;

use crate::args::{
    Command, GetCommand, GlobalArgs, LabelCommand, OutputFormat, RegistryCommand, ScaleCommand,
    StartCommand, StopCommand,
};
use crate::{component_commands, output, provider_commands, state_commands};

/// A scale of the component `component_id` as it runs now (its reference and config),
/// to `count`.
async fn running_component(
    client: &CtlClient,
    component_id: &str,
    host: Option<String>,
    count: u32,
    wait_timeout: Duration,
) -> anyhow::Result<component_commands::Scale> {
    let host = match host {
        Some(host) => host,
        None => client
            .find_component_host(component_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no host runs component `{component_id}`"))?,
    };
    let inventory = client.inventory(&host).await?;
    let running = inventory
        .components
        .iter()
        .find(|c| c.id == component_id)
        .ok_or_else(|| anyhow::anyhow!("component `{component_id}` does not run on {host}"))?;
    // A scale request names its config; send the running one again so it is kept.
    let config = client.describe_component(&host, component_id).await?.config;
    Ok(component_commands::Scale {
        component_ref: running.image_ref.clone(),
        component_id: component_id.to_string(),
        count,
        config,
        annotations: running.annotations.clone().unwrap_or_default(),
        host: Some(host),
        constraints: Default::default(),
        wait_timeout,
    })
}

/// The default NATS URL of client commands.
const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// A control client for the global options.
pub(crate) async fn connect(global: &GlobalArgs) -> anyhow::Result<CtlClient> {
    let url = global.nats_url.as_deref().unwrap_or(DEFAULT_URL);
    let options = ClientOptions {
        nats: NatsConnectConfig::anonymous(url),
        lattice: global.lattice.clone(),
        ctl_prefix: global.ctl_topic_prefix.clone(),
        timeout: global.timeout,
    };
    CtlClient::connect(options)
        .await
        .map_err(|error| match error {
            ClientError::Nats(NatsError::Connect { url, reason, .. }) => anyhow::anyhow!(
                "cannot connect to NATS at {url} (is a lattice host up? see --nats-url): {reason}"
            ),
            other => other.into(),
        })
}

pub(crate) async fn run(global: &GlobalArgs, command: Command) -> anyhow::Result<()> {
    let client = connect(global).await?;
    let format = global.output;
    let message = match command {
        Command::Up(_)
        | Command::Par(_)
        | Command::Push(_)
        | Command::Claims(_)
        | Command::Secrets(_) => {
            unreachable!("`up`, `par`, `push`, `claims` and `secrets` run on their own")
        }
        Command::Get(GetCommand::Hosts) => {
            output::hosts(format, &client.hosts().await?);
            return Ok(());
        }
        Command::Get(GetCommand::Inventory { host_id }) => {
            let ids = match host_id {
                Some(id) => vec![id],
                None => client.hosts().await?.into_iter().map(|h| h.id).collect(),
            };
            let mut inventories = Vec::new();
            for id in ids {
                inventories.push(client.inventory(&id).await?);
            }
            output::inventories(format, &inventories);
            return Ok(());
        }
        Command::Label(LabelCommand::Put {
            host_id,
            label: (key, value),
        }) => client.put_label(&host_id, &key, &value).await?,
        Command::Label(LabelCommand::Del { host_id, key }) => {
            client.del_label(&host_id, &key).await?
        }
        Command::Stop(StopCommand::Host {
            host_id,
            host_timeout,
        }) => client.stop_host(&host_id, host_timeout).await?,
        Command::Stop(StopCommand::Provider { provider_id, host }) => {
            provider_commands::stop(&client, &provider_id, host).await?
        }
        Command::Start(StartCommand::Component {
            component_ref,
            component_id,
            count,
            config,
            annotations,
            host,
            constraints,
            wait_timeout,
        }) => {
            let scale = component_commands::Scale {
                component_ref: component_commands::reference(&component_ref)?,
                component_id,
                count,
                config,
                annotations: annotations.into_iter().collect(),
                host,
                constraints: constraints.into_iter().collect(),
                wait_timeout,
            };
            return component_commands::scale(&client, global, scale).await;
        }
        Command::Scale(ScaleCommand::Component {
            component_id,
            count,
            host,
            wait_timeout,
        }) => {
            let scale =
                running_component(&client, &component_id, host, count, wait_timeout).await?;
            return component_commands::scale(&client, global, scale).await;
        }
        Command::Stop(StopCommand::Component { component_id, host }) => {
            let scale =
                running_component(&client, &component_id, host, 0, Duration::from_secs(60)).await?;
            return component_commands::scale(&client, global, scale).await;
        }
        Command::Call {
            component_id,
            function,
            args,
            call_timeout,
        } => {
            return component_commands::call(
                &client,
                global,
                &component_id,
                &function,
                &args,
                call_timeout,
            )
            .await;
        }
        Command::Start(start) => return provider_commands::start(&client, global, start).await,
        Command::Link(command) => return state_commands::link(&client, global, command).await,
        Command::Config(command) => return state_commands::config(&client, global, command).await,
        Command::Logs {
            provider_id,
            host,
            tail,
            follow,
        } => {
            return provider_commands::logs(&client, global, &provider_id, host, tail, follow)
                .await;
        }
        Command::Events => return follow_events(&client, global).await,
        Command::Registry(RegistryCommand::Put {
            registry,
            user,
            password,
            token,
        }) => {
            let credential = match (user, password, token) {
                (Some(username), Some(password), None) => {
                    serde_json::json!({"username": username, "password": password})
                }
                (None, None, Some(token)) => serde_json::json!({ "token": token }),
                _ => serde_json::json!({}),
            };
            let replies = client
                .put_registries(&serde_json::json!({ registry.clone(): credential }))
                .await?;
            let refused: Vec<String> = replies.iter().filter_map(|r| r.clone().err()).collect();
            if let Some(first) = refused.first() {
                anyhow::bail!(
                    "{} of {} hosts refused: {first}",
                    refused.len(),
                    replies.len()
                );
            }
            if replies.is_empty() {
                anyhow::bail!("no host answered within {:?}", global.timeout);
            }
            format!(
                "credentials for {registry} put on {} host{}",
                replies.len(),
                if replies.len() == 1 { "" } else { "s" }
            )
        }
    };
    match format {
        OutputFormat::Json => {
            output::json(&serde_json::json!({"success": true, "message": message}))
        }
        OutputFormat::Text => println!("{message}"),
    }
    Ok(())
}

async fn follow_events(client: &CtlClient, global: &GlobalArgs) -> anyhow::Result<()> {
    let subject = EventSubjects::new(client.lattice()).all();
    let mut events = client.events().await?;
    eprintln!("following {subject} (Ctrl-C to stop)");
    loop {
        let message = tokio::select! {
            message = events.next_message() => match message {
                Ok(message) => message,
                Err(_) => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match global.output {
            OutputFormat::Json => println!("{}", String::from_utf8_lossy(&message.payload)),
            OutputFormat::Text => match serde_json::from_slice::<CloudEvent>(&message.payload) {
                Ok(event) => println!("{}", output::event_line(&event)),
                Err(e) => println!("{} (not a CloudEvent: {e})", message.subject),
            },
        }
    }
}
