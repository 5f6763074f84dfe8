//! What goes on the map: OSM tags to layers, classes, properties and the zoom a feature
//! first appears at (legibility: major roads from zoom 4, buildings from 13).

use crate::mercator::World;
use crate::mvt::PropValue;

/// The layers of our tiles, in drawing order of importance when a tile must shed weight
/// (the last ones are dropped first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    Places,
    Roads,
    Water,
    Pois,
    Landuse,
    Buildings,
}

impl Layer {
    pub const ALL: [Layer; 6] = [
        Layer::Places,
        Layer::Roads,
        Layer::Water,
        Layer::Pois,
        Layer::Landuse,
        Layer::Buildings,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layer::Places => "places",
            Layer::Roads => "roads",
            Layer::Water => "water",
            Layer::Pois => "pois",
            Layer::Landuse => "landuse",
            Layer::Buildings => "buildings",
        }
    }

    /// The layer's attribute names and types, for TileJSON's `vector_layers`.
    pub fn fields(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Layer::Places => &[("class", "String"), ("name", "String"), ("rank", "Number")],
            Layer::Roads => &[
                ("class", "String"),
                ("name", "String"),
                ("ref", "String"),
                ("oneway", "Number"),
            ],
            Layer::Water | Layer::Landuse => &[("class", "String"), ("name", "String")],
            Layer::Pois => &[("id", "Number"), ("name", "String"), ("category", "String")],
            Layer::Buildings => &[("name", "String")],
        }
    }

    /// The first zoom any feature of the layer can appear at.
    pub fn min_zoom(self) -> u8 {
        match self {
            Layer::Places | Layer::Roads => 2,
            Layer::Water => 6,
            Layer::Landuse => 8,
            Layer::Buildings => 13,
            Layer::Pois => 14,
        }
    }
}

/// A feature's geometry in world coordinates.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Point(World),
    Line(Vec<World>),
    /// Rings, each closed (first point repeated); the first is the outer ring, the rest
    /// holes. Orientation is fixed when a tile is encoded.
    Polygon(Vec<Vec<World>>),
}

/// One feature ready for tiling.
#[derive(Debug, Clone, PartialEq)]
pub struct MapFeature {
    pub layer: Layer,
    pub id: Option<u64>,
    pub min_zoom: u8,
    pub props: Vec<(&'static str, PropValue)>,
    pub shape: Shape,
}

/// What the tags make of a way or relation, before geometry is attached.
#[derive(Debug, Clone, PartialEq)]
pub struct Kind {
    pub layer: Layer,
    pub min_zoom: u8,
    /// Whether the geometry is an area (closed ring) rather than a line.
    pub area: bool,
    pub props: Vec<(&'static str, PropValue)>,
}

fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn text(s: &str) -> PropValue {
    PropValue::Text(s.to_string())
}

fn with_name(
    tags: &[(String, String)],
    mut props: Vec<(&'static str, PropValue)>,
) -> Vec<(&'static str, PropValue)> {
    if let Some(name) = tag(tags, "name") {
        props.push(("name", text(name)));
    }
    props
}

/// The road class and first zoom for a `highway` (or `railway`) value.
fn road_class(highway: &str) -> Option<(&'static str, u8)> {
    Some(match highway {
        "motorway" => ("motorway", 4),
        "trunk" => ("trunk", 5),
        "primary" => ("primary", 7),
        "secondary" => ("secondary", 9),
        "tertiary" => ("tertiary", 10),
        "motorway_link" | "trunk_link" => ("motorway_link", 10),
        "primary_link" | "secondary_link" | "tertiary_link" => ("link", 11),
        "unclassified" | "residential" | "living_street" | "road" => ("minor", 12),
        "service" => ("service", 13),
        "track" => ("track", 13),
        "pedestrian" | "footway" | "cycleway" | "path" | "steps" | "bridleway" => ("path", 13),
        _ => return None,
    })
}

/// Classifies a way (or a multipolygon relation, `relation = true`) by its tags.
pub fn classify_way(tags: &[(String, String)], closed: bool, relation: bool) -> Option<Kind> {
    let area_tag = tag(tags, "area") == Some("yes");
    if !relation {
        if let Some(highway) = tag(tags, "highway")
            && !area_tag
            && let Some((class, min_zoom)) = road_class(highway)
        {
            let oneway = match (tag(tags, "oneway"), tag(tags, "junction")) {
                (Some("yes" | "1" | "true"), _) => 1,
                (Some("-1" | "reverse"), _) => -1,
                (Some("no" | "false" | "0"), _) => 0,
                (_, Some("roundabout")) => 1,
                _ if highway == "motorway" => 1,
                _ => 0,
            };
            let mut props = with_name(tags, vec![("class", text(class))]);
            if let Some(r) = tag(tags, "ref") {
                props.push(("ref", text(r)));
            }
            if oneway != 0 {
                props.push(("oneway", PropValue::Int(oneway)));
            }
            return Some(Kind {
                layer: Layer::Roads,
                min_zoom,
                area: false,
                props,
            });
        }
        if tag(tags, "railway") == Some("rail") && tag(tags, "service").is_none() {
            return Some(Kind {
                layer: Layer::Roads,
                min_zoom: 10,
                area: false,
                props: with_name(tags, vec![("class", text("rail"))]),
            });
        }
        if let Some(waterway) = tag(tags, "waterway") {
            let min_zoom = match waterway {
                "river" => 8,
                "canal" => 10,
                "stream" => 13,
                "ditch" | "drain" => 14,
                _ => 0,
            };
            if min_zoom > 0 {
                return Some(Kind {
                    layer: Layer::Water,
                    min_zoom,
                    area: false,
                    props: with_name(tags, vec![("class", text(waterway))]),
                });
            }
        }
    }
    if !closed {
        return None;
    }
    let natural = tag(tags, "natural");
    let landuse = tag(tags, "landuse");
    let water = match (natural, landuse, tag(tags, "waterway")) {
        (Some("water"), _, _) => Some(tag(tags, "water").unwrap_or("lake")),
        (_, Some("reservoir" | "basin"), _) => Some("reservoir"),
        (_, _, Some("riverbank")) => Some("river"),
        _ => None,
    };
    if let Some(class) = water {
        return Some(area(Layer::Water, 6, tags, class));
    }
    if let Some(b) = tag(tags, "building")
        && b != "no"
    {
        return Some(Kind {
            layer: Layer::Buildings,
            min_zoom: 13,
            area: true,
            props: with_name(tags, Vec::new()),
        });
    }
    let landuse_class = match (landuse, tag(tags, "leisure"), natural) {
        (Some(l @ ("forest" | "meadow" | "grass" | "farmland" | "orchard" | "vineyard")), _, _) => {
            Some((l, 8))
        }
        (
            Some(
                l @ ("residential" | "commercial" | "industrial" | "retail" | "cemetery"
                | "allotments" | "recreation_ground" | "village_green" | "railway"
                | "military" | "construction" | "brownfield" | "farmyard" | "quarry"),
            ),
            _,
            _,
        ) => Some((l, 10)),
        (_, Some(l @ ("park" | "nature_reserve" | "golf_course")), _) => Some((l, 8)),
        (_, Some(l @ ("garden" | "pitch" | "playground" | "sports_centre")), _) => Some((l, 12)),
        (_, _, Some(n @ ("wood" | "scrub" | "heath" | "grassland" | "wetland"))) => Some((n, 8)),
        (_, _, Some(n @ ("beach" | "sand" | "bare_rock"))) => Some((n, 10)),
        _ => None,
    };
    landuse_class.map(|(class, z)| area(Layer::Landuse, z, tags, class))
}

fn area(layer: Layer, min_zoom: u8, tags: &[(String, String)], class: &str) -> Kind {
    Kind {
        layer,
        min_zoom,
        area: true,
        props: with_name(tags, vec![("class", text(class))]),
    }
}

/// A named place node (`place=city|town|...`): its class, rank (1 most important) and
/// first zoom.
pub fn classify_place(tags: &[(String, String)]) -> Option<(Vec<(&'static str, PropValue)>, u8)> {
    let name = tag(tags, "name")?;
    let (class, rank, min_zoom) = match tag(tags, "place")? {
        "city" => ("city", 1, 4),
        "town" => ("town", 2, 7),
        "village" => ("village", 3, 10),
        "suburb" => ("suburb", 3, 11),
        "hamlet" => ("hamlet", 4, 12),
        "quarter" => ("quarter", 4, 12),
        "neighbourhood" => ("neighbourhood", 5, 13),
        _ => return None,
    };
    Some((
        vec![
            ("class", text(class)),
            ("name", text(name)),
            ("rank", PropValue::Int(rank)),
        ],
        min_zoom,
    ))
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
    fn roads_get_class_ref_and_oneway() {
        let kind = classify_way(
            &tags(&[
                ("highway", "primary"),
                ("name", "Mannerheimintie"),
                ("ref", "137"),
                ("oneway", "yes"),
            ]),
            false,
            false,
        )
        .unwrap();
        assert_eq!(kind.layer, Layer::Roads);
        assert_eq!(kind.min_zoom, 7);
        assert!(kind.props.contains(&("oneway", PropValue::Int(1))));
        assert!(kind.props.contains(&("ref", text("137"))));
        let motorway = classify_way(&tags(&[("highway", "motorway")]), false, false).unwrap();
        assert!(motorway.props.contains(&("oneway", PropValue::Int(1))));
        assert!(classify_way(&tags(&[("highway", "proposed")]), false, false).is_none());
    }

    #[test]
    fn areas_need_closed_ways() {
        let building = tags(&[("building", "yes")]);
        assert_eq!(
            classify_way(&building, true, false).unwrap().layer,
            Layer::Buildings
        );
        assert!(classify_way(&building, false, false).is_none());
        let lake = classify_way(&tags(&[("natural", "water")]), true, false).unwrap();
        assert_eq!((lake.layer, lake.area), (Layer::Water, true));
        let park = classify_way(&tags(&[("leisure", "park")]), true, true).unwrap();
        assert_eq!(park.layer, Layer::Landuse);
    }

    #[test]
    fn places_need_a_name() {
        assert!(classify_place(&tags(&[("place", "city")])).is_none());
        let (props, z) = classify_place(&tags(&[("place", "city"), ("name", "Helsinki")])).unwrap();
        assert_eq!(z, 4);
        assert!(props.contains(&("rank", PropValue::Int(1))));
    }
}
