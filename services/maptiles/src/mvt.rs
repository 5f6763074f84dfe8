//! Mapbox Vector Tile 2.1: the protobuf messages, geometry command encoding, and a decoder
//! (for tests, the fuzzer, and anyone checking what a tile holds).
//!
//! Geometry is in tile units, `0..EXTENT` on both axes with y pointing down, as a sequence of
//! `MoveTo` / `LineTo` / `ClosePath` commands with zigzag-encoded deltas (spec section 4.3).

use prost::Message;

/// Tile units per side.
pub const EXTENT: u32 = 4096;

const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;

/// `vector_tile.Tile`.
#[derive(Clone, PartialEq, Message)]
pub struct Tile {
    #[prost(message, repeated, tag = "3")]
    pub layers: Vec<Layer>,
}

/// `vector_tile.Tile.Layer`.
#[derive(Clone, PartialEq, Message)]
pub struct Layer {
    #[prost(uint32, required, tag = "15")]
    pub version: u32,
    #[prost(string, required, tag = "1")]
    pub name: String,
    #[prost(message, repeated, tag = "2")]
    pub features: Vec<Feature>,
    #[prost(string, repeated, tag = "3")]
    pub keys: Vec<String>,
    #[prost(message, repeated, tag = "4")]
    pub values: Vec<Value>,
    #[prost(uint32, optional, tag = "5")]
    pub extent: Option<u32>,
}

/// `vector_tile.Tile.Value`: exactly one field is set.
#[derive(Clone, PartialEq, Message)]
pub struct Value {
    #[prost(string, optional, tag = "1")]
    pub string_value: Option<String>,
    #[prost(float, optional, tag = "2")]
    pub float_value: Option<f32>,
    #[prost(double, optional, tag = "3")]
    pub double_value: Option<f64>,
    #[prost(int64, optional, tag = "4")]
    pub int_value: Option<i64>,
    #[prost(uint64, optional, tag = "5")]
    pub uint_value: Option<u64>,
    #[prost(sint64, optional, tag = "6")]
    pub sint_value: Option<i64>,
    #[prost(bool, optional, tag = "7")]
    pub bool_value: Option<bool>,
}

/// `vector_tile.Tile.Feature`.
#[derive(Clone, PartialEq, Message)]
pub struct Feature {
    #[prost(uint64, optional, tag = "1")]
    pub id: Option<u64>,
    #[prost(uint32, repeated, packed = "true", tag = "2")]
    pub tags: Vec<u32>,
    #[prost(enumeration = "GeomType", optional, tag = "3")]
    pub r#type: Option<i32>,
    #[prost(uint32, repeated, packed = "true", tag = "4")]
    pub geometry: Vec<u32>,
}

/// `vector_tile.Tile.GeomType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum GeomType {
    Unknown = 0,
    Point = 1,
    Linestring = 2,
    Polygon = 3,
}

/// A property value as the builder holds it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PropValue {
    Text(String),
    Int(i64),
}

impl From<&PropValue> for Value {
    fn from(value: &PropValue) -> Value {
        match value {
            PropValue::Text(s) => Value {
                string_value: Some(s.clone()),
                ..Value::default()
            },
            PropValue::Int(i) => Value {
                sint_value: Some(*i),
                ..Value::default()
            },
        }
    }
}

/// Builds one layer, interning keys and values.
pub struct LayerBuilder {
    layer: Layer,
    keys: rustc_hash::FxHashMap<String, u32>,
    values: rustc_hash::FxHashMap<PropValue, u32>,
}

impl LayerBuilder {
    pub fn new(name: &str) -> LayerBuilder {
        LayerBuilder {
            layer: Layer {
                version: 2,
                name: name.to_string(),
                extent: Some(EXTENT),
                ..Layer::default()
            },
            keys: rustc_hash::FxHashMap::default(),
            values: rustc_hash::FxHashMap::default(),
        }
    }

    /// Adds a feature whose geometry is already encoded; empty geometry is skipped.
    pub fn push(
        &mut self,
        id: Option<u64>,
        kind: GeomType,
        geometry: Vec<u32>,
        props: &[(&str, PropValue)],
    ) {
        if geometry.is_empty() {
            return;
        }
        let mut tags = Vec::with_capacity(props.len() * 2);
        for (key, value) in props {
            let next = self.keys.len() as u32;
            let k = *self.keys.entry((*key).to_string()).or_insert_with(|| {
                self.layer.keys.push((*key).to_string());
                next
            });
            let next = self.values.len() as u32;
            let v = *self.values.entry(value.clone()).or_insert_with(|| {
                self.layer.values.push(Value::from(value));
                next
            });
            tags.extend([k, v]);
        }
        self.layer.features.push(Feature {
            id,
            tags,
            r#type: Some(kind as i32),
            geometry,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.layer.features.is_empty()
    }

    pub fn finish(self) -> Layer {
        self.layer
    }
}

fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

fn unzigzag(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

fn command(id: u32, count: usize) -> u32 {
    (id & 0x7) | ((count as u32) << 3)
}

/// Encodes geometry commands with a running cursor, as the spec requires across the parts
/// of one feature.
#[derive(Default)]
pub struct GeometryEncoder {
    out: Vec<u32>,
    cursor: (i32, i32),
}

impl GeometryEncoder {
    fn delta(&mut self, p: (i32, i32)) {
        self.out.push(zigzag(p.0 - self.cursor.0));
        self.out.push(zigzag(p.1 - self.cursor.1));
        self.cursor = p;
    }

    /// Points (one `MoveTo` with a repeat count).
    pub fn points(&mut self, points: &[(i32, i32)]) {
        if points.is_empty() {
            return;
        }
        self.out.push(command(MOVE_TO, points.len()));
        for &p in points {
            self.delta(p);
        }
    }

    /// One line part; fewer than two distinct points is skipped.
    pub fn line(&mut self, points: &[(i32, i32)]) {
        if points.len() < 2 {
            return;
        }
        self.out.push(command(MOVE_TO, 1));
        self.delta(points[0]);
        self.out.push(command(LINE_TO, points.len() - 1));
        for &p in &points[1..] {
            self.delta(p);
        }
    }

    /// One ring, open (its first point is not repeated at the end); fewer than three points
    /// is skipped.
    pub fn ring(&mut self, points: &[(i32, i32)]) {
        if points.len() < 3 {
            return;
        }
        self.line(points);
        self.out.push(command(CLOSE_PATH, 1));
    }

    pub fn finish(self) -> Vec<u32> {
        self.out
    }
}

/// Twice the signed area of an open ring in tile coordinates (y down): positive for an
/// exterior ring as MVT 2.1 orients it (clockwise on screen).
pub fn ring_area2(ring: &[(i32, i32)]) -> i64 {
    let mut sum = 0i64;
    for (i, &(x0, y0)) in ring.iter().enumerate() {
        let (x1, y1) = ring[(i + 1) % ring.len()];
        sum += i64::from(x0) * i64::from(y1) - i64::from(x1) * i64::from(y0);
    }
    sum
}

/// A decoded feature geometry: parts of points in tile units (lines and rings; points are
/// one part per `MoveTo`).
pub type Parts = Vec<Vec<(i32, i32)>>;

/// Why a tile's bytes are not a valid tile.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a vector tile: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("layer {layer}: {reason}")]
    Layer { layer: String, reason: String },
}

/// Decodes a tile (uncompressed bytes).
pub fn decode(bytes: &[u8]) -> Result<Tile, DecodeError> {
    Ok(Tile::decode(bytes)?)
}

/// Decodes one feature's geometry into parts, checking every command and index.
pub fn decode_geometry(geometry: &[u32]) -> Result<Parts, String> {
    let mut parts: Parts = Vec::new();
    let mut cursor = (0i32, 0i32);
    let mut i = 0;
    while i < geometry.len() {
        let (id, count) = (geometry[i] & 0x7, (geometry[i] >> 3) as usize);
        i += 1;
        match id {
            MOVE_TO | LINE_TO => {
                let needed = count.checked_mul(2).ok_or("command count overflows")?;
                let args = geometry
                    .get(i..i + needed)
                    .ok_or_else(|| format!("command at {i} wants {needed} parameters"))?;
                i += needed;
                for pair in args.chunks_exact(2) {
                    cursor = (
                        cursor.0.wrapping_add(unzigzag(pair[0])),
                        cursor.1.wrapping_add(unzigzag(pair[1])),
                    );
                    if id == MOVE_TO {
                        parts.push(vec![cursor]);
                    } else {
                        parts
                            .last_mut()
                            .ok_or("LineTo before any MoveTo")?
                            .push(cursor);
                    }
                }
            }
            CLOSE_PATH => {
                if parts.is_empty() {
                    return Err("ClosePath before any MoveTo".into());
                }
            }
            other => return Err(format!("unknown command {other}")),
        }
    }
    Ok(parts)
}

/// Checks a decoded layer's tag indexes, so that a consumer can index keys and values.
pub fn check_layer(layer: &Layer) -> Result<(), DecodeError> {
    let bad = |reason: String| DecodeError::Layer {
        layer: layer.name.clone(),
        reason,
    };
    for feature in &layer.features {
        if feature.tags.len() % 2 != 0 {
            return Err(bad("odd number of tags".into()));
        }
        for pair in feature.tags.chunks_exact(2) {
            if pair[0] as usize >= layer.keys.len() || pair[1] as usize >= layer.values.len() {
                return Err(bad(format!("tag {pair:?} out of range")));
            }
        }
        decode_geometry(&feature.geometry).map_err(bad)?;
    }
    Ok(())
}

/// A feature's properties as `(key, value)` text pairs (numbers formatted), for tests and
/// tools.
pub fn properties(layer: &Layer, feature: &Feature) -> Vec<(String, String)> {
    feature
        .tags
        .chunks_exact(2)
        .filter_map(|pair| {
            let key = layer.keys.get(pair[0] as usize)?;
            let value = layer.values.get(pair[1] as usize)?;
            let text = if let Some(s) = &value.string_value {
                s.clone()
            } else if let Some(i) = value.sint_value.or(value.int_value) {
                i.to_string()
            } else if let Some(u) = value.uint_value {
                u.to_string()
            } else if let Some(b) = value.bool_value {
                b.to_string()
            } else if let Some(f) = value.double_value {
                f.to_string()
            } else {
                value.float_value.map(|f| f.to_string()).unwrap_or_default()
            };
            Some((key.clone(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_the_specification_examples() {
        // Spec 4.3.5.1 and 4.3.5.2: a point at (25, 17), a line (2,2) (2,10) (10,10).
        let mut e = GeometryEncoder::default();
        e.points(&[(25, 17)]);
        assert_eq!(e.finish(), vec![9, 50, 34]);
        let mut e = GeometryEncoder::default();
        e.line(&[(2, 2), (2, 10), (10, 10)]);
        assert_eq!(e.finish(), vec![9, 4, 4, 18, 0, 16, 16, 0]);
        // Spec 4.3.5.3: polygon (3,6) (8,12) (20,34).
        let mut e = GeometryEncoder::default();
        e.ring(&[(3, 6), (8, 12), (20, 34)]);
        let g = e.finish();
        assert_eq!(g, vec![9, 6, 12, 18, 10, 12, 24, 44, 15]);
        assert_eq!(
            decode_geometry(&g).unwrap(),
            vec![vec![(3, 6), (8, 12), (20, 34)]]
        );
        assert!(ring_area2(&[(3, 6), (8, 12), (20, 34)]) > 0);
    }

    #[test]
    fn a_layer_round_trips_through_protobuf() {
        let mut layer = LayerBuilder::new("roads");
        let mut e = GeometryEncoder::default();
        e.line(&[(0, 0), (4096, 4096)]);
        layer.push(
            Some(7),
            GeomType::Linestring,
            e.finish(),
            &[
                ("class", PropValue::Text("primary".into())),
                ("oneway", PropValue::Int(1)),
            ],
        );
        let tile = Tile {
            layers: vec![layer.finish()],
        };
        let decoded = decode(&tile.encode_to_vec()).unwrap();
        assert_eq!(decoded, tile);
        check_layer(&decoded.layers[0]).unwrap();
        assert_eq!(
            properties(&decoded.layers[0], &decoded.layers[0].features[0]),
            vec![
                ("class".into(), "primary".into()),
                ("oneway".into(), "1".into())
            ]
        );
    }

    #[test]
    fn malformed_geometry_is_an_error_not_a_panic() {
        for bad in [
            vec![9],
            vec![7],
            vec![10, 1, 1, 2],
            vec![u32::MAX],
            vec![18, 2, 2],
        ] {
            assert!(decode_geometry(&bad).is_err(), "{bad:?}");
        }
    }
}
