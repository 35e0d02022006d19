//! `--config-service-enabled` (spec §3.3): before it serves, the host asks
//! `wasmbus.cfg.{lattice}.req` for supplemental configuration with its labels; the
//! reply's `registryCredentials` are registry credentials, under those of the
//! `--oci-*` flags. A missing or bad answer leaves the host without them, as in 1.9.2,
//! but says why.

use std::collections::BTreeMap;
use std::time::Duration;

use lattice_artifacts::{Credential, RegistryCredential};

#[derive(Debug, Default, serde::Deserialize)]
struct Supplemental {
    #[serde(default, rename = "registryCredentials")]
    registry_credentials: BTreeMap<String, RegistryCredential>,
}

/// The registry credentials the config service gives a host with `labels`; empty when
/// it does not answer in `timeout` or answers something else (logged).
pub(crate) async fn registry_credentials(
    ctl: &async_nats::Client,
    lattice: &str,
    labels: &BTreeMap<String, String>,
    timeout: Duration,
) -> BTreeMap<String, Credential> {
    let subject = format!("wasmbus.cfg.{lattice}.req");
    let body = serde_json::to_vec(&serde_json::json!({ "labels": labels })).expect("labels encode");
    let reply = match tokio::time::timeout(timeout, ctl.request(subject.clone(), body.into())).await
    {
        Ok(Ok(reply)) => reply,
        Ok(Err(error)) => {
            tracing::error!(%subject, %error, "the config service did not answer; going on without supplemental config");
            return BTreeMap::new();
        }
        Err(_) => {
            tracing::error!(%subject, ?timeout, "the config service did not answer in time; going on without supplemental config");
            return BTreeMap::new();
        }
    };
    let supplemental: Supplemental = match serde_json::from_slice(&reply.payload) {
        Ok(supplemental) => supplemental,
        Err(error) => {
            tracing::error!(%subject, %error, "the config service's answer is not supplemental config; going on without it");
            return BTreeMap::new();
        }
    };
    let mut credentials = BTreeMap::new();
    for (registry, entry) in supplemental.registry_credentials {
        match entry.credential() {
            Ok(Some(credential)) => {
                tracing::debug!(%registry, "registry credentials from the config service");
                credentials.insert(registry, credential);
            }
            Ok(None) => {}
            Err(reason) => {
                tracing::error!(%registry, %reason, "ignoring the config service's credentials for this registry");
            }
        }
    }
    credentials
}
