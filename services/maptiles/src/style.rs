//! The default MapLibre style over our tiles: OpenStreetMap-like colours, road widths growing
//! with zoom, labels in the bundled font, POI icons from our sprite. Every URL in it is
//! absolute on `base` (the server as clients reach it): no third-party host.

use serde_json::{Value, json};

use crate::glyphs::FONT_NAME;

fn class_is(classes: &[&str]) -> Value {
    json!(["match", ["get", "class"], classes, true, false])
}

/// A line width growing from `low` at zoom 10 to `high` at zoom 18.
fn width(low: f64, high: f64) -> Value {
    json!([
        "interpolate",
        ["exponential", 1.5],
        ["zoom"],
        10,
        low,
        18,
        high
    ])
}

fn road(id: &str, classes: &[&str], colour: &str, low: f64, high: f64, min_zoom: u8) -> Value {
    json!({
        "id": id, "type": "line", "source": "geostack", "source-layer": "roads",
        "minzoom": min_zoom,
        "filter": class_is(classes),
        "layout": {"line-cap": "round", "line-join": "round"},
        "paint": {"line-color": colour, "line-width": width(low, high)}
    })
}

fn dashed(id: &str, classes: &[&str], colour: &str, min_zoom: u8) -> Value {
    json!({
        "id": id, "type": "line", "source": "geostack", "source-layer": "roads",
        "minzoom": min_zoom,
        "filter": class_is(classes),
        "paint": {"line-color": colour, "line-width": width(0.8, 2.0), "line-dasharray": [2, 2]}
    })
}

fn landuse(id: &str, classes: &[&str], colour: &str) -> Value {
    json!({
        "id": id, "type": "fill", "source": "geostack", "source-layer": "landuse",
        "filter": class_is(classes),
        "paint": {"fill-color": colour}
    })
}

/// The style document, with tiles, glyphs and sprite under `base` (no trailing slash).
pub fn default_style(base: &str) -> Value {
    json!({
        "version": 8,
        "name": "geostack default",
        "metadata": {"attribution": crate::ATTRIBUTION},
        "sources": {
            "geostack": {"type": "vector", "url": format!("{base}/tiles.json")},
            // Live congestion, drawn at request time and cacheable for seconds only, so it
            // is a source of its own rather than a layer of the immutable tiles.
            "traffic": {
                "type": "vector",
                "tiles": [format!("{base}/traffic/{{z}}/{{x}}/{{y}}.mvt")],
                "minzoom": 8,
                "maxzoom": 16,
                "attribution": crate::ATTRIBUTION
            }
        },
        "glyphs": format!("{base}/fonts/{{fontstack}}/{{range}}.pbf"),
        "sprite": format!("{base}/sprites/default"),
        "layers": [
            {"id": "background", "type": "background", "paint": {"background-color": "#f2efe9"}},
            landuse("landuse-green", &["park", "garden", "grass", "meadow", "village_green", "recreation_ground", "golf_course", "pitch", "playground", "sports_centre"], "#cdebb0"),
            landuse("landuse-wood", &["forest", "wood", "nature_reserve", "scrub", "heath", "grassland", "wetland"], "#add19e"),
            landuse("landuse-residential", &["residential"], "#e6e1db"),
            landuse("landuse-commercial", &["commercial", "retail"], "#f2dad9"),
            landuse("landuse-industrial", &["industrial", "railway", "military", "construction", "brownfield", "quarry"], "#ebdbe8"),
            landuse("landuse-cemetery", &["cemetery"], "#aacbaf"),
            landuse("landuse-farm", &["farmland", "farmyard", "orchard", "vineyard", "allotments"], "#eef0d5"),
            landuse("landuse-sand", &["beach", "sand", "bare_rock"], "#f5e9c6"),
            {
                "id": "water", "type": "fill", "source": "geostack", "source-layer": "water",
                "filter": ["==", ["geometry-type"], "Polygon"],
                "paint": {"fill-color": "#aad3df"}
            },
            {
                "id": "waterway", "type": "line", "source": "geostack", "source-layer": "water",
                "filter": ["==", ["geometry-type"], "LineString"],
                "paint": {"line-color": "#aad3df", "line-width": width(1.0, 6.0)}
            },
            {
                "id": "buildings", "type": "fill", "source": "geostack", "source-layer": "buildings",
                "minzoom": 13,
                "paint": {"fill-color": "#d9d0c9", "fill-outline-color": "#c4b6ab"}
            },
            dashed("road-path", &["path"], "#fa8072", 14),
            dashed("road-track", &["track"], "#a87b3d", 13),
            {
                "id": "road-casing", "type": "line", "source": "geostack", "source-layer": "roads",
                "filter": class_is(&["motorway", "trunk", "primary", "secondary", "tertiary", "minor", "link", "motorway_link"]),
                "layout": {"line-cap": "round", "line-join": "round"},
                "paint": {"line-color": "#bbb1a6", "line-width": width(2.0, 20.0)}
            },
            road("road-service", &["service"], "#ffffff", 0.5, 6.0, 13),
            road("road-minor", &["minor", "link"], "#ffffff", 1.0, 16.0, 12),
            road("road-tertiary", &["tertiary"], "#ffffff", 1.2, 17.0, 10),
            road("road-secondary", &["secondary"], "#f7fabf", 1.5, 18.0, 8),
            road("road-primary", &["primary"], "#fcd6a4", 1.8, 18.0, 6),
            road("road-trunk", &["trunk", "motorway_link"], "#f9b29c", 2.0, 18.0, 4),
            road("road-motorway", &["motorway"], "#e892a2", 2.2, 19.0, 4),
            dashed("rail", &["rail"], "#8f8f8f", 10),
            {
                "id": "traffic", "type": "line", "source": "traffic", "source-layer": "traffic",
                "layout": {"line-cap": "round"},
                "paint": {
                    "line-color": ["step", ["get", "congestion"], "#d7191c", 40, "#fdae61", 75, "#1a9641"],
                    "line-width": width(2.0, 8.0),
                    "line-offset": width(1.0, 4.0),
                    "line-opacity": 0.85
                }
            },
            {
                "id": "road-label", "type": "symbol", "source": "geostack", "source-layer": "roads",
                "minzoom": 13,
                "filter": ["has", "name"],
                "layout": {
                    "symbol-placement": "line",
                    "text-field": ["get", "name"],
                    "text-font": [FONT_NAME],
                    "text-size": ["interpolate", ["linear"], ["zoom"], 13, 10, 18, 14],
                    "text-max-angle": 30
                },
                "paint": {"text-color": "#444", "text-halo-color": "#fff", "text-halo-width": 1.5}
            },
            {
                "id": "poi", "type": "symbol", "source": "geostack", "source-layer": "pois",
                "minzoom": 15,
                "layout": {
                    "icon-image": "poi",
                    "text-field": ["get", "name"],
                    "text-font": [FONT_NAME],
                    "text-size": 11,
                    "text-offset": [0, 0.9],
                    "text-anchor": "top",
                    "text-optional": true
                },
                "paint": {"text-color": "#7a3e0b", "text-halo-color": "#fff", "text-halo-width": 1.2}
            },
            {
                "id": "place-label", "type": "symbol", "source": "geostack", "source-layer": "places",
                "layout": {
                    "text-field": ["get", "name"],
                    "text-font": [FONT_NAME],
                    "text-size": ["match", ["get", "rank"], 1, 18, 2, 16, 3, 14, 12],
                    "text-transform": "uppercase",
                    "text-letter-spacing": 0.05
                },
                "paint": {"text-color": "#333", "text-halo-color": "#fff", "text-halo-width": 2}
            }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_url_is_on_the_base_and_every_font_is_served() {
        let style = default_style("http://example.test:8080");
        let text = style.to_string();
        assert!(!text.contains("https://"), "no third-party host");
        assert_eq!(
            style["sources"]["geostack"]["url"],
            "http://example.test:8080/tiles.json"
        );
        assert!(
            style["glyphs"]
                .as_str()
                .unwrap()
                .starts_with("http://example.test:8080/fonts/")
        );
        for layer in style["layers"].as_array().unwrap() {
            if let Some(fonts) = layer["layout"]["text-font"].as_array() {
                for font in fonts {
                    assert!(crate::glyphs::serves_fontstack(font.as_str().unwrap()));
                }
            }
            if let Some(icon) = layer["layout"]["icon-image"].as_str() {
                assert!(crate::sprite::sprite(1).0.get(icon).is_some(), "{icon}");
            }
            if let Some(source_layer) = layer["source-layer"].as_str() {
                assert!(
                    crate::Layer::ALL.iter().any(|l| l.name() == source_layer)
                        || source_layer == "traffic",
                    "{source_layer}"
                );
            }
        }
    }
}
