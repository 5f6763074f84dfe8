//! Google's encoded-polyline codec (precision 5): encoding, strict decoding of untrusted
//! input, and the overview polyline of a whole route.

use geo_core::LatLon;

use super::wire::Polyline;

/// Google's encoded polyline algorithm, precision 5.
///
/// Deltas are taken between rounded coordinates (not rounded deltas), so rounding errors do
/// not accumulate along long lines. Every point is encoded, duplicates included.
pub fn encode_polyline(points: &[LatLon]) -> String {
    let mut out = String::with_capacity(points.len() * 8);
    let (mut prev_lat, mut prev_lon) = (0_i64, 0_i64);
    for p in points {
        let (lat, lon) = (to_e5(p.lat), to_e5(p.lon));
        encode_signed(lat - prev_lat, &mut out);
        encode_signed(lon - prev_lon, &mut out);
        (prev_lat, prev_lon) = (lat, lon);
    }
    out
}

fn to_e5(degrees: f64) -> i64 {
    (degrees * 1e5).round() as i64
}

fn encode_signed(value: i64, out: &mut String) {
    // Zigzag: the sign moves to the lowest bit, negatives are inverted.
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x20 {
        out.push(char::from((0x20 | (v & 0x1f)) as u8 + 63));
        v >>= 5;
    }
    out.push(char::from(v as u8 + 63));
}

/// Inverse of [`encode_polyline`]. Rejects anything a well-formed precision-5 polyline cannot
/// contain (bytes outside `?`..`~`, a value cut short, a latitude without longitude, points
/// outside WGS84) instead of guessing, because a client-supplied polyline is untrusted input.
pub fn decode_polyline(s: &str) -> Result<Vec<LatLon>, String> {
    let bytes = s.as_bytes();
    let mut pos = 0;
    let (mut lat, mut lon) = (0_i64, 0_i64);
    let mut points = Vec::new();
    while pos < bytes.len() {
        lat += decode_signed(bytes, &mut pos)?;
        if pos >= bytes.len() {
            return Err(format!(
                "polyline ends after a latitude (point {})",
                points.len()
            ));
        }
        lon += decode_signed(bytes, &mut pos)?;
        let p = LatLon::new(lat as f64 / 1e5, lon as f64 / 1e5)
            .map_err(|e| format!("point {}: {e}", points.len()))?;
        points.push(p);
    }
    Ok(points)
}

fn decode_signed(bytes: &[u8], pos: &mut usize) -> Result<i64, String> {
    // Seven 5-bit chunks (35 bits) hold any WGS84 delta at precision 5 with room to spare;
    // longer runs are garbage and would otherwise overflow.
    const MAX_SHIFT: u32 = 30;
    let mut result = 0_u64;
    let mut shift = 0_u32;
    loop {
        let Some(&b) = bytes.get(*pos) else {
            return Err("polyline ends inside a value".to_owned());
        };
        if !(63..=126).contains(&b) {
            return Err(format!(
                "invalid polyline byte 0x{b:02x} at offset {}",
                *pos
            ));
        }
        if shift > MAX_SHIFT {
            return Err(format!("polyline value too long at offset {}", *pos));
        }
        *pos += 1;
        let chunk = u64::from(b - 63);
        result |= (chunk & 0x1f) << shift;
        shift += 5;
        if chunk < 0x20 {
            break;
        }
    }
    let magnitude = (result >> 1) as i64;
    Ok(if result & 1 == 1 {
        !magnitude
    } else {
        magnitude
    })
}

/// The polyline of a whole route (e.g. legs' [`route_shape`]s concatenated).
///
/// Consecutive duplicates are dropped because joined pieces repeat their shared point; no
/// simplification is done, so the overview is as detailed as the steps.
pub fn overview_polyline(points: &[LatLon]) -> Polyline {
    let mut kept: Vec<LatLon> = Vec::with_capacity(points.len());
    for &p in points {
        if kept.last() != Some(&p) {
            kept.push(p);
        }
    }
    Polyline {
        points: encode_polyline(&kept),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directions::fixtures::HELSINKI;
    use geo_core::offset_m;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn polyline_google_example() {
        let pts = [
            LatLon::new(38.5, -120.2).unwrap(),
            LatLon::new(40.7, -120.95).unwrap(),
            LatLon::new(43.252, -126.453).unwrap(),
        ];
        let encoded = "_p~iF~ps|U_ulLnnqC_mqNvxq`@";
        assert_eq!(encode_polyline(&pts), encoded);
        assert_eq!(decode_polyline(encoded).unwrap(), pts);
        // Google's single-value walkthrough: -179.9832104 -> "`~oia@".
        let p = LatLon::new(0.0, -179.9832104).unwrap();
        assert_eq!(encode_polyline(&[p]), "?`~oia@");
        assert_eq!(encode_polyline(&[]), "");
        assert_eq!(decode_polyline("").unwrap(), vec![]);
    }

    #[test]
    fn polyline_round_trip_random() {
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..50 {
            let n = rng.random_range(1..40);
            let pts: Vec<LatLon> = (0..n)
                .map(|_| {
                    LatLon::new(
                        rng.random_range(-90.0..=90.0),
                        rng.random_range(-180.0..=180.0),
                    )
                    .unwrap()
                })
                .collect();
            let back = decode_polyline(&encode_polyline(&pts)).unwrap();
            assert_eq!(back.len(), pts.len());
            for (a, b) in pts.iter().zip(&back) {
                assert!((a.lat - b.lat).abs() <= 0.5e-5 + 1e-9, "{a:?} {b:?}");
                assert!((a.lon - b.lon).abs() <= 0.5e-5 + 1e-9, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn polyline_extremes_round_trip() {
        let pts = [
            LatLon::new(-90.0, -180.0).unwrap(),
            LatLon::new(90.0, 180.0).unwrap(),
            LatLon::new(-90.0, 180.0).unwrap(),
        ];
        assert_eq!(decode_polyline(&encode_polyline(&pts)).unwrap(), pts);
    }

    #[test]
    fn polyline_decode_rejects_garbage() {
        // Latitude 95: two one-point polylines joined read as one point plus a delta.
        let half = encode_polyline(&[LatLon::new(47.5, 0.0).unwrap()]);
        let out_of_range = format!("{half}{half}");
        let cases = [
            "!",            // below '?'
            "_p~iF\u{7f}",  // DEL
            "_p~iF",        // latitude without longitude
            "_p~i",         // cut inside a value
            "_p~iF~ps|",    // cut inside the longitude
            "é",            // non-ASCII
            "~~~~~~~~~~~?", // value too long
            "_p~iF ~ps|U",  // space
            &out_of_range,
        ];
        for c in cases {
            assert!(decode_polyline(c).is_err(), "{c:?} should fail");
        }
    }

    #[test]
    fn overview_polyline_drops_repeats() {
        let a = HELSINKI;
        let b = offset_m(a, 100.0, 0.0);
        assert_eq!(
            overview_polyline(&[a, a, b, b, b, a]),
            Polyline {
                points: encode_polyline(&[a, b, a])
            }
        );
    }
}
