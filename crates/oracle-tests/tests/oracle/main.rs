//! Oracle tests, one binary: lattice checked against the official crates (wadm, the
//! control-interface client, provider SDK, wRPC transport), linked once.

mod component_claims_oracle;
mod components_wrpc_oracle;
mod ctl_client_oracle;
mod http_client_oracle;
mod official_lattice_state;
mod official_provider;
mod secrets_oracle;
mod telemetry_oracle;
mod wadm_components_oracle;
mod wadm_oracle;
mod wire_oracle;
mod wrpc_codec_oracle;
mod wrpc_oracle;
