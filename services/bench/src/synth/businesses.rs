//! Seeded synthetic businesses clustered like real cities, for benchmarks at 1M-200M.
//!
//! Most points fall in dense clusters around real city centres (a Gaussian core, so the
//! middle of a large city reaches several hundred businesses per km^2); the rest are spread
//! uniformly over the latitudes where people live.

use geo_core::{LatLon, offset_m};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// City centres (lat, lon) and their relative weight.
pub const CITIES: &[(&str, f64, f64, f64)] = &[
    ("Tokyo", 35.6812, 139.7671, 10.0),
    ("Delhi", 28.6139, 77.2090, 8.0),
    ("Shanghai", 31.2304, 121.4737, 8.0),
    ("Sao Paulo", -23.5505, -46.6333, 7.0),
    ("Mexico City", 19.4326, -99.1332, 7.0),
    ("Cairo", 30.0444, 31.2357, 6.0),
    ("Mumbai", 19.0760, 72.8777, 6.0),
    ("New York", 40.7128, -74.0060, 8.0),
    ("Los Angeles", 34.0522, -118.2437, 6.0),
    ("London", 51.5074, -0.1278, 7.0),
    ("Paris", 48.8566, 2.3522, 6.0),
    ("Istanbul", 41.0082, 28.9784, 6.0),
    ("Lagos", 6.5244, 3.3792, 5.0),
    ("Moscow", 55.7558, 37.6173, 5.0),
    ("Jakarta", -6.2088, 106.8456, 5.0),
    ("Seoul", 37.5665, 126.9780, 5.0),
    ("San Francisco", 37.7749, -122.4194, 4.0),
    ("Berlin", 52.5200, 13.4050, 4.0),
    ("Madrid", 40.4168, -3.7038, 4.0),
    ("Sydney", -33.8688, 151.2093, 4.0),
    ("Buenos Aires", -34.6037, -58.3816, 4.0),
    ("Toronto", 43.6532, -79.3832, 4.0),
    ("Chicago", 41.8781, -87.6298, 4.0),
    ("Helsinki", 60.1699, 24.9384, 2.0),
    ("Singapore", 1.3521, 103.8198, 3.0),
    ("Nairobi", -1.2921, 36.8219, 3.0),
    ("Johannesburg", -26.2041, 28.0473, 3.0),
    ("Bangkok", 13.7563, 100.5018, 4.0),
    ("Auckland", -36.8485, 174.7633, 2.0),
    ("Anchorage", 61.2181, -149.9003, 1.0),
];

pub const CATEGORIES: &[&str] = &[
    "restaurant",
    "cafe",
    "bar",
    "fast_food",
    "supermarket",
    "pharmacy",
    "fuel",
    "bank",
    "hotel",
    "clothes",
    "hairdresser",
    "bakery",
];

/// One generated business.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthBusiness {
    pub location: LatLon,
    pub category: &'static str,
}

/// `n` businesses from `seed`; the same seed always gives the same list.
pub fn generate(n: usize, seed: u64) -> Vec<SynthBusiness> {
    let mut rng = StdRng::seed_from_u64(seed);
    let total_weight: f64 = CITIES.iter().map(|c| c.3).sum();
    (0..n)
        .map(|_| {
            let location = if rng.random_bool(0.85) {
                let mut pick = rng.random_range(0.0..total_weight);
                let city = CITIES
                    .iter()
                    .find(|c| {
                        pick -= c.3;
                        pick <= 0.0
                    })
                    .unwrap_or(&CITIES[0]);
                // Box-Muller normal; a tight core plus a wider metro area.
                let sigma_km = if rng.random_bool(0.6) { 3.0 } else { 15.0 };
                let (u1, u2): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random());
                let r = (-2.0 * u1.ln()).sqrt() * sigma_km;
                let theta = 2.0 * std::f64::consts::PI * u2;
                let city_centre = LatLon::clamped(city.1, city.2);
                offset_m(
                    city_centre,
                    r * 1_000.0 * theta.sin(),
                    r * 1_000.0 * theta.cos(),
                )
            } else {
                LatLon::clamped(
                    rng.random_range(-55.0..70.0),
                    rng.random_range(-180.0..180.0),
                )
            };
            SynthBusiness {
                location,
                category: CATEGORIES[rng.random_range(0..CATEGORIES.len())],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid() {
        let a = generate(10_000, 1);
        assert_eq!(a, generate(10_000, 1));
        assert_ne!(a, generate(10_000, 2));
        for b in &a {
            assert!(LatLon::new(b.location.lat, b.location.lon).is_ok());
        }
        // Dense: a good share within 3 km of Tokyo station.
        let tokyo = LatLon::new(35.6812, 139.7671).unwrap();
        let near = a
            .iter()
            .filter(|b| geo_core::haversine_m(tokyo, b.location) < 3000.0)
            .count();
        assert!(near > 50, "{near}");
    }
}
