//! The `lattice` binary end to end, one test binary (linked once, not once per file).

mod common;
mod commands;
mod components;
mod flags;
mod provider_output;
