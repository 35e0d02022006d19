//! Making provider archives (spec §10.1) with signed claims (spec §10.2), as
//! `wash par create` does: a tar (gzip by default) of `claims.jwt` and one
//! `{target}.bin` per native binary, the claims naming each binary's uppercase hex SHA-256.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use sha2::Digest as _;

/// This machine's target, as archives name binaries: `{ARCH}-{OS}`, e.g. `x86_64-linux`.
pub fn native_target() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// Why an archive could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ParError {
    /// A key of the wrong kind.
    #[error("the {role} must be {expected} key (its public key starts with {prefix}), not {found}")]
    WrongKey {
        /// `issuer` or `subject`.
        role: &'static str,
        /// What kind is needed.
        expected: &'static str,
        /// The prefix of the right kind.
        prefix: char,
        /// The public key given.
        found: String,
    },
    /// An archive needs at least one binary.
    #[error("a provider archive needs at least one binary")]
    NoBinary,
    /// Signing failed.
    #[error("cannot sign the claims: {0}")]
    Sign(String),
    /// Writing the file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The archive's path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// What goes into an archive.
#[derive(Clone, Debug, Default)]
pub struct ParBuilder {
    name: String,
    vendor: String,
    version: Option<String>,
    revision: Option<i32>,
    config_schema: Option<serde_json::Value>,
    binaries: BTreeMap<String, Vec<u8>>,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct ParWritten {
    /// The provider's public key (`V…`), the claims' subject.
    pub subject: String,
    /// The issuer's public key (`A…`).
    pub issuer: String,
    /// The targets it holds binaries for.
    pub targets: Vec<String>,
    /// The signed claims.
    pub jwt: String,
}

impl ParBuilder {
    /// An archive of the provider `name`, shipped by `vendor`.
    pub fn new(name: impl Into<String>, vendor: impl Into<String>) -> Self {
        ParBuilder {
            name: name.into(),
            vendor: vendor.into(),
            ..Default::default()
        }
    }

    /// Its version text (`ver`).
    pub fn version(mut self, version: Option<String>) -> Self {
        self.version = version;
        self
    }

    /// Its revision number (`rev`).
    pub fn revision(mut self, revision: Option<i32>) -> Self {
        self.revision = revision;
        self
    }

    /// Its config schema (`config_schema`).
    pub fn config_schema(mut self, schema: Option<serde_json::Value>) -> Self {
        self.config_schema = schema;
        self
    }

    /// Adds (or replaces) the binary for `target`.
    pub fn binary(mut self, target: impl Into<String>, bytes: Vec<u8>) -> Self {
        self.binaries.insert(target.into(), bytes);
        self
    }

    /// The claims, signed by `issuer` (an account key) for `subject` (a service key).
    pub fn claims_jwt(
        &self,
        issuer: &nkeys::KeyPair,
        subject: &nkeys::KeyPair,
    ) -> Result<String, ParError> {
        check_kind("issuer", issuer, 'A', "an account")?;
        check_kind("subject", subject, 'V', "a service")?;
        let hashes: BTreeMap<&String, String> = self
            .binaries
            .iter()
            .map(|(target, bytes)| (target, hex_upper(&sha2::Sha256::digest(bytes))))
            .collect();
        let mut wascap = serde_json::json!({
            "name": self.name,
            "vendor": self.vendor,
            "target_hashes": hashes,
        });
        if let Some(rev) = self.revision {
            wascap["rev"] = rev.into();
        }
        if let Some(ver) = &self.version {
            wascap["ver"] = ver.clone().into();
        }
        if let Some(schema) = &self.config_schema {
            wascap["config_schema"] = schema.clone();
        }
        let claims = crate::jwt::new_claims(&issuer.public_key(), &subject.public_key(), wascap);
        crate::jwt::sign(&claims, issuer).map_err(ParError::Sign)
    }

    /// Writes the archive to `path` (gzip unless `gzip` is false).
    pub fn write(
        &self,
        path: &Path,
        issuer: &nkeys::KeyPair,
        subject: &nkeys::KeyPair,
        gzip: bool,
    ) -> Result<ParWritten, ParError> {
        if self.binaries.is_empty() {
            return Err(ParError::NoBinary);
        }
        let jwt = self.claims_jwt(issuer, subject)?;
        let failed = |source| ParError::Write {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::create(path).map_err(failed)?;
        let writer: Box<dyn std::io::Write> = if gzip {
            Box::new(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::default(),
            ))
        } else {
            Box::new(file)
        };
        let mut builder = tar::Builder::new(writer);
        let entries = std::iter::once(("claims.jwt".to_string(), jwt.as_bytes())).chain(
            self.binaries
                .iter()
                .map(|(t, b)| (format!("{t}.bin"), b.as_slice())),
        );
        for (name, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, data)
                .map_err(failed)?;
        }
        builder
            .into_inner()
            .and_then(|mut w| w.flush())
            .map_err(failed)?;
        Ok(ParWritten {
            subject: subject.public_key(),
            issuer: issuer.public_key(),
            targets: self.binaries.keys().cloned().collect(),
            jwt,
        })
    }
}

fn check_kind(
    role: &'static str,
    key: &nkeys::KeyPair,
    prefix: char,
    expected: &'static str,
) -> Result<(), ParError> {
    let public = key.public_key();
    if public.starts_with(prefix) {
        Ok(())
    } else {
        Err(ParError::WrongKey {
            role,
            expected,
            prefix,
            found: public,
        })
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_the_wrong_kind_are_refused_and_archives_hold_what_was_added() {
        let account = nkeys::KeyPair::new_account();
        let service = nkeys::KeyPair::new_service();
        let builder = ParBuilder::new("p", "v").binary(native_target(), b"#!/bin/sh\n".to_vec());
        let err = builder.claims_jwt(&service, &service).unwrap_err();
        assert!(
            err.to_string().contains("issuer must be an account key"),
            "{err}"
        );
        let err = builder.claims_jwt(&account, &account).unwrap_err();
        assert!(
            err.to_string().contains("subject must be a service key"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.par");
        let written = builder.write(&path, &account, &service, false).unwrap();
        assert_eq!(written.targets, [native_target()]);
        let mut archive = tar::Archive::new(std::fs::File::open(&path).unwrap());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            ["claims.jwt".to_string(), format!("{}.bin", native_target())]
        );
        let payload = written.jwt.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            claims["wascap"]["target_hashes"][native_target()],
            hex_upper(&sha2::Sha256::digest(b"#!/bin/sh\n"))
        );
        assert!(
            ParBuilder::new("p", "v")
                .write(&path, &account, &service, true)
                .is_err()
        );
    }
}
