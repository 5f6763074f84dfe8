//! Places from an OSM extract, in one pass over the file.
//!
//! What becomes a [`Place`]:
//! - **addresses** (`street_address`): nodes and ways with `addr:housenumber` and `addr:street`
//!   (or `addr:place`, for places numbered without a street) and no name of their own;
//! - **named places** (`locality`, `sublocality`, `neighborhood`, `natural_feature`): nodes
//!   and ways tagged `place=*`;
//! - **named POIs** (`point_of_interest`): features with a `name` and one of [`POI_KEYS`]
//!   (or a named building); their address, when tagged, is part of the formatted address;
//! - **streets** (`route`): named `highway=*` ways, merged per name while the pieces come
//!   within [`STREET_MERGE_M`] of each other, so a street split into many ways is one place
//!   (and a same-named street in the next town is another). A street sits on its node nearest
//!   the centroid of all its pieces.
//!
//! Ways sit at the centroid of their nodes. Relations (multipolygons, boundaries) are not
//! assembled. Features without `addr:city` get the nearest `place=city|town|village|hamlet`
//! node within a radius that grows with the place's size (see [`locality_radius_m`]).

use std::collections::HashMap;
use std::path::Path;

use geo_core::{LatLon, haversine_m};
use osm::{Element, Node, Way};

use super::normalize::normalize;

/// Keys that make a named feature a point of interest.
pub const POI_KEYS: [&str; 9] = [
    "amenity",
    "shop",
    "tourism",
    "leisure",
    "historic",
    "office",
    "craft",
    "healthcare",
    "aeroway",
];

/// Pieces of a street with the same name are one street while they come this close.
pub const STREET_MERGE_M: f64 = 1_000.0;

/// Longest text kept from any tag.
const MAX_TEXT: usize = 200;

/// One geocodable thing.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    /// `n123` / `w456` (for a street, its piece with the smallest id).
    pub id: String,
    /// The display name: the feature's name, or "street number" for an address.
    pub name: String,
    pub housenumber: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub postcode: Option<String>,
    /// The primary Google place type: `street_address`, `route`, `locality`, `sublocality`,
    /// `neighborhood`, `natural_feature` or `point_of_interest`.
    pub kind: String,
    pub lat: f64,
    pub lon: f64,
    /// E.g. `Mannerheimintie 5, 00100 Helsinki`, `Kamppi, Helsinki`, `Mannerheimintie, Helsinki`.
    pub formatted_address: String,
    /// Other names the place is searchable by (`name:sv`, `alt_name`, ...).
    pub alt_names: Vec<String>,
    /// Importance in `[0, 1]` for ranking: cities first, then districts, main roads, POIs,
    /// minor roads, addresses.
    pub rank_weight: f64,
}

/// Reads the OSM file at `path` once and returns its places, sorted by id.
pub fn extract_places(path: &Path) -> Result<Vec<Place>, osm::Error> {
    let mut extractor = Extractor::default();
    osm::read(path, |element| extractor.visit(element))?;
    Ok(extractor.finish())
}

/// The streaming half of [`extract_places`]: feed it elements in file order, then `finish`.
#[derive(Default)]
pub struct Extractor {
    /// Every node's id and position in 1e-7 degrees, in file order (sorted once ways start).
    nodes: Vec<(i64, i32, i32)>,
    nodes_sorted: bool,
    features: Vec<Feature>,
    streets: Vec<StreetPiece>,
}

/// A place before its city is known.
struct Feature {
    id: String,
    kind: Kind,
    name: Option<String>,
    alt_names: Vec<String>,
    housenumber: Option<String>,
    street: Option<String>,
    city: Option<String>,
    postcode: Option<String>,
    state: Option<String>,
    lat: f64,
    lon: f64,
    weight: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Address,
    /// A `place=*` feature; locality-sized ones (with their search radius) name the city of
    /// features around them.
    Place {
        google: &'static str,
        locality_radius_m: Option<f64>,
    },
    Poi,
}

struct StreetPiece {
    way_id: i64,
    name: String,
    key: String,
    alt_names: Vec<String>,
    weight: f64,
    points: Vec<(f64, f64)>,
    min: (f64, f64),
    max: (f64, f64),
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

fn e7(degrees: f64) -> i32 {
    (degrees * 1e7).round() as i32
}

fn degrees(e7: i32) -> f64 {
    f64::from(e7) / 1e7
}

/// Search radius of a locality-sized `place=*` value; `None` for smaller places.
pub fn locality_radius_m(place: &str) -> Option<f64> {
    match place {
        "city" => Some(20_000.0),
        "town" | "municipality" => Some(8_000.0),
        "village" => Some(3_000.0),
        "hamlet" => Some(1_000.0),
        _ => None,
    }
}

/// Google type and rank weight of a `place=*` value; `None` when it is not geocoded.
fn place_kind(place: &str) -> Option<(&'static str, f64)> {
    Some(match place {
        "city" => ("locality", 1.0),
        "town" | "municipality" => ("locality", 0.9),
        "borough" | "suburb" => ("sublocality", 0.8),
        "village" => ("locality", 0.7),
        "quarter" => ("sublocality", 0.65),
        "neighbourhood" => ("neighborhood", 0.6),
        "island" => ("natural_feature", 0.55),
        "hamlet" => ("locality", 0.5),
        "city_block" | "islet" | "square" | "locality" | "isolated_dwelling" | "farm" => {
            let google = if matches!(place, "islet" | "locality") {
                "natural_feature"
            } else {
                "neighborhood"
            };
            (google, 0.4)
        }
        _ => return None,
    })
}

/// Rank weight of a named `highway=*` way; `None` for values that are not streets.
fn street_weight(highway: &str) -> Option<f64> {
    Some(match highway {
        "motorway" | "trunk" | "primary" | "motorway_link" | "trunk_link" | "primary_link" => 0.6,
        "secondary" | "secondary_link" => 0.55,
        "tertiary" | "tertiary_link" => 0.5,
        "residential" | "unclassified" | "living_street" | "pedestrian" | "road" => 0.45,
        "service" | "footway" | "cycleway" | "path" | "track" | "steps" | "bridleway" => 0.35,
        _ => return None,
    })
}

/// Rank weight of a point of interest, `None` when the tags do not make one.
fn poi_weight(tags: &[(String, String)]) -> Option<f64> {
    let key = POI_KEYS
        .iter()
        .copied()
        .find(|key| tag(tags, key).is_some_and(|v| v != "no"))
        .or_else(|| {
            let station = matches!(tag(tags, "railway"), Some("station" | "halt"))
                || tag(tags, "public_transport") == Some("station");
            if station {
                Some("railway")
            } else {
                tag(tags, "building")
                    .filter(|v| *v != "no")
                    .map(|_| "building")
            }
        })?;
    let mut weight = match key {
        "tourism" | "historic" | "railway" | "aeroway" => 0.5,
        "building" => 0.3,
        _ => 0.4,
    };
    if tag(tags, "wikidata").is_some() || tag(tags, "wikipedia").is_some() {
        weight += 0.1;
    }
    Some(weight)
}

/// Names other than `name` that should find the feature.
fn alt_names(tags: &[(String, String)], name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (key, value) in tags {
        let wanted = key.starts_with("name:")
            || matches!(
                key.as_str(),
                "alt_name" | "official_name" | "short_name" | "loc_name"
            );
        let value = value.trim();
        if !wanted || value.is_empty() || value == name {
            continue;
        }
        for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let part = clip(part);
            if !out.contains(&part) {
                out.push(part);
            }
        }
    }
    out
}

fn centroid(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let lat = points.iter().map(|p| p.0).sum::<f64>() / n;
    let lon = points.iter().map(|p| p.1).sum::<f64>() / n;
    (lat, lon)
}

/// Between OSM coordinates, which the osm parser has range-checked.
fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    haversine_m(LatLon::clamped(a.0, a.1), LatLon::clamped(b.0, b.1))
}

/// Lower bound on the distance between two boxes (equirectangular, good to a few percent at
/// the scale of [`STREET_MERGE_M`]).
fn box_gap_m(a: &StreetPiece, b: &StreetPiece) -> f64 {
    let dlat = (b.min.0 - a.max.0).max(a.min.0 - b.max.0).max(0.0);
    let dlon = (b.min.1 - a.max.1).max(a.min.1 - b.max.1).max(0.0);
    let cos = ((a.min.0 + a.max.0) / 2.0).to_radians().cos().max(0.01);
    geo_core::METRES_PER_DEGREE * dlat.hypot(dlon * cos)
}

impl Extractor {
    /// Takes one element; nodes must come before the ways that use them, as in OSM files.
    pub fn visit(&mut self, element: Element) {
        match element {
            Element::Node(node) => self.node(node),
            Element::Way(way) => self.way(way),
            Element::Relation(_) => {}
        }
    }

    fn node(&mut self, node: Node) {
        if !(node.lat.is_finite() && node.lon.is_finite())
            || LatLon::new(node.lat, node.lon).is_err()
        {
            return;
        }
        let (lat, lon) = (e7(node.lat), e7(node.lon));
        if self.nodes.last().is_some_and(|last| last.0 >= node.id) {
            self.nodes_sorted = false;
        } else if self.nodes.is_empty() {
            self.nodes_sorted = true;
        }
        self.nodes.push((node.id, lat, lon));
        if !node.tags.is_empty() {
            self.feature(
                format!("n{}", node.id),
                &node.tags,
                (degrees(lat), degrees(lon)),
            );
        }
    }

    fn position(&self, id: i64) -> Option<(f64, f64)> {
        let i = self.nodes.binary_search_by_key(&id, |n| n.0).ok()?;
        let (_, lat, lon) = self.nodes[i];
        Some((degrees(lat), degrees(lon)))
    }

    fn way(&mut self, way: Way) {
        if way.tags.is_empty() {
            return;
        }
        let name = tag(&way.tags, "name");
        let street_weight = name.and(tag(&way.tags, "highway").and_then(street_weight));
        let addressed = tag(&way.tags, "addr:housenumber").is_some();
        let named_feature = name.is_some()
            && (tag(&way.tags, "place").is_some() || poi_weight(&way.tags).is_some());
        if street_weight.is_none() && !addressed && !named_feature {
            return;
        }
        if !self.nodes_sorted {
            self.nodes.sort_unstable_by_key(|n| n.0);
            self.nodes.dedup_by_key(|n| n.0);
            self.nodes_sorted = true;
        }
        let mut refs = way.refs.as_slice();
        if way.is_closed() {
            refs = &refs[..refs.len() - 1];
        }
        let points: Vec<(f64, f64)> = refs.iter().filter_map(|r| self.position(*r)).collect();
        if points.is_empty() {
            return;
        }
        if let (Some(name), Some(weight)) = (name, street_weight) {
            let mut min = (f64::MAX, f64::MAX);
            let mut max = (f64::MIN, f64::MIN);
            for p in &points {
                min = (min.0.min(p.0), min.1.min(p.1));
                max = (max.0.max(p.0), max.1.max(p.1));
            }
            self.streets.push(StreetPiece {
                way_id: way.id,
                name: clip(name),
                key: normalize(name),
                alt_names: alt_names(&way.tags, name),
                weight,
                points,
                min,
                max,
            });
            return;
        }
        let at = centroid(&points);
        self.feature(format!("w{}", way.id), &way.tags, at);
    }

    /// Records the address, place or POI that `tags` describe, if any.
    fn feature(&mut self, id: String, tags: &[(String, String)], at: (f64, f64)) {
        let name = tag(tags, "name");
        let housenumber = tag(tags, "addr:housenumber");
        let street = tag(tags, "addr:street").or_else(|| tag(tags, "addr:place"));
        let (kind, weight) = match name {
            Some(_) => {
                if let Some(place) = tag(tags, "place") {
                    let Some((google, weight)) = place_kind(place) else {
                        return;
                    };
                    let kind = Kind::Place {
                        google,
                        locality_radius_m: locality_radius_m(place),
                    };
                    (kind, weight)
                } else if let Some(weight) = poi_weight(tags) {
                    (Kind::Poi, weight)
                } else if housenumber.is_some() && street.is_some() {
                    (Kind::Address, 0.3)
                } else {
                    return;
                }
            }
            None if housenumber.is_some() && street.is_some() => (Kind::Address, 0.3),
            None => return,
        };
        let name = name.map(clip);
        self.features.push(Feature {
            id,
            kind,
            alt_names: name
                .as_deref()
                .map(|n| alt_names(tags, n))
                .unwrap_or_default(),
            name,
            housenumber: housenumber.map(clip),
            street: street.map(clip),
            city: tag(tags, "addr:city").map(clip),
            postcode: tag(tags, "addr:postcode").map(clip),
            state: tag(tags, "addr:state").map(clip),
            lat: at.0,
            lon: at.1,
            weight,
        });
    }

    /// Merges street pieces, assigns cities and formats every place; sorted by id, ids unique.
    pub fn finish(self) -> Vec<Place> {
        let localities = Localities::new(&self.features);
        let mut places = Vec::with_capacity(self.features.len() + self.streets.len() / 2);
        for feature in self.features {
            places.push(feature_place(feature, &localities));
        }
        for street in merge_streets(self.streets) {
            places.push(street_place(street, &localities));
        }
        places.sort_by(|a, b| a.id.cmp(&b.id));
        places.dedup_by(|later, earlier| later.id == earlier.id);
        places
    }
}

/// Locality-sized places, to name the city of features without `addr:city`.
struct Localities {
    /// (lat, lon, radius, name), sorted by latitude.
    entries: Vec<(f64, f64, f64, String)>,
    max_radius_m: f64,
}

impl Localities {
    fn new(features: &[Feature]) -> Localities {
        let mut entries: Vec<(f64, f64, f64, String)> = features
            .iter()
            .filter_map(|f| match (f.kind, &f.name) {
                (
                    Kind::Place {
                        locality_radius_m: Some(radius),
                        ..
                    },
                    Some(name),
                ) => Some((f.lat, f.lon, radius, name.clone())),
                _ => None,
            })
            .collect();
        entries.sort_by(|a, b| a.0.total_cmp(&b.0));
        let max_radius_m = entries.iter().map(|e| e.2).fold(0.0, f64::max);
        Localities {
            entries,
            max_radius_m,
        }
    }

    /// The locality whose radius covers `at` most tightly (smallest distance / radius).
    fn around(&self, at: (f64, f64)) -> Option<&str> {
        let dlat = self.max_radius_m / geo_core::METRES_PER_DEGREE;
        let start = self.entries.partition_point(|e| e.0 < at.0 - dlat);
        let mut best: Option<(f64, &str)> = None;
        for (lat, lon, radius, name) in &self.entries[start..] {
            if *lat > at.0 + dlat {
                break;
            }
            let ratio = distance_m(at, (*lat, *lon)) / radius;
            if ratio <= 1.0 && best.is_none_or(|(r, _)| ratio < r) {
                best = Some((ratio, name));
            }
        }
        best.map(|(_, name)| name)
    }
}

/// "Street 5" (or "5 Street" in US-style addresses, recognised by `addr:state`).
fn street_line(street: &str, number: &str, us_style: bool) -> String {
    if us_style {
        format!("{number} {street}")
    } else {
        format!("{street} {number}")
    }
}

/// "00100 Helsinki", "Columbus, OH 43215", "Helsinki", "00100" or "".
fn city_line(city: Option<&str>, postcode: Option<&str>, state: Option<&str>) -> String {
    match state {
        Some(state) => {
            let region = match postcode {
                Some(p) => format!("{state} {p}"),
                None => state.to_string(),
            };
            match city {
                Some(c) => format!("{c}, {region}"),
                None => region,
            }
        }
        None => [postcode, city]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn join_nonempty(parts: &[&str]) -> String {
    parts
        .iter()
        .copied()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn feature_place(f: Feature, localities: &Localities) -> Place {
    let inferred_city = || localities.around((f.lat, f.lon)).map(str::to_string);
    let us_style = f.state.is_some();
    let street_part = match (&f.street, &f.housenumber) {
        (Some(s), Some(n)) => Some(street_line(s, n, us_style)),
        (Some(s), None) => Some(s.clone()),
        (None, _) => None,
    };
    let (kind, city, name, formatted) = match f.kind {
        Kind::Address => {
            let city = f.city.clone().or_else(inferred_city);
            let line = street_part.clone().unwrap_or_default();
            let rest = city_line(city.as_deref(), f.postcode.as_deref(), f.state.as_deref());
            let formatted = join_nonempty(&[&line, &rest]);
            ("street_address", city, line, formatted)
        }
        Kind::Place {
            google,
            locality_radius_m,
        } => {
            let name = f.name.clone().unwrap_or_default();
            let city = if locality_radius_m.is_some() {
                None
            } else {
                f.city.clone().or_else(inferred_city).filter(|c| *c != name)
            };
            let formatted = join_nonempty(&[&name, city.as_deref().unwrap_or("")]);
            (google, city, name, formatted)
        }
        Kind::Poi => {
            let name = f.name.clone().unwrap_or_default();
            let city = f.city.clone().or_else(inferred_city);
            let rest = city_line(city.as_deref(), f.postcode.as_deref(), f.state.as_deref());
            let formatted = join_nonempty(&[&name, street_part.as_deref().unwrap_or(""), &rest]);
            ("point_of_interest", city, name, formatted)
        }
    };
    Place {
        id: f.id,
        name,
        housenumber: f.housenumber,
        street: f.street,
        city,
        postcode: f.postcode,
        kind: kind.to_string(),
        lat: f.lat,
        lon: f.lon,
        formatted_address: formatted,
        alt_names: f.alt_names,
        rank_weight: f.weight,
    }
}

/// One street: the pieces of one name that chain together within [`STREET_MERGE_M`].
struct Street {
    id: i64,
    name: String,
    alt_names: Vec<String>,
    weight: f64,
    at: (f64, f64),
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn merge_streets(mut pieces: Vec<StreetPiece>) -> Vec<Street> {
    pieces.sort_by(|a, b| a.key.cmp(&b.key).then(a.min.0.total_cmp(&b.min.0)));
    let mut streets = Vec::new();
    let mut start = 0;
    while start < pieces.len() {
        let end = start + pieces[start..].partition_point(|p| p.key == pieces[start].key);
        let group = &pieces[start..end];
        // Union-find over the pieces of one name; sorted by min latitude, so the inner scan
        // stops once the next piece starts too far north.
        let mut parent: Vec<usize> = (0..group.len()).collect();
        let reach_deg = STREET_MERGE_M / geo_core::METRES_PER_DEGREE;
        for i in 0..group.len() {
            for j in i + 1..group.len() {
                if group[j].min.0 > group[i].max.0 + reach_deg {
                    // Every later piece starts even further north of `i`.
                    break;
                }
                if box_gap_m(&group[i], &group[j]) <= STREET_MERGE_M {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    if a != b {
                        parent[a.max(b)] = a.min(b);
                    }
                }
            }
        }
        let mut clusters: HashMap<usize, Vec<usize>> = HashMap::new();
        for i in 0..group.len() {
            let root = find(&mut parent, i);
            clusters.entry(root).or_default().push(i);
        }
        for members in clusters.into_values() {
            streets.push(street_of(group, &members));
        }
        start = end;
    }
    streets
}

fn street_of(group: &[StreetPiece], members: &[usize]) -> Street {
    let all: Vec<(f64, f64)> = members
        .iter()
        .flat_map(|&i| group[i].points.iter().copied())
        .collect();
    let middle = centroid(&all);
    let at = all
        .iter()
        .copied()
        .min_by(|a, b| distance_m(*a, middle).total_cmp(&distance_m(*b, middle)))
        .unwrap_or(middle);
    // The most common spelling among the pieces, ties to the smallest.
    let mut spellings: HashMap<&str, usize> = HashMap::new();
    for &i in members {
        *spellings.entry(group[i].name.as_str()).or_default() += 1;
    }
    let name = spellings
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(n, _)| n.to_string())
        .unwrap_or_default();
    let mut alt_names: Vec<String> = Vec::new();
    for &i in members {
        for alt in &group[i].alt_names {
            if *alt != name && !alt_names.contains(alt) {
                alt_names.push(alt.clone());
            }
        }
    }
    Street {
        id: members.iter().map(|&i| group[i].way_id).min().unwrap_or(0),
        name,
        alt_names,
        weight: members.iter().map(|&i| group[i].weight).fold(0.0, f64::max),
        at,
    }
}

fn street_place(street: Street, localities: &Localities) -> Place {
    let city = localities.around(street.at).map(str::to_string);
    let formatted = join_nonempty(&[&street.name, city.as_deref().unwrap_or("")]);
    Place {
        id: format!("w{}", street.id),
        name: street.name.clone(),
        housenumber: None,
        street: Some(street.name),
        city,
        postcode: None,
        kind: "route".to_string(),
        lat: street.at.0,
        lon: street.at.1,
        formatted_address: formatted,
        alt_names: street.alt_names,
        rank_weight: street.weight,
    }
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

    fn node(id: i64, lat: f64, lon: f64, t: &[(&str, &str)]) -> Element {
        Element::Node(Node {
            id,
            lat,
            lon,
            tags: tags(t),
        })
    }

    fn way(id: i64, refs: &[i64], t: &[(&str, &str)]) -> Element {
        Element::Way(Way {
            id,
            refs: refs.to_vec(),
            tags: tags(t),
        })
    }

    fn run(elements: Vec<Element>) -> Vec<Place> {
        let mut x = Extractor::default();
        for e in elements {
            x.visit(e);
        }
        x.finish()
    }

    #[test]
    fn addresses_places_pois_and_streets() {
        let places = run(vec![
            node(1, 60.0, 25.0, &[("place", "city"), ("name", "Testby")]),
            node(2, 60.001, 25.001, &[]),
            node(3, 60.001, 25.003, &[]),
            node(4, 60.002, 25.003, &[]),
            node(5, 60.002, 25.001, &[]),
            node(
                6,
                60.0005,
                25.0005,
                &[("addr:street", "Kauppakatu"), ("addr:housenumber", "5a")],
            ),
            node(
                7,
                60.0006,
                25.0006,
                &[
                    ("amenity", "cafe"),
                    ("name", "Café Ö"),
                    ("addr:street", "Kauppakatu"),
                    ("addr:housenumber", "7"),
                    ("addr:postcode", "00100"),
                ],
            ),
            node(8, 60.01, 25.01, &[("place", "suburb"), ("name", "Kylä")]),
            node(9, 60.0, 25.02, &[]),
            node(10, 60.0, 25.03, &[]),
            node(11, 60.0, 25.04, &[]),
            way(
                100,
                &[2, 3, 4, 5, 2],
                &[
                    ("building", "yes"),
                    ("addr:street", "Kauppakatu"),
                    ("addr:housenumber", "9"),
                    ("addr:city", "Testby"),
                ],
            ),
            way(
                201,
                &[9, 10],
                &[("highway", "residential"), ("name", "Kauppakatu")],
            ),
            way(
                200,
                &[10, 11],
                &[("highway", "primary"), ("name", "Kauppakatu")],
            ),
            way(202, &[2, 3], &[("highway", "bus_stop"), ("name", "Nope")]),
        ]);
        let by_id: HashMap<&str, &Place> = places.iter().map(|p| (p.id.as_str(), p)).collect();
        assert_eq!(by_id.len(), places.len(), "ids are unique");
        let city = by_id["n1"];
        assert_eq!(
            (city.kind.as_str(), city.formatted_address.as_str()),
            ("locality", "Testby")
        );
        let addr = by_id["n6"];
        assert_eq!(addr.kind, "street_address");
        assert_eq!(addr.formatted_address, "Kauppakatu 5a, Testby");
        let cafe = by_id["n7"];
        assert_eq!(cafe.kind, "point_of_interest");
        assert_eq!(cafe.formatted_address, "Café Ö, Kauppakatu 7, 00100 Testby");
        let suburb = by_id["n8"];
        assert_eq!(
            (suburb.kind.as_str(), suburb.formatted_address.as_str()),
            ("sublocality", "Kylä, Testby")
        );
        let building = by_id["w100"];
        assert_eq!(building.formatted_address, "Kauppakatu 9, Testby");
        assert!((building.lat - 60.0015).abs() < 1e-9 && (building.lon - 25.002).abs() < 1e-9);
        // The two pieces are one street, named after the smaller way id, on a node of it.
        let street = by_id["w200"];
        assert_eq!(street.kind, "route");
        assert_eq!(street.formatted_address, "Kauppakatu, Testby");
        assert_eq!((street.lat, street.lon), (60.0, 25.03));
        assert_eq!(street.rank_weight, 0.6);
        assert!(!by_id.contains_key("w201") && !by_id.contains_key("w202"));
        assert_eq!(places.len(), 6);
    }

    #[test]
    fn same_name_far_apart_is_two_streets() {
        let places = run(vec![
            node(1, 60.0, 25.0, &[]),
            node(2, 60.0, 25.001, &[]),
            node(3, 60.1, 25.0, &[]),
            node(4, 60.1, 25.001, &[]),
            node(5, 60.0, 25.0015, &[]),
            way(
                10,
                &[1, 2],
                &[("highway", "residential"), ("name", "Koulukatu")],
            ),
            way(
                11,
                &[3, 4],
                &[("highway", "residential"), ("name", "Koulukatu")],
            ),
            way(
                12,
                &[2, 5],
                &[("highway", "residential"), ("name", "koulukatu")],
            ),
        ]);
        let ids: Vec<&str> = places.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, vec!["w10", "w11"]);
        assert_eq!(places[0].name, "Koulukatu");
    }

    #[test]
    fn unsorted_nodes_and_missing_refs() {
        let places = run(vec![
            node(5, 1.0, 1.0, &[]),
            node(2, 1.0, 1.002, &[]),
            way(1, &[5, 2, 99], &[("highway", "path"), ("name", "P")]),
            way(2, &[98], &[("highway", "path"), ("name", "Q")]),
        ]);
        assert_eq!(places.len(), 1);
        assert_eq!(places[0].formatted_address, "P");
    }
}
