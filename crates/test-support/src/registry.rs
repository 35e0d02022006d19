//! A real OCI registry for tests: Debian's `docker-registry` (the CNCF distribution
//! registry) on a free loopback port, storing in a temporary directory, optionally
//! behind htpasswd credentials. Its access log says which blobs were downloaded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A running registry, killed on drop.
pub struct TestRegistry {
    _child: tokio::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl TestRegistry {
    /// A registry anyone may push to and pull from (over plain HTTP).
    pub async fn start() -> anyhow::Result<Self> {
        Self::spawn(None, None).await
    }

    /// A registry that wants `user` and `password` (HTTP basic, bcrypt htpasswd).
    pub async fn start_with_credentials(user: &str, password: &str) -> anyhow::Result<Self> {
        Self::spawn(Some((user, password)), None).await
    }

    /// A registry served over HTTPS with the certificate and key in these PEM files.
    pub async fn start_tls(certificate: &Path, key: &Path) -> anyhow::Result<Self> {
        Self::spawn(None, Some((certificate, key))).await
    }

    async fn spawn(
        credentials: Option<(&str, &str)>,
        tls: Option<(&Path, &Path)>,
    ) -> anyhow::Result<Self> {
        let binary = std::env::var_os("LATTICE_DOCKER_REGISTRY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("docker-registry"));
        let dir = tempfile::tempdir().context("cannot create the registry's directory")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let auth = match credentials {
            Some((user, password)) => {
                let htpasswd = dir.path().join("htpasswd");
                let out = std::process::Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .context("cannot run htpasswd (Debian: apt-get install apache2-utils; scripts/test.sh installs it)")?;
                if !out.status.success() {
                    bail!("htpasswd failed: {}", String::from_utf8_lossy(&out.stderr));
                }
                std::fs::write(&htpasswd, &out.stdout)?;
                format!(
                    "auth:\n  htpasswd:\n    realm: lattice-tests\n    path: {}\n",
                    htpasswd.display()
                )
            }
            None => String::new(),
        };
        let tls = match tls {
            Some((certificate, key)) => format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                certificate.display(),
                key.display()
            ),
            None => String::new(),
        };
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{tls}{auth}",
                dir.path().join("storage").display()
            ),
        )?;
        let log = std::fs::File::create(dir.path().join("registry.log"))?;
        let child = tokio::process::Command::new(&binary)
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot run {} (Debian: apt-get install docker-registry; scripts/test.sh installs it)",
                    binary.display()
                )
            })?;
        let registry = TestRegistry {
            _child: child,
            dir,
            port,
        };
        registry.wait_ready().await?;
        Ok(registry)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                let request = format!("GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n", self.port);
                if stream.write_all(request.as_bytes()).await.is_ok() {
                    let mut answer = Vec::new();
                    let _ = stream.read_to_end(&mut answer).await;
                    if answer.starts_with(b"HTTP/1.") {
                        return Ok(());
                    }
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "the registry did not answer within 10 s; its log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `127.0.0.1:{port}`: the registry part of references, and what
    /// `--allowed-insecure` names.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's log (its access log included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// How many times the blob `digest` (`sha256:…`) was downloaded (successful GETs).
    pub fn blob_downloads(&self, digest: &str) -> usize {
        let blob = format!("/blobs/{digest} ");
        self.log()
            .lines()
            .filter(|line| {
                line.contains("\"GET /v2/") && line.contains(&blob) && line.contains("\" 200 ")
            })
            .count()
    }

    /// Overwrites the stored bytes of blob `digest` (same length, last byte flipped), as a
    /// corrupted or malicious registry would serve them.
    pub fn tamper_blob(&self, digest: &str) -> anyhow::Result<()> {
        let hex = digest.strip_prefix("sha256:").context("a sha256 digest")?;
        let path = self
            .dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data");
        let mut data =
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let last = data.last_mut().context("an empty blob")?;
        *last ^= 0xff;
        std::fs::write(&path, data)?;
        Ok(())
    }
}
