//! Provider claims: the `claims.jwt` of a provider archive (spec §10.2). They name the
//! provider in events and inventory and carry the binaries' hashes. The 1.x host only
//! decodes them; lattice also verifies them ([`ProviderClaims::verify`]): the issuer's
//! signature, `exp` and `nbf`, and that issuer and subject are keys of the right kind.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lattice_proto::claims::{StoredClaims, StoredProviderClaims};
use lattice_proto::events::ProviderClaimsSummary;
use serde::Deserialize;

/// The claims lattice uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProviderClaims {
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) name: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) revision: Option<i32>,
    pub(crate) target_hashes: BTreeMap<String, String>,
    pub(crate) not_before: Option<u64>,
    pub(crate) expires: Option<u64>,
    /// `iat`.
    pub(crate) issued_at: Option<u64>,
    /// The provider's config schema, as JSON text.
    pub(crate) config_schema: Option<String>,
    /// The token as the archive holds it.
    pub(crate) jwt: String,
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    sub: String,
    exp: Option<u64>,
    nbf: Option<u64>,
    iat: Option<u64>,
    wascap: Option<RawWascap>,
}

#[derive(Deserialize)]
struct RawWascap {
    name: Option<String>,
    rev: Option<i32>,
    ver: Option<String>,
    #[serde(default)]
    target_hashes: BTreeMap<String, String>,
    config_schema: Option<serde_json::Value>,
}

impl ProviderClaims {
    /// Decodes a JWT's claims segment.
    pub(crate) fn decode(jwt: &str) -> Result<Self, String> {
        let segments: Vec<&str> = jwt.trim().split('.').collect();
        let [_, claims, _] = segments.as_slice() else {
            return Err(format!(
                "claims.jwt has {} segments, expected 3",
                segments.len()
            ));
        };
        let json = URL_SAFE_NO_PAD
            .decode(claims.trim_end_matches('='))
            .map_err(|e| format!("claims.jwt is not base64url: {e}"))?;
        let raw: RawClaims = serde_json::from_slice(&json)
            .map_err(|e| format!("claims.jwt is not valid claims JSON: {e}"))?;
        let wascap = raw
            .wascap
            .ok_or_else(|| "claims.jwt has no `wascap` section".to_string())?;
        Ok(ProviderClaims {
            issuer: raw.iss,
            subject: raw.sub,
            name: wascap.name,
            version: wascap.ver,
            revision: wascap.rev,
            target_hashes: wascap.target_hashes,
            not_before: raw.nbf,
            expires: raw.exp,
            issued_at: raw.iat,
            config_schema: wascap.config_schema.map(|schema| schema.to_string()),
            jwt: jwt.trim().to_string(),
        })
    }

    /// Verifies the token at `now` (since the epoch): not expired, valid already, signed
    /// by its issuer (an account key, `A…`), for a provider's service key (`V…`). The
    /// error says which.
    pub(crate) fn verify(&self, now: std::time::Duration) -> Result<(), String> {
        lattice_artifacts::jwt::verify(&self.jwt, now).map_err(|e| e.to_string())?;
        if !self.issuer.starts_with('A') {
            return Err(format!(
                "the claims' issuer {} is not an account key (A…)",
                self.issuer
            ));
        }
        if !self.subject.starts_with('V') || nkeys::KeyPair::from_public_key(&self.subject).is_err()
        {
            return Err(format!(
                "wrong subject: {:?} is not a provider's service key (V…)",
                self.subject
            ));
        }
        Ok(())
    }

    /// What `CLAIMS_{subject}` holds for these claims (spec §5.1).
    pub(crate) fn stored(&self) -> StoredClaims {
        StoredClaims::Provider(StoredProviderClaims {
            issuer: self.issuer.clone(),
            name: self.name.clone().unwrap_or_default(),
            revision: self.revision.unwrap_or_default().to_string(),
            subject: self.subject.clone(),
            version: self.version.clone().unwrap_or_default(),
            config_schema: self.config_schema.clone(),
        })
    }

    /// The summary `provider_started` carries.
    pub(crate) fn summary(&self) -> ProviderClaimsSummary {
        let human = |t: Option<u64>| t.map_or_else(|| "never".to_string(), |t| t.to_string());
        ProviderClaimsSummary {
            issuer: self.issuer.clone(),
            tags: None,
            name: self.name.clone(),
            version: self.version.clone(),
            not_before_human: human(self.not_before),
            expires_human: human(self.expires),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An unsigned claims JWT for tests (lattice does not check signatures).
    pub(crate) fn jwt(claims: serde_json::Value) -> String {
        let enc = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        format!(
            "{}.{}.{}",
            enc(&serde_json::json!({"typ":"jwt","alg":"Ed25519"})),
            enc(&claims),
            URL_SAFE_NO_PAD.encode(b"sig")
        )
    }

    #[test]
    fn claims_decode() {
        let token = jwt(serde_json::json!({
            "jti": "x", "iat": 1, "iss": "AISSUER", "sub": "VSUBJECT", "exp": 99,
            "wascap": {"name": "Redis", "rev": 3, "ver": "0.1.0", "target_hashes": {"x86_64-linux": "AB"}}
        }));
        let claims = ProviderClaims::decode(&token).unwrap();
        assert_eq!(claims.name.as_deref(), Some("Redis"));
        assert_eq!(claims.revision, Some(3));
        assert_eq!(claims.target_hashes["x86_64-linux"], "AB");
        assert_eq!(
            serde_json::to_value(claims.stored()).unwrap(),
            serde_json::json!({"issuer":"AISSUER","name":"Redis","revision":"3","subject":"VSUBJECT","version":"0.1.0"})
        );
        let summary = claims.summary();
        assert_eq!(
            (
                summary.expires_human.as_str(),
                summary.not_before_human.as_str()
            ),
            ("99", "never")
        );
    }

    #[test]
    fn verification_names_each_fault() {
        let account = nkeys::KeyPair::new_account();
        let service = nkeys::KeyPair::new_service();
        let now = std::time::Duration::from_secs(1_000_000);
        let signed = |claims: serde_json::Value| {
            ProviderClaims::decode(&lattice_artifacts::jwt::sign(&claims, &account).unwrap())
                .unwrap()
        };
        let good = serde_json::json!({"iss": account.public_key(), "sub": service.public_key(), "wascap": {}});
        assert_eq!(signed(good.clone()).verify(now), Ok(()));
        for (change, expected) in [
            (serde_json::json!({"exp": 5}), "expired"),
            (serde_json::json!({"nbf": 5_000_000}), "not valid before"),
            (
                serde_json::json!({"sub": account.public_key()}),
                "wrong subject",
            ),
        ] {
            let mut claims = good.clone();
            for (k, v) in change.as_object().unwrap() {
                claims[k] = v.clone();
            }
            let err = signed(claims).verify(now).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        // Decoded only: the test helper's tokens carry no real signature.
        let unsigned = ProviderClaims::decode(&jwt(good)).unwrap();
        assert!(unsigned.verify(now).unwrap_err().contains("bad signature"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in ["", "a.b", "a.!!!.c", "a.e30.c"] {
            assert!(ProviderClaims::decode(bad).is_err(), "{bad}");
        }
    }
}
