//! `lattice secrets serve|put|del|list|allow|deny`: a secrets backend (spec §8) and its
//! management, compatible with wasmCloud 1.9.2's `secrets-nats-kv`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use futures::StreamExt as _;
use lattice_secrets::admin::BackendAddress;

use crate::args::{GlobalArgs, OutputFormat};
use crate::output;

/// Where the backend is.
#[derive(Debug, Args)]
pub(crate) struct BackendArgs {
    /// The subject prefix hosts use (`--secrets-topic`).
    #[arg(
        long,
        env = "WASMCLOUD_SECRETS_TOPIC",
        default_value = "wasmcloud.secrets"
    )]
    topic: String,
    /// The backend's name (`backend` in secret references).
    #[arg(long = "backend", default_value = "nats-kv")]
    name: String,
    /// The KV bucket holding the values.
    #[arg(long, default_value = "WASMCLOUD_SECRETS")]
    bucket: String,
}

/// `lattice secrets …`
#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Run a secrets backend until Ctrl-C or SIGTERM: values stored encrypted in a KV
    /// bucket; hosts with `--secrets-topic` fetch from it; entities read only the keys
    /// they are allowed (`lattice secrets allow`).
    ///
    /// Keys: TRANSIT_XKEY_SEED (requests are sealed to it) and ENCRYPTION_XKEY_SEED
    /// (values are stored sealed with it; keep it safe: without it nothing stored can
    /// be read), curve seeds (`SX…`), as 1.9.2's secrets-nats-kv takes them.
    Serve {
        #[command(flatten)]
        backend: BackendArgs,
        /// The transit xkey seed.
        #[arg(long, env = "TRANSIT_XKEY_SEED", hide_env_values = true)]
        transit_xkey_seed: String,
        /// The encryption xkey seed.
        #[arg(long, env = "ENCRYPTION_XKEY_SEED", hide_env_values = true)]
        encryption_xkey_seed: String,
    },
    /// Store a secret under KEY (a text from --string or SECRET_STRING_VALUE, or a file's
    /// bytes); prints the revision.
    Put {
        /// The backend key (what references' `key` names).
        key: String,
        #[command(flatten)]
        backend: BackendArgs,
        /// The value (prefer SECRET_STRING_VALUE: shell history keeps flags).
        #[arg(
            long,
            env = "SECRET_STRING_VALUE",
            hide_env_values = true,
            conflicts_with = "binary"
        )]
        string: Option<String>,
        /// A file whose bytes are the value.
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// Delete a secret (every revision).
    Del {
        /// The backend key.
        key: String,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// List the keys stored (never values).
    List {
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Let ENTITY (a component's `M…` or provider's `V…` public key) read KEYs.
    Allow {
        /// The entity's public key (its claims' subject).
        entity: String,
        /// Backend keys.
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        backend: BackendArgs,
    },
    /// Stop ENTITY from reading KEYs.
    Deny {
        /// The entity's public key.
        entity: String,
        /// Backend keys.
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        backend: BackendArgs,
    },
}

fn address(backend: &BackendArgs, timeout: Duration) -> BackendAddress {
    BackendAddress {
        topic: backend.topic.clone(),
        name: backend.name.clone(),
        timeout: timeout.max(Duration::from_secs(2)),
    }
}

pub(crate) async fn run(global: &GlobalArgs, command: SecretsCommand) -> anyhow::Result<()> {
    let client = crate::commands::connect(global).await?;
    let nats = client.nats().clone();
    let message = match command {
        SecretsCommand::Serve {
            backend,
            transit_xkey_seed,
            encryption_xkey_seed,
        } => {
            let key = |seed: &str, what: &str| {
                nkeys::XKey::from_seed(seed.trim())
                    .with_context(|| format!("{what} is not a curve seed (SX…)"))
            };
            let config = lattice_secrets::server::BackendConfig {
                topic: backend.topic.clone(),
                name: backend.name.clone(),
                bucket: backend.bucket.clone(),
                transit: key(&transit_xkey_seed, "TRANSIT_XKEY_SEED")?,
                encryption: key(&encryption_xkey_seed, "ENCRYPTION_XKEY_SEED")?,
            };
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            let subject = lattice_secrets::server::subject_base(&backend.topic, &backend.name);
            tokio::spawn(async move {
                if ready_rx.await.is_ok() {
                    eprintln!(
                        "secrets backend `{}` serving on {subject}.> (Ctrl-C stops it)",
                        backend.name
                    );
                }
            });
            let stop = async {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("a SIGTERM handler");
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            };
            lattice_secrets::server::serve(nats, config, Some(ready_tx), stop).await?;
            return Ok(());
        }
        SecretsCommand::Put {
            key,
            backend,
            string,
            binary,
        } => {
            let value = match (string, binary) {
                (Some(text), None) => lattice_proto::SecretValue::String(text),
                (None, Some(path)) => lattice_proto::SecretValue::Bytes(
                    std::fs::read(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                ),
                _ => {
                    bail!("give the value with --string (or SECRET_STRING_VALUE) or --binary FILE")
                }
            };
            let revision = address(&backend, global.timeout)
                .put(&nats, &key, value)
                .await?;
            if global.output == OutputFormat::Json {
                output::json(&serde_json::json!({"key": key, "revision": revision}));
                return Ok(());
            }
            format!("put secret `{key}` (revision {revision})")
        }
        SecretsCommand::Del { key, backend } => {
            let store = bucket(&nats, &backend.bucket).await?;
            store
                .purge(&key)
                .await
                .with_context(|| format!("cannot delete `{key}`"))?;
            format!("deleted secret `{key}`")
        }
        SecretsCommand::List { backend } => {
            let store = bucket(&nats, &backend.bucket).await?;
            let mut keys: Vec<String> = match store.keys().await {
                Ok(keys) => keys.filter_map(|k| async { k.ok() }).collect().await,
                Err(e) => bail!("cannot list {}: {e}", backend.bucket),
            };
            keys.sort();
            match global.output {
                OutputFormat::Json => output::json(&keys),
                OutputFormat::Text => keys.iter().for_each(|k| println!("{k}")),
            }
            return Ok(());
        }
        SecretsCommand::Allow {
            entity,
            keys,
            backend,
        } => {
            address(&backend, global.timeout)
                .map(&nats, &entity, &keys, true)
                .await?;
            format!("{entity} may read {}", keys.join(", "))
        }
        SecretsCommand::Deny {
            entity,
            keys,
            backend,
        } => {
            address(&backend, global.timeout)
                .map(&nats, &entity, &keys, false)
                .await?;
            format!("{entity} may no longer read {}", keys.join(", "))
        }
    };
    match global.output {
        OutputFormat::Text => println!("{message}"),
        OutputFormat::Json => {
            output::json(&serde_json::json!({"success": true, "message": message}))
        }
    }
    Ok(())
}

async fn bucket(
    nats: &async_nats::Client,
    name: &str,
) -> anyhow::Result<async_nats::jetstream::kv::Store> {
    async_nats::jetstream::new(nats.clone())
        .get_key_value(name)
        .await
        .with_context(|| format!("cannot open the bucket {name} (has a backend run with it?)"))
}
