//! Provider archives (PAR, spec §10.1): a tar (optionally gzip) holding `claims.jwt` and
//! one `{arch}-{os}.bin` per target. lattice takes the binary for its own target and
//! checks it against the uppercase hex SHA-256 in the claims; every problem is an
//! error that says what is wrong, never a panic.

use std::io::Read;

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

/// What an unpacked archive holds besides the binary.
#[derive(Debug)]
pub(crate) struct Unpacked {
    pub(crate) claims: ProviderClaims,
    /// The claims as the archive holds them.
    pub(crate) jwt: String,
}

/// Claims larger than this are not claims.
const MAX_CLAIMS_BYTES: u64 = 1024 * 1024;

/// Unpacks the archive at `source` (tar, or tar.gz): the native binary is streamed to
/// `binary` (created, never held whole in memory) while it is hashed, then checked
/// against the claims. On an error `binary` may be left behind for the caller to remove.
pub(crate) fn unpack(
    source: &std::path::Path,
    binary: &std::path::Path,
) -> Result<Unpacked, String> {
    let mut file = std::io::BufReader::new(
        std::fs::File::open(source)
            .map_err(|e| format!("cannot read {}: {e}", source.display()))?,
    );
    let gzip = std::io::BufRead::fill_buf(&mut file)
        .map_err(|e| format!("cannot read {}: {e}", source.display()))?
        .starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    unpack_from(reader, binary)
}

fn unpack_from(reader: impl Read, binary_path: &std::path::Path) -> Result<Unpacked, String> {
    let target = native_target();
    let mut archive = tar::Archive::new(reader);
    let mut jwt = None;
    let mut binary_hash = None;
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
        let corrupt =
            |e: std::io::Error| format!("corrupt provider archive entry {}: {e}", path.display());
        match stem.as_str() {
            "claims" => {
                let mut data = Vec::new();
                (&mut entry)
                    .take(MAX_CLAIMS_BYTES)
                    .read_to_end(&mut data)
                    .map_err(corrupt)?;
                jwt = Some(
                    String::from_utf8(data).map_err(|_| "claims.jwt is not UTF-8".to_string())?,
                )
            }
            "world" => {}
            _ => {
                if stem == target {
                    let out = std::fs::File::create(binary_path)
                        .map_err(|e| format!("cannot write {}: {e}", binary_path.display()))?;
                    let mut writer = HashingWriter {
                        inner: std::io::BufWriter::new(out),
                        hasher: Sha256::new(),
                    };
                    std::io::copy(&mut entry, &mut writer).map_err(corrupt)?;
                    let HashingWriter { inner, hasher } = writer;
                    inner
                        .into_inner()
                        .map_err(|e| {
                            format!("cannot write {}: {}", binary_path.display(), e.error())
                        })?
                        .sync_all()
                        .map_err(|e| format!("cannot write {}: {e}", binary_path.display()))?;
                    binary_hash = Some(hex_upper(&hasher.finalize()));
                }
                targets.push(stem);
            }
        }
    }
    let jwt = jwt.ok_or("the provider archive has no claims.jwt")?;
    let claims = ProviderClaims::decode(&jwt)?;
    let actual = binary_hash.ok_or_else(|| {
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
    if !expected.eq_ignore_ascii_case(&actual) {
        return Err(format!(
            "hash mismatch for {target}: the claims say {expected}, the binary's SHA-256 is {actual}"
        ));
    }
    Ok(Unpacked { claims, jwt })
}

/// Hashes what it writes.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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

    /// Unpacks `bytes` (written to a file first) and returns the binary too.
    fn read(bytes: &[u8]) -> Result<(Unpacked, Vec<u8>), String> {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("p.par");
        std::fs::write(&source, bytes).unwrap();
        let binary = dir.path().join("bin");
        let unpacked = unpack(&source, &binary)?;
        Ok((unpacked, std::fs::read(&binary).unwrap()))
    }

    #[test]
    fn good_archives_yield_the_binary() {
        for gzip in [false, true] {
            let bytes = archive(b"#!/bin/sh\n", Some(sha(b"#!/bin/sh\n")), gzip);
            assert!(looks_like_archive(&bytes));
            let (contents, binary) = read(&bytes).unwrap();
            assert_eq!(binary, b"#!/bin/sh\n");
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
