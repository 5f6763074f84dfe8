//! The all-in-one server and the operator CLI.
//!
//! [`app::App`] composes the services of the workspace on shared backends and serves them on
//! one listener; the `geostack` binary runs every service, the per-service binaries (`proximity`)
//! run one. [`cli`] holds the operator commands.

pub mod app;
pub mod cli;
pub mod demo;
pub mod map;
pub mod roads;
pub mod web;

#[doc(hidden)]
pub use mimalloc::MiMalloc;

/// Makes mimalloc the binary's allocator: glibc malloc took about a tenth of the server's CPU
/// under `bench friends` (every frame allocates), and mimalloc halves that. Every binary that
/// serves (and the benchmark binary, which runs the server as its child) calls this once; it
/// is a macro rather than a static here so that a test binary linking this library (the
/// benchmarks' allocation-counting test) can install its own allocator.
#[macro_export]
macro_rules! use_mimalloc {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::MiMalloc = $crate::MiMalloc;
    };
}
