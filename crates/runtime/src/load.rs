//! Turning wasm bytes into a component: telling components from core modules,
//! wrapping core modules with the WASI preview 1 reactor adapter (as 1.9.2 does),
//! and compiling.

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::cache::CacheOutcome;
use crate::error::LoadError;

/// What the loaded bytes were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A component.
    Component,
    /// A core module, wrapped as a component with the WASI preview 1 reactor adapter.
    CoreModule,
}

impl fmt::Display for WasmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Component => "component",
            Self::CoreModule => "core module",
        })
    }
}

/// A component ready to be prepared, and how it was obtained.
#[derive(Clone)]
pub struct LoadedComponent {
    /// The compiled component.
    pub component: Component,
    /// What the bytes were.
    pub kind: WasmKind,
    /// Whether the compile cache was used.
    pub outcome: CacheOutcome,
    /// BLAKE3 of the bytes (hex), the cache key with the engine's hash.
    pub digest: String,
    /// How long the load took.
    pub elapsed: Duration,
}

impl fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("kind", &self.kind)
            .field("outcome", &self.outcome)
            .field("digest", &self.digest)
            .field("elapsed", &self.elapsed)
            .finish_non_exhaustive()
    }
}

/// Tells a component from a core module by the wasm header.
pub(crate) fn classify(bytes: &[u8]) -> Result<WasmKind, LoadError> {
    if wasmparser::Parser::is_component(bytes) {
        Ok(WasmKind::Component)
    } else if wasmparser::Parser::is_core_wasm(bytes) {
        Ok(WasmKind::CoreModule)
    } else {
        Err(LoadError::NotWasm {
            len: bytes.len(),
            prefix: bytes[..bytes.len().min(8)].to_vec(),
        })
    }
}

/// Compiles `bytes` (wrapping a core module first). Blocking: seconds for big ones.
pub(crate) fn compile(
    engine: &Engine,
    kind: WasmKind,
    bytes: &[u8],
) -> Result<Component, LoadError> {
    let compile = |bytes: &[u8]| {
        Component::new(engine, bytes).map_err(|err| LoadError::Compile {
            kind,
            reason: format!("{err:#}"),
        })
    };
    match kind {
        WasmKind::Component => compile(bytes),
        WasmKind::CoreModule => compile(&wrap_core_module(bytes)?),
    }
}

/// Wraps a WASI preview 1 core module (with its `component-type` metadata, as
/// wit-bindgen embeds it) as a component, with the reactor adapter.
pub(crate) fn wrap_core_module(bytes: &[u8]) -> Result<Vec<u8>, LoadError> {
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(bytes)
        .map_err(wrap_error)?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .map_err(wrap_error)?
        .encode()
        .map_err(wrap_error)
}

fn wrap_error(err: impl fmt::Display) -> LoadError {
    LoadError::Wrap(format!("{err:#}"))
}

/// SHA-256 of the adapter (hex): part of a wrapped module's cache key.
pub(crate) fn adapter_sha256() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    SHA.get_or_init(|| {
        format!(
            "{:x}",
            Sha256::digest(WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_tell_components_from_modules_and_junk() {
        assert_eq!(classify(b"\0asm\x01\0\0\0").unwrap(), WasmKind::CoreModule);
        assert_eq!(classify(b"\0asm\x0d\0\x01\0").unwrap(), WasmKind::Component);
        let err = classify(b"#!/bin/sh\necho").unwrap_err();
        assert!(
            err.to_string().contains("not a WebAssembly binary"),
            "{err}"
        );
    }
}
