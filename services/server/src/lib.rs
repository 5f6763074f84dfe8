//! The all-in-one server and the operator CLI.
//!
//! [`app::App`] composes the services of the workspace on shared backends and serves them on
//! one listener; the `geostack` binary runs every service, the per-service binaries (`proximity`)
//! run one. [`cli`] holds the operator commands.

pub mod app;
pub mod bench;
pub mod cli;
pub mod roads;

// glibc malloc took about a tenth of the server's CPU under `bench friends` (every frame
// allocates), and mimalloc halves that; one allocator for every binary built from here.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
