//! A `nats-server` in operator mode (decentralised JWT auth), for credential tests: an
//! operator, an account with JetStream, and users signed by the account, as `nsc` would
//! make them (ed25519 nkey JWTs, memory resolver).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lattice_host::nats_server::{NatsServer, NatsServerConfig, find_nats_server};
use nkeys::KeyPair;
use serde_json::{Value, json};

/// A signed NATS JWT: `claims` with `iss` (the issuer), `iat` and `jti` set.
fn jwt(issuer: &KeyPair, mut claims: Value) -> anyhow::Result<String> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    claims["iss"] = json!(issuer.public_key());
    claims["iat"] = json!(now);
    claims["jti"] = json!(format!("lattice-test-{}", rand::random::<u64>()));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
    let signed = format!("{header}.{payload}");
    let signature = issuer
        .sign(signed.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot sign: {e}"))?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// A user's credentials.
pub struct UserCreds {
    /// The user JWT.
    pub jwt: String,
    /// The user's nkey seed (`SU…`).
    pub seed: String,
}

impl UserCreds {
    /// Writes them as a `.creds` file (the `nsc` layout) under `dir`.
    pub fn write(&self, dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
                 ************************* IMPORTANT *************************\n\
                 NKEY Seed printed below can be used to sign and prove identity.\n\n\
                 -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
                self.jwt, self.seed
            ),
        )?;
        Ok(path)
    }
}

/// The server, its account key, and what it took.
pub struct OperatorNats {
    server: NatsServer,
    account: KeyPair,
    _dir: tempfile::TempDir,
}

impl OperatorNats {
    /// Starts a server that trusts one operator, which signed one account (JetStream
    /// enabled, no other limits).
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let operator = KeyPair::new_operator();
        let account = KeyPair::new_account();
        // JetStream needs a system account.
        let system = KeyPair::new_account();
        let operator_jwt = jwt(
            &operator,
            json!({"sub": operator.public_key(), "name": "lattice-test",
                "nats": {"type": "operator", "version": 2,
                    "system_account": system.public_key()}}),
        )?;
        let system_jwt = jwt(
            &operator,
            json!({"sub": system.public_key(), "name": "SYS",
                "nats": {"type": "account", "version": 2, "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1}}}),
        )?;
        let account_jwt = jwt(
            &operator,
            json!({"sub": account.public_key(), "name": "lattice",
                "nats": {"type": "account", "version": 2, "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                    "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}}}),
        )?;
        let config = dir.path().join("server.conf");
        std::fs::write(
            &config,
            format!(
                "operator: \"{operator_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\nresolver_preload: {{\n  {acc}: \"{account_jwt}\"\n  {sys}: \"{system_jwt}\"\n}}\n",
                acc = account.public_key(),
                sys = system.public_key(),
            ),
        )?;
        let mut settings =
            NatsServerConfig::loopback(find_nats_server(None)?, Some(dir.path().join("jetstream")));
        settings.extra_args = vec!["-c".into(), config.display().to_string()];
        let server = NatsServer::start(&settings)
            .await
            .context("a nats-server in operator mode")?;
        Ok(OperatorNats {
            server,
            account,
            _dir: dir,
        })
    }

    /// The client URL.
    pub fn url(&self) -> &str {
        self.server.url()
    }

    /// A new user of the account.
    pub fn user(&self, name: &str) -> anyhow::Result<UserCreds> {
        user_of(&self.account, name)
    }

    /// A user of an account this server does not know.
    pub fn stranger(&self) -> anyhow::Result<UserCreds> {
        user_of(&KeyPair::new_account(), "stranger")
    }
}

fn user_of(account: &KeyPair, name: &str) -> anyhow::Result<UserCreds> {
    let user = KeyPair::new_user();
    let jwt = jwt(
        account,
        json!({"sub": user.public_key(), "name": name,
            "nats": {"type": "user", "version": 2, "pub": {}, "sub": {},
                "subs": -1, "data": -1, "payload": -1}}),
    )?;
    Ok(UserCreds {
        jwt,
        seed: user.seed().map_err(|e| anyhow::anyhow!("{e}"))?,
    })
}
