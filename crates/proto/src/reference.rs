//! Artifact references as the 1.x host reports them.
//!
//! `provider_started`, provider inventory entries and policy requests carry a provider
//! reference **without its scheme** (1.9.2 `ResourceRef::as_ref`, spec §4), and wash
//! waits for `provider_started` by comparing `image_ref` with exactly that text.
//! Component references, in contrast, are reported as sent.

/// The reference without the scheme the 1.x host strips: `file:///opt/p.par` →
/// `/opt/p.par`, `oci://ghcr.io/x:1` → `ghcr.io/x:1`, `https://r/x:1` → `r/x:1`,
/// `wasmcloud+builtin://http-server` → `http-server`. Anything else (a plain OCI
/// reference, an unknown scheme, which 1.x treats as OCI) is returned unchanged.
pub fn without_scheme(reference: &str) -> &str {
    const STRIPPED: [&str; 5] = [
        "file://",
        "oci://",
        "http://",
        "https://",
        "wasmcloud+builtin://",
    ];
    STRIPPED
        .iter()
        .find_map(|scheme| reference.strip_prefix(scheme))
        .unwrap_or(reference)
}

#[cfg(test)]
mod tests {
    use super::without_scheme;

    #[test]
    fn strips_the_schemes_1x_strips() {
        for (sent, reported) in [
            ("file:///opt/p.par.gz", "/opt/p.par.gz"),
            ("oci://ghcr.io/x:1", "ghcr.io/x:1"),
            ("http://localhost:5000/p:1", "localhost:5000/p:1"),
            ("https://ghcr.io/x:1", "ghcr.io/x:1"),
            ("wasmcloud+builtin://http-server", "http-server"),
            (
                "ghcr.io/wasmcloud/http-server:0.23.0",
                "ghcr.io/wasmcloud/http-server:0.23.0",
            ),
            ("foo://bar", "foo://bar"),
            ("/opt/p", "/opt/p"),
        ] {
            assert_eq!(without_scheme(sent), reported, "{sent}");
        }
    }
}
