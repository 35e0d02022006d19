//! Provider archives (PAR, spec §10.1): a tar (optionally gzip) holding `claims.jwt` and
//! one `{arch}-{os}.bin` per target. lattice takes the binary for its own target and
//! checks it against the uppercase hex SHA-256 in the claims; every problem is an
//! error that says what is wrong, never a panic.

use std::io::Read as _;

use sha2::{Digest as _, Sha256};

use super::claims::ProviderClaims;

/// The target name of this host, e.g. `x86_64-linux`.
pub(crate) fn native_target() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// True if `head` (the file's first bytes) looks like a tar or gzip file.
pub(crate) fn looks_like_archive(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b]) || head.get(257..262) == Some(b"ustar")
}

/// The parts of an archive lattice runs.
#[derive(Debug)]
pub(crate) struct ParContents {
    pub(crate) claims: ProviderClaims,
    /// The claims as the archive holds them.
    pub(crate) jwt: String,
    pub(crate) binary: Vec<u8>,
}

/// Reads an archive and returns the claims and the checked native binary.
pub(crate) fn read(bytes: &[u8]) -> Result<ParContents, String> {
    let reader: Box<dyn std::io::Read> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let target = native_target();
    let mut archive = tar::Archive::new(reader);
    let mut jwt = None;
    let mut binary = None;
    let mut targets = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| format!("not a provider archive (tar): {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("corrupt provider archive: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("corrupt provider archive: {e}"))?
            .into_owned();
        let Some(stem) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| format!("corrupt provider archive entry {}: {e}", path.display()))?;
        match stem.as_str() {
            "claims" => {
                jwt = Some(
                    String::from_utf8(data).map_err(|_| "claims.jwt is not UTF-8".to_string())?,
                )
            }
            "world" => {}
            _ => {
                if stem == target {
                    binary = Some(data);
                }
                targets.push(stem);
            }
        }
    }
    let jwt = jwt.ok_or("the provider archive has no claims.jwt")?;
    let claims = ProviderClaims::decode(&jwt)?;
    let binary = binary.ok_or_else(|| {
        format!(
            "the provider archive has no binary for this host's target {target} (it has: {})",
            if targets.is_empty() {
                "none".to_string()
            } else {
                targets.join(", ")
            }
        )
    })?;
    let expected = claims.target_hashes.get(&target).ok_or_else(|| {
        format!("the archive's claims have no hash for {target}, so its binary cannot be checked")
    })?;
    let actual = hex_upper(&Sha256::digest(&binary));
    if !expected.eq_ignore_ascii_case(&actual) {
        return Err(format!(
            "hash mismatch for {target}: the claims say {expected}, the binary's SHA-256 is {actual}"
        ));
    }
    Ok(ParContents {
        claims,
        jwt,
        binary,
    })
}

/// Whether the file at `path` is the binary `claims` name for this host's target
/// (uppercase hex SHA-256, as archives record it), read in chunks, never whole.
pub(crate) fn file_matches_claims(path: &std::path::Path, claims: &ProviderClaims) -> bool {
    let Some(expected) = claims.target_hashes.get(&native_target()) else {
        return false;
    };
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(_) => return false,
        }
    }
    expected.eq_ignore_ascii_case(&hex_upper(&hasher.finalize()))
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::artifacts::claims::tests::jwt;

    /// Builds an archive with the given binary for the native target and the claimed hash.
    pub(crate) fn archive(binary: &[u8], claimed_hash: Option<String>, gzip: bool) -> Vec<u8> {
        let mut hashes = serde_json::Map::new();
        if let Some(h) = claimed_hash {
            hashes.insert(native_target(), h.into());
        }
        let claims = jwt(
            serde_json::json!({"iss":"AISSUER","sub":"VSUB","wascap":{"name":"Test","target_hashes":hashes}}),
        );
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("claims.jwt".to_string(), claims.as_bytes()),
            (format!("{}.bin", native_target()), binary),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        if !gzip {
            return tar;
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    pub(crate) fn sha(data: &[u8]) -> String {
        hex_upper(&Sha256::digest(data))
    }

    #[test]
    fn good_archives_yield_the_binary() {
        for gzip in [false, true] {
            let bytes = archive(b"#!/bin/sh\n", Some(sha(b"#!/bin/sh\n")), gzip);
            assert!(looks_like_archive(&bytes));
            let contents = read(&bytes).unwrap();
            assert_eq!(contents.binary, b"#!/bin/sh\n");
            assert_eq!(contents.claims.name.as_deref(), Some("Test"));
        }
    }

    #[test]
    fn bad_archives_are_clear_errors() {
        let err = read(&archive(b"x", Some(sha(b"y")), true)).unwrap_err();
        assert!(err.starts_with("hash mismatch"), "{err}");
        let err = read(&archive(b"x", None, false)).unwrap_err();
        assert!(err.contains("no hash for"), "{err}");
        let err = read(b"definitely not a tar file, but long enough to be read as one........")
            .unwrap_err();
        assert!(err.contains("archive"), "{err}");
        assert!(!looks_like_archive(b"\x7fELF"));
    }
}
