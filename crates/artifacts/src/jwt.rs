//! Claims JWTs as wascap writes and checks them (spec §10.2): the header
//! `{"typ":"jwt","alg":"Ed25519"}`, the claims, and the issuer's Ed25519 signature of the
//! two, each base64url without padding.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Claims as wascap issues them: a fresh `jti`, `iat` now, `iss`, `sub`, the `wascap`
/// metadata and `wascap_revision` 3.
pub fn new_claims(issuer: &str, subject: &str, wascap: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "jti": uuid::Uuid::new_v4().simple().to_string(),
        "iat": now().as_secs(),
        "iss": issuer,
        "sub": subject,
        "wascap": wascap,
        "wascap_revision": 3,
    })
}

/// Now, since the epoch.
pub fn now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Signs `claims` with `issuer`.
pub fn sign(claims: &serde_json::Value, issuer: &nkeys::KeyPair) -> Result<String, String> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"jwt","alg":"Ed25519"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let signature = issuer.sign(signed.as_bytes()).map_err(|e| e.to_string())?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// Why a token is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtRefusal {
    /// It is not a JWT wascap would write.
    #[error("undecodable claims token: {0}")]
    Undecodable(String),
    /// `exp` has passed.
    #[error("the claims expired at {exp} (seconds since the epoch)")]
    Expired {
        /// `exp`.
        exp: u64,
    },
    /// `nbf` has not come yet.
    #[error("the claims are not valid before {nbf} (seconds since the epoch)")]
    NotYetValid {
        /// `nbf`.
        nbf: u64,
    },
    /// The signature is not the issuer's.
    #[error("bad signature: the claims are not signed by their issuer {issuer}")]
    BadSignature {
        /// The issuer the token names.
        issuer: String,
    },
}

#[derive(serde::Deserialize)]
struct Header {
    typ: String,
    alg: String,
}

#[derive(serde::Deserialize)]
struct Times {
    #[serde(default)]
    iss: String,
    exp: Option<u64>,
    nbf: Option<u64>,
}

/// Checks `jwt` at `now` (since the epoch): its form, that it has not expired, that it is
/// valid already, and the issuer's signature, in that order.
pub fn verify(jwt: &str, now: Duration) -> Result<(), JwtRefusal> {
    let undecodable = JwtRefusal::Undecodable;
    let segments: Vec<&str> = jwt.trim().split('.').collect();
    let [header, claims, signature] = segments.as_slice() else {
        return Err(undecodable(format!(
            "{} segments, expected 3",
            segments.len()
        )));
    };
    let decode = |text: &str| {
        URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|e| undecodable(format!("not base64url: {e}")))
    };
    let head: Header = serde_json::from_slice(&decode(header)?)
        .map_err(|e| undecodable(format!("header: {e}")))?;
    if head.alg != "Ed25519" || !head.typ.eq_ignore_ascii_case("jwt") {
        return Err(undecodable(format!(
            "a `{}` token signed with `{}` (only jwt with Ed25519)",
            head.typ, head.alg
        )));
    }
    let times: Times = serde_json::from_slice(&decode(claims)?)
        .map_err(|e| undecodable(format!("claims: {e}")))?;
    if let Some(exp) = times.exp
        && Duration::from_secs(exp) < now
    {
        return Err(JwtRefusal::Expired { exp });
    }
    if let Some(nbf) = times.nbf
        && now < Duration::from_secs(nbf)
    {
        return Err(JwtRefusal::NotYetValid { nbf });
    }
    let bad = || JwtRefusal::BadSignature {
        issuer: times.iss.clone(),
    };
    let issuer = nkeys::KeyPair::from_public_key(&times.iss).map_err(|_| bad())?;
    let signature = decode(signature)?;
    issuer
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_is_named() {
        let key = nkeys::KeyPair::new_account();
        let now = Duration::from_secs(1_000_000);
        let token = |claims: serde_json::Value| sign(&claims, &key).unwrap();
        let iss = key.public_key();
        assert_eq!(verify(&token(serde_json::json!({"iss": iss})), now), Ok(()));
        assert_eq!(
            verify(&token(serde_json::json!({"iss": iss, "exp": 10})), now),
            Err(JwtRefusal::Expired { exp: 10 })
        );
        assert_eq!(
            verify(
                &token(serde_json::json!({"iss": iss, "nbf": 2_000_000})),
                now
            ),
            Err(JwtRefusal::NotYetValid { nbf: 2_000_000 })
        );
        let other = nkeys::KeyPair::new_account().public_key();
        let forged = token(serde_json::json!({"iss": other}));
        assert!(matches!(
            verify(&forged, now),
            Err(JwtRefusal::BadSignature { .. })
        ));
        assert!(matches!(
            verify("a.b", now),
            Err(JwtRefusal::Undecodable(_))
        ));
    }
}
