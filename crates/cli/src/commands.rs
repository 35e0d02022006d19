//! The client commands: each connects, does one thing over the control interface (or
//! follows events) and prints the result.

use lattice_client::{ClientError, ClientOptions, CtlClient};
use lattice_nats::{NatsConnectConfig, NatsError};
use lattice_proto::events::CloudEvent;
use lattice_proto::subjects::EventSubjects;

use crate::args::{Command, GetCommand, GlobalArgs, LabelCommand, OutputFormat, StopCommand};
use crate::{output, provider_commands, state_commands};

/// The default NATS URL of client commands.
const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// A control client for the global options.
async fn connect(global: &GlobalArgs) -> anyhow::Result<CtlClient> {
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
        Command::Up(_) => unreachable!("`up` is not a client command"),
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
