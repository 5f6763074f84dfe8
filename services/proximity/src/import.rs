//! `import businesses <file>`: businesses from an OSM extract (PBF, or OSM XML, optionally
//! gzipped).
//!
//! Nodes and ways with a `name` and an `amenity`, `shop`, `tourism`, `leisure` or `office` tag
//! become businesses; ways sit at the centroid of their nodes. Address tags (`addr:*`),
//! `opening_hours`, `phone` and `website` are kept. Re-importing a newer extract updates rows
//! by their OSM reference and leaves unchanged rows alone.

use std::collections::HashMap;
use std::path::Path;

use geo_core::LatLon;
use kit::db::Db;
use osm::Element;

use crate::model::{BusinessFields, ImportedBusiness};
use crate::store;

/// Keys that make a named feature a business, in order of precedence for its category.
const CATEGORY_KEYS: [&str; 5] = ["amenity", "shop", "tourism", "leisure", "office"];

const MAX_TEXT: usize = 500;

/// What an import read and wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    pub nodes_read: u64,
    pub ways_read: u64,
    pub businesses_found: usize,
    pub from_nodes: usize,
    pub from_ways: usize,
    /// Ways skipped because none of their nodes is in the file.
    pub ways_without_nodes: usize,
    /// Rows inserted or changed in the database.
    pub rows_written: u64,
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// OSM stores coordinates in units of 1e-7 degrees; decoding leaves float noise behind.
fn osm_precision(degrees: f64) -> f64 {
    (degrees * 1e7).round() / 1e7
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

/// The business a feature's tags describe, at `location`; `None` when it is not one.
pub fn business_from_tags(tags: &[(String, String)], location: LatLon) -> Option<BusinessFields> {
    let name = tag(tags, "name")?;
    let category = CATEGORY_KEYS.iter().find_map(|key| {
        tag(tags, key).map(|value| {
            // `shop=yes` says only "a shop".
            if value == "yes" {
                (*key).to_string()
            } else {
                value.to_lowercase()
            }
        })
    })?;
    let street = tag(tags, "addr:street");
    let number = tag(tags, "addr:housenumber");
    let address = match (street, number) {
        (Some(s), Some(n)) => Some(format!("{s} {n}")),
        (Some(s), None) => Some(s.to_string()),
        (None, Some(n)) => tag(tags, "addr:place").map(|p| format!("{p} {n}")),
        (None, None) => tag(tags, "addr:place").map(str::to_string),
    };
    Some(BusinessFields {
        name: clip(name),
        category: clip(&category),
        address: address.map(|a| clip(&a)),
        city: tag(tags, "addr:city").map(clip),
        state: tag(tags, "addr:state").map(clip),
        country: tag(tags, "addr:country").map(clip),
        postcode: tag(tags, "addr:postcode").map(clip),
        location,
        opening_hours: tag(tags, "opening_hours").map(clip),
        phone: tag(tags, "phone").or(tag(tags, "contact:phone")).map(clip),
        website: tag(tags, "website")
            .or(tag(tags, "contact:website"))
            .map(clip),
    })
}

/// Reads businesses from an OSM file. `progress(bytes_done, bytes_total)`.
pub fn read_businesses(
    path: &Path,
    progress: impl FnMut(u64, u64),
) -> anyhow::Result<(Vec<ImportedBusiness>, ImportReport)> {
    let mut report = ImportReport::default();
    // Way centroids need node coordinates; extracts list nodes before ways.
    let mut node_coords: HashMap<i64, (f64, f64)> = HashMap::new();
    let mut found = Vec::new();
    let stats = osm::read_with_progress(
        path,
        |element| match element {
            Element::Node(node) => {
                node_coords.insert(node.id, (osm_precision(node.lat), osm_precision(node.lon)));
                if node.tags.is_empty() {
                    return;
                }
                if let Ok(location) = LatLon::new(osm_precision(node.lat), osm_precision(node.lon))
                    && let Some(fields) = business_from_tags(&node.tags, location)
                {
                    report.from_nodes += 1;
                    found.push(ImportedBusiness {
                        osm_ref: format!("n{}", node.id),
                        fields,
                    });
                }
            }
            Element::Way(way) => {
                if tag(&way.tags, "name").is_none()
                    || !CATEGORY_KEYS.iter().any(|k| tag(&way.tags, k).is_some())
                {
                    return;
                }
                // A closed way repeats its first node; count it once.
                let mut refs = way.refs.as_slice();
                if refs.len() > 1 && refs.first() == refs.last() {
                    refs = &refs[..refs.len() - 1];
                }
                let points: Vec<(f64, f64)> = refs
                    .iter()
                    .filter_map(|r| node_coords.get(r).copied())
                    .collect();
                if points.is_empty() {
                    report.ways_without_nodes += 1;
                    return;
                }
                let n = points.len() as f64;
                let lat = points.iter().map(|p| p.0).sum::<f64>() / n;
                let lon = points.iter().map(|p| p.1).sum::<f64>() / n;
                if let Ok(location) = LatLon::new(lat, lon)
                    && let Some(fields) = business_from_tags(&way.tags, location)
                {
                    report.from_ways += 1;
                    found.push(ImportedBusiness {
                        osm_ref: format!("w{}", way.id),
                        fields,
                    });
                }
            }
            Element::Relation(_) => {}
        },
        progress,
    )?;
    report.nodes_read = stats.nodes;
    report.ways_read = stats.ways;
    report.businesses_found = found.len();
    Ok((found, report))
}

/// Reads `path` and upserts its businesses. Does not publish: search sees them after the
/// next publication (callers that want them live at once publish afterwards).
pub async fn import_file(
    db: &Db,
    path: &Path,
    progress: impl FnMut(u64, u64) + Send + 'static,
) -> anyhow::Result<ImportReport> {
    let owned = path.to_path_buf();
    let (records, mut report) =
        tokio::task::spawn_blocking(move || read_businesses(&owned, progress)).await??;
    report.rows_written = store::upsert_imported(db, &records).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tag_rules() {
        let at = LatLon::new(60.17, 24.94).unwrap();
        let cafe = business_from_tags(
            &tags(&[
                ("name", "Café Regatta"),
                ("amenity", "cafe"),
                ("addr:street", "Merikannontie"),
                ("addr:housenumber", "8"),
                ("addr:city", "Helsinki"),
                ("opening_hours", "Mo-Su 08:00-21:00"),
            ]),
            at,
        )
        .unwrap();
        assert_eq!(cafe.category, "cafe");
        assert_eq!(cafe.address.as_deref(), Some("Merikannontie 8"));
        assert_eq!(cafe.city.as_deref(), Some("Helsinki"));
        assert_eq!(cafe.opening_hours.as_deref(), Some("Mo-Su 08:00-21:00"));
        // No name, or no business key: not a business.
        assert!(business_from_tags(&tags(&[("amenity", "bench")]), at).is_none());
        assert!(
            business_from_tags(&tags(&[("name", "Main St"), ("highway", "primary")]), at).is_none()
        );
        // `shop=yes` becomes the key itself.
        let shop = business_from_tags(&tags(&[("name", "Kiosk"), ("shop", "yes")]), at).unwrap();
        assert_eq!(shop.category, "shop");
        // amenity wins over shop.
        let both = business_from_tags(
            &tags(&[("name", "X"), ("shop", "bakery"), ("amenity", "cafe")]),
            at,
        )
        .unwrap();
        assert_eq!(both.category, "cafe");
    }

    #[test]
    fn reads_the_sample_extract() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/helsinki.osm.pbf");
        let (found, report) = read_businesses(&path, |_, _| {}).unwrap();
        assert!(report.from_nodes > 100, "{report:?}");
        assert!(report.from_ways > 10, "{report:?}");
        assert_eq!(found.len(), report.businesses_found);
        // Everything is in central Helsinki.
        for b in &found {
            assert!((59.9..60.4).contains(&b.fields.location.lat), "{b:?}");
            assert!((24.5..25.4).contains(&b.fields.location.lon), "{b:?}");
        }
    }
}
