//! Start references that name registry artifacts.
//!
//! A start command's reference is an OCI reference when it is not `file://` and not
//! `wasmcloud+builtin://` (spec §3.1.1): `oci://` and `http(s)://` are stripped, anything
//! else is taken as it is. As in 1.9.2 the reference is lowercased (the OCI spec allows
//! no capitals). A reference with neither tag nor digest means `:latest`.

use std::fmt;
use std::str::FromStr as _;

use crate::error::OciError;

/// A parsed registry reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactRef {
    inner: oci_client::Reference,
    /// The reference as the start command gave it.
    given: String,
}

impl ArtifactRef {
    /// Parses the reference of a start command (or of a push).
    pub fn parse(reference: &str) -> Result<Self, OciError> {
        let bare = ["oci://", "https://", "http://"]
            .iter()
            .find_map(|scheme| reference.strip_prefix(scheme))
            .unwrap_or(reference);
        let inner = oci_client::Reference::from_str(&bare.to_lowercase()).map_err(|e| {
            OciError::BadReference {
                reference: reference.to_string(),
                reason: e.to_string(),
            }
        })?;
        Ok(ArtifactRef {
            inner,
            given: reference.to_string(),
        })
    }

    /// The registry host (with its port), as credentials and `--allowed-insecure` name it.
    pub fn registry(&self) -> &str {
        self.inner.resolve_registry()
    }

    /// The repository path.
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The digest (`sha256:…`), if the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// Whether this reference means `:latest`: tagged so, or neither tagged nor pinned.
    pub fn is_latest(&self) -> bool {
        match (self.inner.tag(), self.inner.digest()) {
            (Some(tag), _) => tag == "latest",
            (None, digest) => digest.is_none(),
        }
    }

    /// The reference as it was given.
    pub fn given(&self) -> &str {
        &self.given
    }

    pub(crate) fn oci(&self) -> &oci_client::Reference {
        &self.inner
    }
}

impl fmt::Display for ArtifactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

/// Whether a start reference names a registry artifact (not a file, not a builtin).
pub fn is_registry_reference(reference: &str) -> bool {
    !reference.starts_with("file://") && !reference.starts_with("wasmcloud+builtin://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_stripped_and_latest_is_recognised() {
        let r = ArtifactRef::parse("oci://LOCALHOST:5000/Lattice/echo:0.1.0").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "lattice/echo");
        assert_eq!(r.tag(), Some("0.1.0"));
        assert!(!r.is_latest());
        assert_eq!(r.given(), "oci://LOCALHOST:5000/Lattice/echo:0.1.0");
        for latest in ["ghcr.io/x/y:latest", "ghcr.io/x/y", "https://ghcr.io/x/y"] {
            assert!(ArtifactRef::parse(latest).unwrap().is_latest(), "{latest}");
        }
        let pinned = format!("127.0.0.1:5000/p@sha256:{}", "a".repeat(64));
        let r = ArtifactRef::parse(&pinned).unwrap();
        assert!(!r.is_latest());
        assert_eq!(r.digest().map(|d| d.len()), Some(71));
        assert!(ArtifactRef::parse("ghcr.io/x/y:bad tag").is_err());
        assert!(is_registry_reference("ghcr.io/x:1"));
        assert!(!is_registry_reference("file:///p"));
        assert!(!is_registry_reference("wasmcloud+builtin://http-server"));
    }
}
