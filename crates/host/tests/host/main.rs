//! Host integration tests, one binary: a real `nats-server`, real hosts, real provider
//! processes and components (linked once, not once per file).

mod admin;
mod blobstore;
mod bus;
mod cluster;
mod component_claims;
mod components;
mod config_service;
mod ctl_bad_input;
mod ctl_property;
mod drop_in;
mod http_client;
mod http_server;
mod keyvalue;
mod lattice_state;
mod link_delivery;
mod local_calls;
mod messaging;
mod nats_auth;
mod nats_outage;
mod oci_tls;
mod policy;
mod provider_restarts;
mod providers;
mod resources;
mod secrets;
mod signatures;
mod tls;
