//! The one place where bytes from disk become executable code.
//!
//! A cache entry is `{stem}.cwasm` (a serialized component) beside
//! `{stem}.cwasm.blake3` (its BLAKE3 digest and length). [`open_verified`] checks the
//! entry; only a [`VerifiedArtifact`] (constructible only here) reaches the `unsafe`
//! [`Component::deserialize_file`] call, and it maps the very file that was hashed.
#![allow(unsafe_code)] // `Component::deserialize_file`, see the SAFETY note on `deserialize`.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

/// First word of a sidecar; a new layout changes it.
const SIDECAR_TAG: &str = "lattice-cwasm-v2";
/// Longest sidecar we read.
const SIDECAR_MAX: u64 = 256;

/// An entry whose bytes matched its sidecar, kept open so that the same file is mapped.
pub(super) struct VerifiedArtifact {
    file: File,
    path: PathBuf,
}

/// What [`open_verified`] found.
pub(super) enum Verification {
    /// No entry.
    Missing,
    /// An entry that must not be loaded, and why.
    Rejected(String),
    /// An entry that may be loaded.
    Verified(VerifiedArtifact),
}

/// The sidecar text for serialized bytes.
pub(super) fn sidecar_text(artifact: &[u8]) -> String {
    format!(
        "{SIDECAR_TAG} blake3={} len={}\n",
        blake3::hash(artifact).to_hex(),
        artifact.len()
    )
}

fn parse_sidecar(text: &str) -> Option<(&str, u64)> {
    let mut words = text.trim_end().split(' ');
    let (tag, digest, len) = (words.next()?, words.next()?, words.next()?);
    let digest = digest.strip_prefix("blake3=")?;
    let len = len.strip_prefix("len=")?.parse().ok()?;
    let well_formed = tag == SIDECAR_TAG
        && words.next().is_none()
        && digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    well_formed.then_some((digest, len))
}

/// Checks the entry at `artifact` against `sidecar`: both present, the artifact a
/// regular file of this user that nobody else may write, of the recorded length
/// and BLAKE3 digest, and a precompiled wasmtime *component*.
pub(super) fn open_verified(artifact: &Path, sidecar: &Path) -> Verification {
    let file = match File::open(artifact) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return if sidecar.exists() {
                Verification::Rejected("the artifact is missing beside its sidecar".into())
            } else {
                Verification::Missing
            };
        }
        Err(err) => return Verification::Rejected(format!("cannot open the artifact: {err}")),
    };
    match verify(file, artifact, sidecar) {
        Ok(verified) => Verification::Verified(verified),
        Err(reason) => Verification::Rejected(reason),
    }
}

fn verify(file: File, artifact: &Path, sidecar: &Path) -> Result<VerifiedArtifact, String> {
    let mut text = String::new();
    File::open(sidecar)
        .and_then(|f| f.take(SIDECAR_MAX).read_to_string(&mut text))
        .map_err(|err| format!("cannot read the sidecar: {err}"))?;
    let (expected_digest, expected_len) =
        parse_sidecar(&text).ok_or_else(|| format!("malformed sidecar {text:?}"))?;

    let metadata = file
        .metadata()
        .map_err(|err| format!("cannot stat the artifact: {err}"))?;
    let user = nix::unistd::geteuid().as_raw();
    if !metadata.is_file() || metadata.uid() != user || metadata.mode() & 0o022 != 0 {
        return Err(format!(
            "the artifact is not a regular file of uid {user} writable only by it \
             (uid {}, mode {:o})",
            metadata.uid(),
            metadata.mode()
        ));
    }
    if metadata.len() != expected_len {
        return Err(format!(
            "the artifact has {} bytes, its sidecar says {expected_len}",
            metadata.len()
        ));
    }
    let actual = digest_of(&file).map_err(|err| format!("cannot read the artifact: {err}"))?;
    if actual != expected_digest {
        return Err(format!(
            "the artifact's BLAKE3 digest is {actual}, its sidecar says {expected_digest}"
        ));
    }
    let verified = VerifiedArtifact {
        path: mapping_path(&file, artifact),
        file,
    };
    match Engine::detect_precompiled_file(&verified.path) {
        Ok(Some(Precompiled::Component)) => Ok(verified),
        Ok(other) => Err(format!(
            "the artifact is not a precompiled component ({other:?})"
        )),
        Err(err) => Err(format!("the artifact is not a wasmtime artifact: {err:#}")),
    }
}

/// BLAKE3 (hex) of what `file` holds: several times faster than SHA-256 here (SIMD
/// over many chunks at once), which is most of a cache hit's time for a big component.
fn digest_of(mut file: &File) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        match file.read(&mut buffer)? {
            0 => return Ok(hasher.finalize().to_hex().to_string()),
            n => {
                hasher.update(&buffer[..n]);
            }
        }
    }
}

/// A path that opens the same file as `file` (on Linux through `/proc/self/fd`, so
/// a rename over `artifact` after verification cannot swap what gets mapped).
fn mapping_path(file: &File, artifact: &Path) -> PathBuf {
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    if cfg!(target_os = "linux") && fs::metadata(&by_fd).is_ok() {
        by_fd
    } else {
        artifact.to_owned()
    }
}

/// Maps a verified artifact as a component of `engine`.
pub(super) fn deserialize(
    engine: &Engine,
    artifact: &VerifiedArtifact,
) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` requires that the file holds bytes produced by
    // wasmtime's own serialization (it runs them as native code without validating
    // them) and that the file is not modified while it is mapped.
    // - Provenance: the file lives in a directory created 0700, owned by this user
    //   and refused if group/other-writable (`dir.rs`); only this crate's `store`
    //   writes there, from `Component::serialize` of a component this process
    //   compiled. Its bytes (read through the same open file we map, via
    //   `/proc/self/fd`) matched the BLAKE3 digest and length recorded beside them when it
    //   was written, which rules out truncated, partial or corrupted writes, and
    //   `detect_precompiled_file` saw a wasmtime component artifact. wasmtime itself
    //   then checks the artifact's engine configuration and version against
    //   `engine` (and the file name already holds the engine's compatibility hash).
    // - Immutability: entries are only ever published by atomic rename of a fully
    //   written temporary file and replaced the same way, never written in place, so
    //   the mapped inode keeps its bytes for as long as it is mapped.
    // What remains trusted is this user account: another process running as this
    // user could rewrite the file in place; such a process can already run code as us.
    let component = unsafe { Component::deserialize_file(engine, &artifact.path) }?;
    let _ = &artifact.file; // kept open until mapped, so `/proc/self/fd` stays valid
    Ok(component)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_round_trip_and_malformed_ones_are_refused() {
        let text = sidecar_text(b"abc");
        let (digest, len) = parse_sidecar(&text).expect("well formed");
        // BLAKE3("abc"), from the BLAKE3 reference.
        assert_eq!(
            digest,
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        assert_eq!(len, 3);
        assert!(parse_sidecar("lattice-cwasm-v2 blake3=00 len=3").is_none());
        assert!(parse_sidecar(&text.replace("v2", "v1")).is_none());
        assert!(parse_sidecar(&text.replace("blake3=", "sha256=")).is_none());
        assert!(parse_sidecar(&format!("{} extra", text.trim_end())).is_none());
    }
}
