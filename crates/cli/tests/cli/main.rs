//! The `lattice` binary end to end, one test binary (linked once, not once per file).

mod commands;
mod common;
mod components;
mod flags;
mod observability;
mod oci;
mod provider_output;
mod secrets;
