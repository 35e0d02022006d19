//! Component claims: the JWT a signed component (or core module) carries in a custom
//! section (spec §16.1), checked as wasmCloud 1.9.2 checks it (`wascap` 0.16.2
//! `wasm::extract_claims` + `jwt::validate_token`, then
//! `wasmcloud_runtime::component::claims_token`):
//!
//! 1. the token is the first custom section named `jwt` (at any depth: a precedence
//!    quirk of wascap) or `wasmcloud_jwt` (top level only; what wascap 0.16 writes);
//!    none: the component is unsigned and runs;
//! 2. its claims decode (`typ: jwt`, `alg: Ed25519`, `jti`/`iat`/`iss`/`sub` and a
//!    `wascap` object with `hash`);
//! 3. when `wascap_revision >= 3`, `wascap.hash` must equal the uppercase hex SHA-256 of
//!    the binary with every `jwt`/`wasmcloud_jwt` section removed (nested modules and
//!    components re-encoded, as wascap does);
//! 4. `iss` and `sub` are non-empty and `iss` is an nkeys public key (of any kind);
//! 5. not expired (`exp`), then valid already (`nbf`), then the Ed25519 signature of
//!    `header.claims` by `iss` — in this order, as 1.9.2 reports them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lattice_proto::claims::{StoredClaims, StoredComponentClaims};
use lattice_proto::events::ComponentClaimsSummary;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use wasmparser::{Encoding, Parser, Payload};

/// The section name wascap before 0.9 wrote (still read, at any depth).
const SECTION_JWT: &str = "jwt";
/// The section name wascap 0.9 and later write (read at the top level only).
const SECTION_WC_JWT: &str = "wasmcloud_jwt";
/// Tokens from this `wascap_revision` on carry a module hash that is checked.
const MIN_HASHED_REVISION: u32 = 3;
/// Headers wascap writes when it re-encodes (`wasm_encoder::{Component,Module}::HEADER`).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
const MODULE_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
/// Component-model section IDs of a nested core module and a nested component.
const CORE_MODULE_SECTION: u8 = 1;
const COMPONENT_SECTION: u8 = 4;

/// The claims of a signed component, once verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentClaims {
    /// The token as embedded.
    pub jwt: String,
    /// `iss`: who signed (by convention an account key `A…`).
    pub issuer: String,
    /// `sub`: the component's public key (by convention a module key `M…`).
    pub subject: String,
    /// `wascap.name`.
    pub name: Option<String>,
    /// `wascap.hash`: uppercase hex SHA-256 of the binary without its claims sections.
    pub module_hash: String,
    /// `wascap.tags`.
    pub tags: Option<Vec<String>>,
    /// `wascap.rev`.
    pub revision: Option<i32>,
    /// `wascap.ver`.
    pub version: Option<String>,
    /// `wascap.call_alias`.
    pub call_alias: Option<String>,
    /// `nbf`, seconds since the epoch.
    pub not_before: Option<u64>,
    /// `exp`, seconds since the epoch.
    pub expires: Option<u64>,
    /// `iat`, seconds since the epoch.
    pub issued_at: u64,
}

/// Why a component's embedded claims are refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// The token or the binary around it cannot be read.
    #[error("undecodable claims token: {0}")]
    Undecodable(String),
    /// The bytes are not the ones that were signed.
    #[error(
        "hash mismatch: the claims were signed for module hash {claimed}, the component's is {actual}"
    )]
    HashMismatch {
        /// The hash in the claims.
        claimed: String,
        /// The hash of the bytes.
        actual: String,
    },
    /// `exp` has passed.
    #[error("token expired at `{human}` (exp {exp})")]
    Expired {
        /// `exp`.
        exp: u64,
        /// How long ago, as wascap says it.
        human: String,
    },
    /// `nbf` has not come yet.
    #[error("token not valid before `{human}` (nbf {nbf})")]
    NotYetValid {
        /// `nbf`.
        nbf: u64,
        /// How long until then, as wascap says it.
        human: String,
    },
    /// The signature is not the issuer's over the header and claims.
    #[error("bad signature: the token is not signed by its issuer {issuer}")]
    BadSignature {
        /// The issuer the token names.
        issuer: String,
    },
}

/// `wascap::jwt::Claims<Component>` as it deserializes.
#[derive(Deserialize)]
struct RawClaims {
    exp: Option<u64>,
    #[allow(dead_code)]
    jti: String,
    iat: u64,
    iss: String,
    sub: String,
    nbf: Option<u64>,
    wascap: Option<RawComponent>,
    wascap_revision: Option<u32>,
}

/// `wascap::jwt::Component`.
#[derive(Deserialize)]
struct RawComponent {
    name: Option<String>,
    hash: String,
    tags: Option<Vec<String>>,
    rev: Option<i32>,
    ver: Option<String>,
    call_alias: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    prov: bool,
}

#[derive(Deserialize)]
struct RawHeader {
    typ: String,
    alg: String,
}

/// Finds, decodes and verifies the claims embedded in `wasm` (a component or a core
/// module), now. `Ok(None)`: unsigned (or not parsable at all, which compiling reports).
pub fn verify_component_claims(wasm: &[u8]) -> Result<Option<ComponentClaims>, ClaimsError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    verify_at(wasm, now)
}

/// [`verify_component_claims`] at `now` (since the epoch).
fn verify_at(wasm: &[u8], now: Duration) -> Result<Option<ComponentClaims>, ClaimsError> {
    let undecodable = ClaimsError::Undecodable;
    let Some(section) = embedded_token(wasm) else {
        return Ok(None);
    };
    let jwt = std::str::from_utf8(section)
        .map_err(|e| undecodable(format!("the claims section is not UTF-8: {e}")))?
        .to_string();
    let actual = module_hash(wasm)?;

    // wascap `Claims::decode`, then the module hash.
    let segments: Vec<&str> = jwt.split('.').collect();
    let [header_segment, claims_segment, signature_segment] = segments.as_slice() else {
        return Err(undecodable(format!(
            "the token has {} segments, expected 3",
            segments.len()
        )));
    };
    let raw: RawClaims =
        segment(claims_segment).map_err(|e| undecodable(format!("claims: {e}")))?;
    let Some(meta) = raw.wascap else {
        return Err(undecodable("the claims have no `wascap` metadata".into()));
    };
    if meta.hash != actual && raw.wascap_revision.unwrap_or_default() >= MIN_HASHED_REVISION {
        return Err(ClaimsError::HashMismatch {
            claimed: meta.hash,
            actual,
        });
    }

    // wascap `validate_token`.
    let signature = URL_SAFE_NO_PAD
        .decode(signature_segment)
        .map_err(|e| undecodable(format!("signature: not base64url: {e}")))?;
    let header: RawHeader =
        segment(header_segment).map_err(|e| undecodable(format!("header: {e}")))?;
    if header.alg != "Ed25519" {
        return Err(undecodable(format!(
            "algorithm `{}` (only Ed25519 is accepted)",
            header.alg
        )));
    }
    if header.typ != "jwt" {
        return Err(undecodable(format!(
            "token type `{}`, not `jwt`",
            header.typ
        )));
    }
    if raw.iss.is_empty() {
        return Err(undecodable("the claims have no issuer (`iss`)".into()));
    }
    if raw.sub.is_empty() {
        return Err(undecodable("the claims have no subject (`sub`)".into()));
    }
    let issuer = nkeys::KeyPair::from_public_key(&raw.iss)
        .map_err(|e| undecodable(format!("issuer `{}` is not a public key: {e}", raw.iss)))?;
    let signed_text = format!("{header_segment}.{claims_segment}");
    let signed = issuer.verify(signed_text.as_bytes(), &signature).is_ok();

    // wasmcloud_runtime `claims_token`: expiry, then not-before, then the signature.
    if let Some(exp) = raw.exp
        && Duration::from_secs(exp) < now
    {
        return Err(ClaimsError::Expired {
            exp,
            human: stamp_to_human(exp, now),
        });
    }
    if let Some(nbf) = raw.nbf
        && now < Duration::from_secs(nbf)
    {
        return Err(ClaimsError::NotYetValid {
            nbf,
            human: stamp_to_human(nbf, now),
        });
    }
    if !signed {
        return Err(ClaimsError::BadSignature { issuer: raw.iss });
    }
    Ok(Some(ComponentClaims {
        jwt,
        issuer: raw.iss,
        subject: raw.sub,
        name: meta.name,
        module_hash: meta.hash,
        tags: meta.tags,
        revision: meta.rev,
        version: meta.ver,
        call_alias: meta.call_alias,
        not_before: raw.nbf,
        expires: raw.exp,
        issued_at: raw.iat,
    }))
}

/// One base64url (no padding) JSON segment of a JWT.
fn segment<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| format!("not base64url: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("not the expected JSON: {e}"))
}

/// The first claims section, as wascap's `extract_claims` finds it: `jwt` anywhere,
/// `wasmcloud_jwt` at the top level. A binary that does not parse has none here (the
/// compiler names its fault).
fn embedded_token(wasm: &[u8]) -> Option<&[u8]> {
    let mut depth = 0i32;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.ok()? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::CustomSection(c)
                if c.name() == SECTION_JWT || (c.name() == SECTION_WC_JWT && depth == 0) =>
            {
                return Some(c.data());
            }
            _ => {}
        }
    }
    None
}

/// wascap's module hash: uppercase hex SHA-256 of [`strip_claims_sections`].
fn module_hash(wasm: &[u8]) -> Result<String, ClaimsError> {
    let stripped = strip_claims_sections(wasm)
        .map_err(|e| ClaimsError::Undecodable(format!("the component does not parse: {e}")))?;
    Ok(Sha256::digest(&stripped)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect())
}

/// wascap's `strip_custom_section`: the binary re-encoded section by section (sizes in
/// minimal LEB128, nested modules and components rebuilt), without any `jwt` or
/// `wasmcloud_jwt` custom section at any depth.
fn strip_claims_sections(wasm: &[u8]) -> Result<Vec<u8>, String> {
    let mut output: Vec<u8> = Vec::new();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| e.to_string())?;
        match &payload {
            Payload::Version { encoding, .. } => output.extend_from_slice(match encoding {
                Encoding::Component => &COMPONENT_HEADER,
                Encoding::Module => &MODULE_HEADER,
            }),
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                stack.push(std::mem::take(&mut output));
                continue;
            }
            Payload::End(_) => {
                let Some(mut parent) = stack.pop() else {
                    break;
                };
                parent.push(if output.starts_with(&COMPONENT_HEADER) {
                    COMPONENT_SECTION
                } else {
                    CORE_MODULE_SECTION
                });
                write_leb128(&mut parent, output.len());
                parent.extend_from_slice(&output);
                output = parent;
            }
            _ => {}
        }
        match payload {
            Payload::CustomSection(c) if c.name() == SECTION_JWT || c.name() == SECTION_WC_JWT => {}
            other => {
                if let Some((id, range)) = other.as_section() {
                    let data = wasm.get(range).ok_or("invalid section range")?;
                    output.push(id);
                    write_leb128(&mut output, data.len());
                    output.extend_from_slice(data);
                }
            }
        }
    }
    Ok(output)
}

fn write_leb128(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A custom section (id 0): the name, then the data.
fn custom_section(name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    write_leb128(&mut body, name.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    let mut section = vec![0];
    write_leb128(&mut section, body.len());
    section.extend(body);
    section
}

/// What a signature says about a component (`wash claims sign`'s options).
#[derive(Clone, Debug, Default)]
pub struct ComponentMetadata {
    /// A friendly name.
    pub name: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Revision number.
    pub revision: Option<i32>,
    /// Version text.
    pub version: Option<String>,
    /// A call alias.
    pub call_alias: Option<String>,
    /// Seconds from now until the token expires (none: never).
    pub expires_in: Option<u64>,
    /// Seconds from now until the token becomes valid (none: at once).
    pub not_before_in: Option<u64>,
}

/// Why a component could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The bytes are not a component or module.
    #[error("not a WebAssembly component or module: {0}")]
    NotWasm(String),
    /// A key of the wrong kind.
    #[error("the {role} must be {expected} key (public key starting with {prefix}), not {found}")]
    WrongKey {
        /// `issuer` or `subject`.
        role: &'static str,
        /// The kind needed.
        expected: &'static str,
        /// Its public key's first letter.
        prefix: char,
        /// The public key given.
        found: String,
    },
    /// Signing failed.
    #[error("cannot sign the claims: {0}")]
    Sign(String),
}

/// Embeds claims for `wasm` signed by `issuer` (an account key) for `subject` (a module
/// key), as `wash claims sign` (wascap 0.16 `embed_claims`) does: claims sections already
/// there are removed, the module hash is taken of what is left, and the token is appended
/// as a `wasmcloud_jwt` custom section. Returns the signed binary.
pub fn sign_component(
    wasm: &[u8],
    metadata: &ComponentMetadata,
    issuer: &nkeys::KeyPair,
    subject: &nkeys::KeyPair,
) -> Result<Vec<u8>, SignError> {
    for (role, key, prefix, expected) in [
        ("issuer", issuer, 'A', "an account"),
        ("subject", subject, 'M', "a module"),
    ] {
        let public = key.public_key();
        if !public.starts_with(prefix) {
            return Err(SignError::WrongKey {
                role,
                expected,
                prefix,
                found: public,
            });
        }
    }
    let mut stripped = strip_claims_sections(wasm).map_err(SignError::NotWasm)?;
    if stripped.is_empty() {
        return Err(SignError::NotWasm("no WebAssembly header".into()));
    }
    let hash: String = Sha256::digest(&stripped)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut wascap = serde_json::json!({
        "name": metadata.name,
        "hash": hash,
        "tags": (!metadata.tags.is_empty()).then_some(&metadata.tags),
        "rev": metadata.revision,
        "ver": metadata.version,
        "call_alias": metadata.call_alias,
        "prov": false,
    });
    if let Some(object) = wascap.as_object_mut() {
        object.retain(|_, v| !v.is_null());
    }
    let mut claims = crate::jwt::new_claims(&issuer.public_key(), &subject.public_key(), wascap);
    if let Some(secs) = metadata.expires_in {
        claims["exp"] = (now + secs).into();
    }
    if let Some(secs) = metadata.not_before_in {
        claims["nbf"] = (now + secs).into();
    }
    let jwt = crate::jwt::sign(&claims, issuer).map_err(SignError::Sign)?;
    stripped.extend(custom_section(SECTION_WC_JWT, jwt.as_bytes()));
    Ok(stripped)
}

/// wascap's `stamp_to_human`: the distance from now, rounded to days, hours or minutes,
/// as `in 3days` or `1h ago`.
fn stamp_to_human(stamp: u64, now: Duration) -> String {
    let now = now.as_secs();
    let diff = now.abs_diff(stamp);
    let diff = match diff {
        d if d >= 86_400 => d - d % 86_400,
        d if d >= 3_600 => d - d % 3_600,
        d if d >= 60 => d - d % 60,
        d => d,
    };
    let text = humantime::format_duration(Duration::from_secs(diff));
    if now > stamp {
        format!("{text} ago")
    } else {
        format!("in {text}")
    }
}

impl ComponentClaims {
    /// What `CLAIMS_{subject}` holds for these claims (as 1.9.2 stores them).
    pub fn stored(&self) -> StoredClaims {
        StoredClaims::Component(StoredComponentClaims {
            call_alias: self.call_alias.clone().unwrap_or_default(),
            issuer: self.issuer.clone(),
            name: self.name.clone().unwrap_or_default(),
            revision: self.revision.unwrap_or_default().to_string(),
            subject: self.subject.clone(),
            tags: self.tags.clone().unwrap_or_default(),
            version: self.version.clone().unwrap_or_default(),
        })
    }

    /// The summary `component_scaled` carries (1.9.2 `event::format_component_claims`).
    pub fn summary(&self) -> ComponentClaimsSummary {
        let stamp = |t: Option<u64>| t.map_or_else(|| "never".to_string(), |t| t.to_string());
        ComponentClaimsSummary {
            call_alias: self.call_alias.clone(),
            issuer: self.issuer.clone(),
            tags: self.tags.clone(),
            name: self.name.clone(),
            version: self.version.clone(),
            revision: self.revision,
            not_before_human: stamp(self.not_before),
            expires_human: stamp(self.expires),
        }
    }
}

#[cfg(test)]
mod tests;
