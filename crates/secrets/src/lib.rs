//! Secrets over NATS (spec §8), for hosts and for a backend users can run.
//!
//! - [`types`]: the documents (`SecretRequest`, `SecretResponse`, `GetSecretError`, …)
//!   and secret references as named config holds them;
//! - [`SecretsClient`]: a host's side: the backend's xkey once per backend, a fresh
//!   ephemeral xkey per request, `InvalidXKey` answered by asking for the key again;
//! - [`server`]: a backend storing values encrypted in a KV bucket (`lattice secrets
//!   serve`), compatible with 1.9.2's `secrets-nats-kv`;
//! - [`admin`]: putting secrets and mapping entities to them over NATS.
//!
//! Secret values travel as [`lattice_proto::SecretValue`], whose `Debug` shows no value.

pub mod admin;
mod client;
pub mod server;
pub mod types;

pub use client::{SecretsClient, SecretsError};
