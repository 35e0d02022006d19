//! Claims in `LATTICEDATA_{lattice}` (spec §5.1): the host that loads an artifact with
//! claims writes `CLAIMS_{subject}`; `claims.get` (queue group) is answered from the
//! bucket itself, so any host answers with every host's claims, current to the last
//! acknowledged write.

use std::collections::BTreeMap;

use async_nats::jetstream::kv::Operation;
use lattice_proto::claims::{CLAIMS_PREFIX, StoredClaims};

use super::LatticeState;
use crate::error::HostError;

impl LatticeState {
    /// Stores `claims` under `CLAIMS_{subject}` (unchanged claims are not rewritten).
    pub(crate) async fn put_claims(&self, claims: &StoredClaims) -> Result<(), HostError> {
        let key = claims.key();
        let fail = |reason: String| HostError::Bucket {
            bucket: self.buckets.data.name.clone(),
            reason,
        };
        let body = serde_json::to_vec(claims).expect("claims encode");
        let current = self
            .buckets
            .data
            .get(key.as_str())
            .await
            .map_err(|e| fail(format!("cannot read {key}: {e}")))?;
        if current.as_deref() == Some(body.as_slice()) {
            return Ok(());
        }
        self.buckets
            .data
            .put(key.as_str(), body.into())
            .await
            .map_err(|e| fail(format!("cannot write {key}: {e}")))?;
        Ok(())
    }

    /// Every stored claims entry, as `claims.get` lists them.
    pub(crate) async fn claims(&self) -> Result<Vec<BTreeMap<String, String>>, HostError> {
        let entries = super::read_all(&self.buckets.data, CLAIMS_PREFIX).await?;
        let mut all = Vec::new();
        for entry in entries.iter().filter(|e| e.operation == Operation::Put) {
            match serde_json::from_slice::<StoredClaims>(&entry.value) {
                Ok(claims) => all.push(claims.to_map()),
                Err(error) => {
                    tracing::warn!(key = %entry.key, %error, "skipping undecodable claims")
                }
            }
        }
        Ok(all)
    }
}
