//! Seeded synthetic data for the benchmarks: [`country`], a country-scale road network fed
//! through the real graph builder, and [`businesses`], businesses clustered like real cities.

pub mod businesses;
pub mod country;
