//! Tests against the official wasmCloud crates live in `tests/`.
