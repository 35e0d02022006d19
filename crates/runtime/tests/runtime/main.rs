//! End-to-end tests of `lattice-runtime` with tiny components written in the
//! component-model text format (no wasm32 Rust target needed).

mod adapter;
mod cache;
mod engine;
mod invoke;
mod limits;
mod support;
