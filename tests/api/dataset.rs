//! The correctness dataset: a dense city, the equator / prime meridian crossing, the design's
//! La Roche-Chalais / Pomerol pair, latitudes 60 and 78, both sides of the antimeridian,
//! both polar caps beyond 85 degrees, and exact duplicates (ties broken by id).

use geo_core::{LatLon, degree_span, haversine_m, offset_m};
use kit::db::Db;
use proximity::model::BusinessFields;
use rand::{Rng, SeedableRng, rngs::StdRng};
use sqlx::Row;

pub const CATEGORIES: [&str; 3] = ["restaurant", "cafe", "fuel"];

fn fields(lat: f64, lon: f64, category: &str, i: usize) -> BusinessFields {
    BusinessFields {
        name: format!("b{i}"),
        category: category.to_string(),
        address: None,
        city: None,
        state: None,
        country: None,
        postcode: None,
        location: LatLon::new(lat, lon.clamp(-180.0, 180.0)).unwrap(),
        opening_hours: None,
        phone: None,
        website: None,
    }
}

/// Points in a lat/lon box.
fn cluster(
    rng: &mut StdRng,
    out: &mut Vec<BusinessFields>,
    n: usize,
    lat: (f64, f64),
    lon: (f64, f64),
) {
    for _ in 0..n {
        let i = out.len();
        let category = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
        out.push(fields(
            rng.random_range(lat.0..=lat.1),
            rng.random_range(lon.0..=lon.1),
            category,
            i,
        ));
    }
}

/// About 4,000 businesses.
pub fn generate(seed: u64) -> Vec<BusinessFields> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    // Dense city: 900 in 1.5 km x 1.5 km (400 per km^2) in Helsinki, latitude 60.
    let (d_lat, d_lon) = degree_span(60.17, 1_500.0);
    cluster(
        &mut rng,
        &mut out,
        900,
        (60.17, 60.17 + d_lat),
        (24.94, 24.94 + d_lon),
    );
    // A sparser ring around it, out to 30 km.
    cluster(&mut rng, &mut out, 300, (59.9, 60.45), (24.4, 25.5));
    // Equator and prime meridian.
    cluster(&mut rng, &mut out, 400, (-0.25, 0.25), (-0.25, 0.25));
    // La Roche-Chalais (u000) and Pomerol (ezzz), 30 km apart across the prime meridian.
    cluster(&mut rng, &mut out, 150, (44.85, 45.25), (-0.3, 0.1));
    // Latitude 78 (Svalbard).
    cluster(&mut rng, &mut out, 300, (77.9, 78.4), (14.5, 16.5));
    // Both sides of the antimeridian (Fiji).
    cluster(&mut rng, &mut out, 250, (-17.3, -16.9), (179.6, 180.0));
    cluster(&mut rng, &mut out, 250, (-17.3, -16.9), (-180.0, -179.6));
    // Polar caps beyond 85 degrees, including points near the poles.
    cluster(&mut rng, &mut out, 300, (89.7, 90.0), (-180.0, 180.0));
    cluster(&mut rng, &mut out, 200, (-86.5, -85.1), (-180.0, 180.0));
    // Exact duplicates: same spot, ties broken by id.
    for i in 0..40 {
        out.push(fields(60.175, 24.95, CATEGORIES[i % 3], out.len()));
    }
    out
}

/// A stored business as the brute-force reference sees it.
#[derive(Clone, Debug)]
pub struct Point {
    pub id: i64,
    pub location: LatLon,
    pub category: String,
}

/// Inserts the dataset and reads back ids.
pub async fn load(db: &Db, rows: &[BusinessFields]) -> Vec<Point> {
    proximity::store::insert_many(db, Some(7), rows)
        .await
        .unwrap();
    sqlx::query("SELECT id, latitude, longitude, category FROM businesses ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| Point {
            id: row.get("id"),
            location: LatLon::new(row.get("latitude"), row.get("longitude"))
                .expect("the API stored a valid coordinate"),
            category: row.get("category"),
        })
        .collect()
}

/// Brute force: every point within `radius_m`, ascending (distance, id).
pub fn brute_force(
    points: &[Point],
    center: LatLon,
    radius_m: f64,
    category: Option<&str>,
) -> Vec<(i64, f64)> {
    let mut hits: Vec<(i64, f64)> = points
        .iter()
        .filter(|p| category.is_none_or(|c| p.category == c))
        .map(|p| (p.id, haversine_m(center, p.location)))
        .filter(|(_, d)| *d <= radius_m)
        .collect();
    hits.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    hits
}

/// Query centres: near data points (offset up to 1.5 radii, so circles cut clusters at every
/// angle), plus a few anywhere; longitudes wrap.
pub fn centres(points: &[Point], radius_m: f64, n: usize, seed: u64) -> Vec<LatLon> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            if i % 20 == 0 {
                return LatLon::new(
                    rng.random_range(-90.0..=90.0),
                    rng.random_range(-180.0..=180.0),
                )
                .unwrap();
            }
            let p = points[rng.random_range(0..points.len())].location;
            let dist_m = rng.random_range(0.0..1.5) * radius_m;
            let bearing = rng.random_range(0.0..std::f64::consts::TAU);
            offset_m(p, dist_m * bearing.cos(), dist_m * bearing.sin())
        })
        .collect()
}
