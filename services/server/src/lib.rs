//! The all-in-one server and the operator CLI.
//!
//! [`app::App`] composes the services of the workspace on shared backends and serves them on
//! one listener; the `geostack` binary runs every service, the per-service binaries (`proximity`)
//! run one. [`cli`] holds the operator commands.

pub mod app;
pub mod bench;
pub mod cli;
pub mod roads;
