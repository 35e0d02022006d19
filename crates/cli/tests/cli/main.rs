//! The `lattice` binary end to end, one test binary (linked once, not once per file).

mod commands;
mod common;
mod components;
mod ctl_load;
mod flags;
mod host_faults;
mod observability;
mod oci;
mod provider_faults;
mod provider_output;
mod secrets;
