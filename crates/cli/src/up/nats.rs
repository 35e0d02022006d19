//! Where the host's NATS is: the URL flags and credentials turned into a URL, and the
//! embedded `nats-server` started when none answers on the default address.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use lattice_host::nats_server::{NatsServer, NatsServerConfig, find_nats_server};
use lattice_host::{NatsAuth, NatsConnectConfig};
use tokio::io::AsyncBufReadExt as _;
use url::Url;

use super::{DEFAULT_NATS_PORT, UpArgs};
use crate::args::default_data_dir;

/// Credentials from one set of flags: a creds file, or a JWT with its seed (clap keeps
/// them apart and pairs the JWT with the seed).
pub(super) fn auth_from(
    jwt: &Option<String>,
    seed: &Option<String>,
    creds: &Option<PathBuf>,
) -> Option<NatsAuth> {
    match (jwt, seed, creds) {
        (_, _, Some(path)) => Some(NatsAuth::CredsFile(path.clone())),
        (Some(jwt), Some(seed), None) => Some(NatsAuth::Jwt {
            jwt: jwt.clone(),
            seed: seed.clone(),
        }),
        _ => None,
    }
}

/// Parses `--nats-url` as async-nats does (`host:port` means `nats://host:port`),
/// keeping its scheme and credentials.
pub(super) fn parse_nats_url(given: &str) -> anyhow::Result<Url> {
    let shown = NatsConnectConfig::anonymous(given).display_url();
    if given.contains(',') {
        bail!("invalid --nats-url `{shown}`: give one server URL, not a list");
    }
    let text = if given.contains("://") {
        given.to_string()
    } else {
        format!("nats://{given}")
    };
    let url = Url::parse(&text).with_context(|| format!("invalid --nats-url `{shown}`"))?;
    if !matches!(url.scheme(), "nats" | "tls" | "ws" | "wss") {
        bail!(
            "invalid --nats-url `{shown}`: unknown scheme `{}` (expected nats, tls, ws or wss)",
            url.scheme()
        );
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("invalid --nats-url `{shown}`: it names no host");
    }
    Ok(url)
}

/// Replaces the host and port of `url` with `--{which}-host` and `--{which}-port`.
pub(super) fn set_address(
    url: &mut Url,
    which: &str,
    host: Option<&str>,
    port: Option<u16>,
) -> anyhow::Result<()> {
    if let Some(host) = host {
        let bracketed = if host.parse::<std::net::Ipv6Addr>().is_ok() {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        url.set_host(Some(&bracketed))
            .with_context(|| format!("invalid --{which}-host `{host}`"))?;
    }
    if let Some(port) = port {
        url.set_port(Some(port))
            .map_err(|()| anyhow::anyhow!("cannot set --{which}-port {port} on the NATS URL"))?;
    }
    Ok(())
}

/// `--ctl-tls`/`--rpc-tls`: a `tls://` (or `wss://`) URL, which async-nats connects to
/// with TLS required.
pub(super) fn require_tls(url: &mut Url, which: &str) -> anyhow::Result<()> {
    let secure = match url.scheme() {
        "nats" | "tls" => "tls",
        "ws" | "wss" => "wss",
        other => bail!("--{which}-tls: cannot require TLS on a `{other}://` URL"),
    };
    url.set_scheme(secure)
        .map_err(|()| anyhow::anyhow!("--{which}-tls: cannot make `{secure}://` of the URL"))
}

/// Does a NATS server answer at `host:port`? (It greets every client with `INFO {…}`.)
pub(super) async fn nats_answers(host: &str, port: u16) -> anyhow::Result<bool> {
    let probe = async {
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        let mut line = String::new();
        tokio::io::BufReader::new(stream)
            .read_line(&mut line)
            .await?;
        Ok::<_, std::io::Error>(line)
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(line)) if line.starts_with("INFO ") => Ok(true),
        Ok(Ok(_)) | Err(_) => bail!(
            "something that is not a NATS server listens on {host}:{port}; stop it or give --nats-url"
        ),
        Ok(Err(_)) => Ok(false),
    }
}

/// Starts the embedded nats-server on the default address.
pub(super) async fn start_embedded(args: &UpArgs) -> anyhow::Result<NatsServer> {
    let binary = find_nats_server(args.nats_server_bin.as_deref())?;
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let store = data_dir.join("nats");
    std::fs::create_dir_all(&store)
        .with_context(|| format!("cannot create the JetStream directory {}", store.display()))?;
    let mut config = NatsServerConfig::loopback(binary, Some(store));
    config.port = Some(DEFAULT_NATS_PORT);
    let server = NatsServer::start(&config)
        .await
        .context("cannot start the embedded nats-server")?;
    tracing::info!(url = server.url(), binary = %config.binary.display(), "started embedded nats-server");
    Ok(server)
}
