//! `lattice link …` and `lattice config …`.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use lattice_client::CtlClient;
use lattice_proto::Link;
use lattice_proto::link::DeleteInterfaceLinkDefinitionRequest;

use crate::args::{ConfigCommand, GlobalArgs, LinkCommand, OutputFormat};
use crate::output;

fn done(global: &GlobalArgs, message: &str) {
    match global.output {
        OutputFormat::Json => {
            output::json(&serde_json::json!({"success": true, "message": message}))
        }
        OutputFormat::Text => println!("{message}"),
    }
}

pub(crate) async fn link(
    client: &CtlClient,
    global: &GlobalArgs,
    command: LinkCommand,
) -> anyhow::Result<()> {
    match command {
        LinkCommand::Put {
            source_id,
            target,
            wit_namespace,
            wit_package,
            interfaces,
            link_name,
            source_config,
            target_config,
        } => {
            let link = Link {
                source_id,
                target,
                name: link_name,
                wit_namespace,
                wit_package,
                interfaces,
                source_config,
                target_config,
            };
            done(global, &client.put_link(&link).await?);
        }
        LinkCommand::Del {
            source_id,
            wit_namespace,
            wit_package,
            link_name,
        } => {
            let request = DeleteInterfaceLinkDefinitionRequest {
                source_id,
                name: link_name,
                wit_namespace,
                wit_package,
            };
            done(global, &client.del_link(&request).await?);
        }
        LinkCommand::Get => {
            let links = client.links().await?;
            match global.output {
                OutputFormat::Json => output::json(&links),
                OutputFormat::Text => output::links(&links),
            }
        }
    }
    Ok(())
}

pub(crate) async fn config(
    client: &CtlClient,
    global: &GlobalArgs,
    command: ConfigCommand,
) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Put {
            name,
            entries,
            file,
        } => {
            let config: BTreeMap<String, String> = match file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    serde_json::from_str(&text).with_context(|| {
                        format!("{} is not a JSON object of string values", path.display())
                    })?
                }
                None => entries.into_iter().collect(),
            };
            done(global, &client.put_config(&name, &config).await?);
        }
        ConfigCommand::Get { name } => match client.config(&name).await? {
            Some(config) => match global.output {
                OutputFormat::Json => output::json(&config),
                OutputFormat::Text => config.iter().for_each(|(k, v)| println!("{k}={v}")),
            },
            None => bail!("config `{name}` does not exist"),
        },
        ConfigCommand::Del { name } => done(global, &client.del_config(&name).await?),
    }
    Ok(())
}
