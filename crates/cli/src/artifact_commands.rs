//! `lattice par create` (a provider archive from binaries, with signed claims) and
//! `lattice push` (a provider archive or a component to a registry), as wash does them.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};

use crate::args::{GlobalArgs, OutputFormat};
use crate::output;

/// `lattice par …`
#[derive(Debug, Subcommand)]
pub(crate) enum ParCommand {
    /// Build a provider archive (PAR) from native binaries and sign its claims.
    ///
    /// The issuer (an account key, `SA…`) and the subject (the provider's service key,
    /// `SV…`) are read from --issuer/--subject (a seed or a file holding one); when not
    /// given they are generated once and kept in the data directory's `keys`, so later
    /// revisions of the same provider keep their identity.
    #[command(disable_version_flag = true)]
    Create(ParCreateArgs),
}

/// Options of `lattice par create`.
#[derive(Debug, Args)]
pub(crate) struct ParCreateArgs {
    /// A native binary, as `PATH` (for this machine's target) or `TARGET=PATH`, e.g.
    /// `aarch64-linux=./target/aarch64/provider` (repeatable).
    #[arg(long = "binary", required = true, value_name = "[TARGET=]PATH")]
    binaries: Vec<String>,
    /// The provider's name.
    #[arg(long)]
    name: String,
    /// Who ships it.
    #[arg(long, default_value = "lattice")]
    vendor: String,
    /// Version text, e.g. `0.1.0`.
    #[arg(long = "version", value_name = "VERSION")]
    ver: Option<String>,
    /// Revision number.
    #[arg(long)]
    revision: Option<i32>,
    /// Issuer: an account seed (`SA…`) or a file holding one.
    #[arg(long, env = "LATTICE_PAR_ISSUER", hide_env_values = true)]
    issuer: Option<String>,
    /// Subject: a service seed (`SV…`) or a file holding one.
    #[arg(long, env = "LATTICE_PAR_SUBJECT", hide_env_values = true)]
    subject: Option<String>,
    /// A JSON file with the provider's config schema.
    #[arg(long, value_name = "FILE")]
    config_schema: Option<PathBuf>,
    /// Where to write the archive. Default: `{name}.par.gz` (or `.par` with --no-compress).
    #[arg(long, value_name = "FILE")]
    destination: Option<PathBuf>,
    /// Write a plain tar instead of gzip.
    #[arg(long)]
    no_compress: bool,
    /// Directory of generated keys. Default: the data directory's `keys`.
    #[arg(long, env = "LATTICE_KEYS_DIR", value_name = "DIR")]
    keys_dir: Option<PathBuf>,
}

/// `lattice claims …`
#[derive(Debug, Subcommand)]
pub(crate) enum ClaimsCommand {
    /// Sign a component: embed claims signed by an account key, as `wash claims sign`
    /// does (the official host accepts them; secrets for components need them).
    ///
    /// The issuer (`SA…`) and subject (the component's module key, `SM…`) come from
    /// --issuer/--subject (a seed or a file holding one), else they are generated once
    /// and kept in the data directory's `keys`.
    Sign(Box<ClaimsSignArgs>),
    /// Show the claims a component carries, verified as a host verifies them.
    Inspect {
        /// The component (`.wasm`).
        file: PathBuf,
    },
}

/// Options of `lattice claims sign`.
#[derive(Debug, Args)]
pub(crate) struct ClaimsSignArgs {
    /// The component to sign.
    file: PathBuf,
    /// Where to write the signed component. Default: `{stem}_s.wasm` beside it.
    #[arg(long, value_name = "FILE")]
    destination: Option<PathBuf>,
    /// A friendly name. Default: the file's stem.
    #[arg(long)]
    name: Option<String>,
    /// Tags (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Revision number.
    #[arg(long)]
    revision: Option<i32>,
    /// Version text.
    #[arg(long = "ver", value_name = "VERSION")]
    ver: Option<String>,
    /// A call alias.
    #[arg(long)]
    call_alias: Option<String>,
    /// Days until the claims expire (default: never).
    #[arg(long)]
    expires_in_days: Option<u64>,
    /// Days until the claims become valid (default: at once).
    #[arg(long)]
    not_before_days: Option<u64>,
    /// Issuer: an account seed (`SA…`) or a file holding one.
    #[arg(long, env = "LATTICE_CLAIMS_ISSUER", hide_env_values = true)]
    issuer: Option<String>,
    /// Subject: a module seed (`SM…`) or a file holding one.
    #[arg(long, env = "LATTICE_CLAIMS_SUBJECT", hide_env_values = true)]
    subject: Option<String>,
    /// Directory of generated keys. Default: the data directory's `keys`.
    #[arg(long, env = "LATTICE_KEYS_DIR", value_name = "DIR")]
    keys_dir: Option<PathBuf>,
}

/// Options of `lattice push`.
#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Where to push, e.g. `localhost:5000/providers/kv:0.1.0`.
    reference: String,
    /// A provider archive (`.par`, `.par.gz`) or a component (`.wasm`).
    file: PathBuf,
    /// Registries to reach over plain HTTP (`host:port`; repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "REGISTRY")]
    allowed_insecure: Vec<String>,
    /// Push over plain HTTP to the reference's registry.
    #[arg(long)]
    insecure: bool,
    /// User name for the registry.
    #[arg(long, env = "LATTICE_REGISTRY_USER", requires = "password")]
    user: Option<String>,
    /// Password for the registry.
    #[arg(
        long,
        env = "LATTICE_REGISTRY_PASSWORD",
        requires = "user",
        hide_env_values = true
    )]
    password: Option<String>,
    /// Allow the tag `latest` (or no tag).
    #[arg(long)]
    allow_latest: bool,
    /// PEM files of CAs to trust besides the built-in roots.
    #[arg(long, value_delimiter = ',', value_name = "PEM")]
    tls_ca_path: Vec<PathBuf>,
}

pub(crate) async fn par(global: &GlobalArgs, command: ParCommand) -> anyhow::Result<()> {
    let ParCommand::Create(args) = command;
    let keys_dir = args
        .keys_dir
        .clone()
        .unwrap_or_else(|| crate::args::default_data_dir().join("keys"));
    let issuer = key(
        args.issuer.as_deref(),
        &keys_dir,
        &format!("{}_account", args.name),
        nkeys::KeyPair::new_account,
    )?;
    let subject = key(
        args.subject.as_deref(),
        &keys_dir,
        &format!("{}_service", args.name),
        nkeys::KeyPair::new_service,
    )?;
    let mut builder = lattice_artifacts::par::ParBuilder::new(&args.name, &args.vendor)
        .version(args.ver.clone())
        .revision(args.revision);
    for binary in &args.binaries {
        let (target, path) = match binary.split_once('=') {
            Some((target, path)) => (target.to_string(), PathBuf::from(path)),
            None => (
                lattice_artifacts::par::native_target(),
                PathBuf::from(binary),
            ),
        };
        let data =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        builder = builder.binary(target, data);
    }
    if let Some(path) = &args.config_schema {
        let schema = serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("{} is not JSON", path.display()))?;
        builder = builder.config_schema(Some(schema));
    }
    let destination = args.destination.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}.par{}",
            args.name.to_lowercase().replace(' ', "_"),
            if args.no_compress { "" } else { ".gz" }
        ))
    });
    let written = builder.write(&destination, &issuer, &subject, !args.no_compress)?;
    let size = std::fs::metadata(&destination)
        .map(|m| m.len())
        .unwrap_or(0);
    match global.output {
        OutputFormat::Text => println!(
            "wrote {} ({size} bytes): provider {} ({}), issuer {}, targets {}",
            destination.display(),
            args.name,
            written.subject,
            written.issuer,
            written.targets.join(", ")
        ),
        OutputFormat::Json => output::json(&serde_json::json!({
            "path": destination, "size": size, "subject": written.subject,
            "issuer": written.issuer, "targets": written.targets,
        })),
    }
    Ok(())
}

pub(crate) async fn claims(global: &GlobalArgs, command: ClaimsCommand) -> anyhow::Result<()> {
    use lattice_artifacts::component_claims::{
        ComponentMetadata, sign_component, verify_component_claims,
    };
    match command {
        ClaimsCommand::Sign(args) => {
            let wasm = std::fs::read(&args.file)
                .with_context(|| format!("cannot read {}", args.file.display()))?;
            let stem = args
                .file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("component")
                .to_string();
            let name = args.name.clone().unwrap_or_else(|| stem.clone());
            let keys_dir = args
                .keys_dir
                .clone()
                .unwrap_or_else(|| crate::args::default_data_dir().join("keys"));
            let issuer = key(
                args.issuer.as_deref(),
                &keys_dir,
                &format!("{name}_account"),
                nkeys::KeyPair::new_account,
            )?;
            let subject = key(
                args.subject.as_deref(),
                &keys_dir,
                &format!("{name}_module"),
                nkeys::KeyPair::new_module,
            )?;
            const DAY: u64 = 86_400;
            let metadata = ComponentMetadata {
                name: Some(name),
                tags: args.tags.clone(),
                revision: args.revision,
                version: args.ver.clone(),
                call_alias: args.call_alias.clone(),
                expires_in: args.expires_in_days.map(|d| d * DAY),
                not_before_in: args.not_before_days.map(|d| d * DAY),
            };
            let signed = sign_component(&wasm, &metadata, &issuer, &subject)?;
            let destination = args
                .destination
                .clone()
                .unwrap_or_else(|| args.file.with_file_name(format!("{stem}_s.wasm")));
            std::fs::write(&destination, &signed)
                .with_context(|| format!("cannot write {}", destination.display()))?;
            match global.output {
                OutputFormat::Text => println!(
                    "wrote {}: component {} signed by {}",
                    destination.display(),
                    subject.public_key(),
                    issuer.public_key()
                ),
                OutputFormat::Json => output::json(&serde_json::json!({
                    "path": destination, "subject": subject.public_key(), "issuer": issuer.public_key(),
                })),
            }
        }
        ClaimsCommand::Inspect { file } => {
            let wasm =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let claims = verify_component_claims(&wasm)
                .with_context(|| format!("{} carries claims a host refuses", file.display()))?;
            let Some(claims) = claims else {
                bail!("{} is unsigned", file.display());
            };
            match global.output {
                OutputFormat::Text => println!(
                    "component {}\n  issuer   {}\n  name     {}\n  version  {}\n  revision {}\n  tags     {}\n  expires  {}\n  hash     {}",
                    claims.subject,
                    claims.issuer,
                    claims.name.as_deref().unwrap_or("-"),
                    claims.version.as_deref().unwrap_or("-"),
                    claims.revision.map_or("-".to_string(), |r| r.to_string()),
                    claims.tags.as_deref().unwrap_or_default().join(","),
                    claims
                        .expires
                        .map_or("never".to_string(), |e| e.to_string()),
                    claims.module_hash
                ),
                OutputFormat::Json => output::json(&serde_json::json!({
                    "subject": claims.subject, "issuer": claims.issuer, "name": claims.name,
                    "version": claims.version, "revision": claims.revision, "tags": claims.tags,
                    "call_alias": claims.call_alias, "expires": claims.expires,
                    "not_before": claims.not_before, "hash": claims.module_hash,
                })),
            }
        }
    }
    Ok(())
}

pub(crate) async fn push(global: &GlobalArgs, args: PushArgs) -> anyhow::Result<()> {
    let artifact = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let kind = if artifact.starts_with(b"\0asm") {
        lattice_artifacts::ArtifactKind::Component
    } else if artifact.starts_with(&[0x1f, 0x8b]) || artifact.get(257..262) == Some(b"ustar") {
        lattice_artifacts::ArtifactKind::Provider
    } else {
        bail!(
            "{} is neither a WebAssembly component nor a provider archive (tar or tar.gz)",
            args.file.display()
        );
    };
    let reference = lattice_artifacts::ArtifactRef::parse(&args.reference)?;
    let mut allowed_insecure = args.allowed_insecure.clone();
    if args.insecure {
        allowed_insecure.push(reference.registry().to_string());
    }
    let mut credentials = BTreeMap::new();
    if let (Some(username), Some(password)) = (&args.user, &args.password) {
        credentials.insert(
            reference.registry().to_string(),
            lattice_artifacts::Credential::Basic {
                username: username.clone(),
                password: password.clone(),
            },
        );
    }
    let registry = lattice_artifacts::Registry::new(
        lattice_artifacts::RegistrySettings {
            allow_latest: args.allow_latest,
            allowed_insecure,
            ca_paths: args.tls_ca_path.clone(),
            credentials,
        },
        lattice_artifacts::CacheSettings::default(),
    )?;
    let started = Instant::now();
    if global.output == OutputFormat::Text {
        eprintln!(
            "pushing {} ({}, {:.1} MiB) to {}…",
            args.file.display(),
            kind.noun(),
            artifact.len() as f64 / (1024.0 * 1024.0),
            reference.registry()
        );
    }
    let pushed = registry.push(&reference, kind, artifact).await?;
    let ms = started.elapsed().as_millis() as u64;
    match global.output {
        OutputFormat::Text => println!(
            "pushed {} ({}) in {ms} ms; pull exactly this with {}/{}@{}",
            args.reference,
            pushed.manifest_digest,
            reference.registry(),
            reference.repository(),
            pushed.manifest_digest
        ),
        OutputFormat::Json => output::json(&serde_json::json!({
            "reference": args.reference, "kind": kind.noun(),
            "manifest_digest": pushed.manifest_digest, "layer_digest": pushed.layer_digest,
            "size": pushed.size, "milliseconds": ms,
        })),
    }
    Ok(())
}

/// A key from a seed or a file holding one, else the one generated earlier under `name`
/// in `keys_dir`, else a new one (saved there, 0600).
fn key(
    given: Option<&str>,
    keys_dir: &Path,
    name: &str,
    generate: fn() -> nkeys::KeyPair,
) -> anyhow::Result<nkeys::KeyPair> {
    if let Some(given) = given {
        let seed = if given.starts_with('S') && !Path::new(given).exists() {
            given.to_string()
        } else {
            std::fs::read_to_string(given)
                .with_context(|| format!("cannot read the key file {given}"))?
                .trim()
                .to_string()
        };
        return nkeys::KeyPair::from_seed(&seed).context("not a valid nkey seed");
    }
    let path = keys_dir.join(format!("{}.nk", name.to_lowercase().replace(' ', "_")));
    if let Ok(seed) = std::fs::read_to_string(&path) {
        return nkeys::KeyPair::from_seed(seed.trim())
            .with_context(|| format!("{} holds no valid nkey seed", path.display()));
    }
    let pair = generate();
    std::fs::create_dir_all(keys_dir)
        .with_context(|| format!("cannot create {}", keys_dir.display()))?;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::File::options()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(
        file,
        "{}",
        pair.seed().context("a generated key has a seed")?
    )?;
    eprintln!(
        "generated {} key {} in {}",
        name,
        pair.public_key(),
        path.display()
    );
    Ok(pair)
}
