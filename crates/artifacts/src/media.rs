//! What the layers of wasmCloud artifacts are called (spec §10.1; the component types are
//! the ones wasmCloud 1.9.2 accepts and pushes).

/// A provider archive layer (what `wash push` writes for a PAR).
pub const PROVIDER_ARCHIVE: &str = "application/vnd.wasmcloud.provider.archive.layer.v1+par";
/// The config blob `wash push` writes beside a PAR layer.
pub const PROVIDER_ARCHIVE_CONFIG: &str = "application/vnd.wasmcloud.provider.archive.config";
/// A component layer as the OCI wasm artifact format names it (`oci-wasm`, what `wash push`
/// writes for components today).
pub const WASM_LAYER: &str = "application/wasm";
/// The config of an OCI wasm artifact.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The older wasmCloud component layer type, still accepted.
pub const WASM_LEGACY_LAYER: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
/// A plain OCI layer, accepted for both kinds as 1.9.2 does.
pub const OCI_TAR_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// What an artifact is: which layers it may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    /// A capability provider, shipped as a provider archive.
    Provider,
    /// A WebAssembly component.
    Component,
}

impl ArtifactKind {
    /// The layer media types this kind is pulled from, in order of preference.
    pub fn accepted_layers(self) -> &'static [&'static str] {
        match self {
            ArtifactKind::Provider => &[PROVIDER_ARCHIVE, OCI_TAR_LAYER],
            ArtifactKind::Component => &[WASM_LAYER, WASM_LEGACY_LAYER, OCI_TAR_LAYER],
        }
    }

    /// The layer media type a push writes.
    pub fn pushed_layer(self) -> &'static str {
        match self {
            ArtifactKind::Provider => PROVIDER_ARCHIVE,
            ArtifactKind::Component => WASM_LAYER,
        }
    }

    /// `provider` or `component`, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            ArtifactKind::Provider => "provider",
            ArtifactKind::Component => "component",
        }
    }
}
