//! Glyph ranges for MapLibre labels (`/fonts/{fontstack}/{start}-{end}.pbf`): signed distance
//! fields rendered from the bundled Noto Sans (SIL Open Font License, `assets/fonts/`), in
//! the protobuf MapLibre reads (`glyphs.proto` of the Mapbox GL style specification).
//!
//! Each glyph is a 24 px outline with a 3 px border; a pixel's value is
//! `255 - 255 * (d / 8 + 0.25)` for signed distance `d` from the outline (positive outside),
//! the encoding TinySDF and node-fontnik use, so that MapLibre's shaders see the edge at 192.

use prost::Message;
use ttf_parser::{Face, OutlineBuilder};

/// The font every label is set in, as styles name it.
pub const FONT_NAME: &str = "Noto Sans Regular";

static FONT: &[u8] = include_bytes!("../assets/fonts/NotoSans-Regular.ttf");

const SIZE: f64 = 24.0;
const BORDER: i32 = 3;
const RADIUS: f64 = 8.0;
const CUTOFF: f64 = 0.25;

#[derive(Clone, PartialEq, Message)]
struct Glyph {
    #[prost(uint32, required, tag = "1")]
    id: u32,
    #[prost(bytes = "vec", optional, tag = "2")]
    bitmap: Option<Vec<u8>>,
    #[prost(uint32, required, tag = "3")]
    width: u32,
    #[prost(uint32, required, tag = "4")]
    height: u32,
    #[prost(sint32, required, tag = "5")]
    left: i32,
    #[prost(sint32, required, tag = "6")]
    top: i32,
    #[prost(uint32, required, tag = "7")]
    advance: u32,
}

#[derive(Clone, PartialEq, Message)]
struct Fontstack {
    #[prost(string, required, tag = "1")]
    name: String,
    #[prost(string, required, tag = "2")]
    range: String,
    #[prost(message, repeated, tag = "3")]
    glyphs: Vec<Glyph>,
}

#[derive(Clone, PartialEq, Message)]
struct Glyphs {
    #[prost(message, repeated, tag = "1")]
    stacks: Vec<Fontstack>,
}

/// Whether a requested font stack (comma-separated names) can be served: it names our font.
pub fn serves_fontstack(stack: &str) -> bool {
    stack.split(',').any(|name| name.trim() == FONT_NAME)
}

/// The protobuf of glyphs `start..=start + 255` (`start` a multiple of 256, at most 65280).
pub fn glyph_range(start: u32) -> Option<Vec<u8>> {
    if !start.is_multiple_of(256) || start > 65280 {
        return None;
    }
    let face = Face::parse(FONT, 0).expect("the bundled font parses");
    let scale = SIZE / f64::from(face.units_per_em());
    let glyphs = (start..=start + 255)
        .filter_map(char::from_u32)
        .filter_map(|c| render(&face, c, scale))
        .collect();
    Some(
        Glyphs {
            stacks: vec![Fontstack {
                name: FONT_NAME.to_string(),
                range: format!("{start}-{}", start + 255),
                glyphs,
            }],
        }
        .encode_to_vec(),
    )
}

/// Flattened outline contours in pixels, y up.
#[derive(Default)]
struct Outline {
    contours: Vec<Vec<(f64, f64)>>,
    scale: f64,
}

impl Outline {
    fn last(&self) -> (f64, f64) {
        self.contours
            .last()
            .and_then(|c| c.last())
            .copied()
            .unwrap_or((0.0, 0.0))
    }

    fn push(&mut self, p: (f64, f64)) {
        if let Some(c) = self.contours.last_mut() {
            c.push(p);
        }
    }
}

impl OutlineBuilder for Outline {
    fn move_to(&mut self, x: f32, y: f32) {
        let s = self.scale;
        self.contours
            .push(vec![(f64::from(x) * s, f64::from(y) * s)]);
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let s = self.scale;
        self.push((f64::from(x) * s, f64::from(y) * s));
    }

    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let s = self.scale;
        let (p0, p1, p2) = (
            self.last(),
            (f64::from(x1) * s, f64::from(y1) * s),
            (f64::from(x) * s, f64::from(y) * s),
        );
        for i in 1..=8 {
            let t = f64::from(i) / 8.0;
            let u = 1.0 - t;
            self.push((
                u * u * p0.0 + 2.0 * u * t * p1.0 + t * t * p2.0,
                u * u * p0.1 + 2.0 * u * t * p1.1 + t * t * p2.1,
            ));
        }
    }

    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let s = self.scale;
        let (p0, p1, p2, p3) = (
            self.last(),
            (f64::from(x1) * s, f64::from(y1) * s),
            (f64::from(x2) * s, f64::from(y2) * s),
            (f64::from(x) * s, f64::from(y) * s),
        );
        for i in 1..=12 {
            let t = f64::from(i) / 12.0;
            let u = 1.0 - t;
            let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
            self.push((
                a * p0.0 + b * p1.0 + c * p2.0 + d * p3.0,
                a * p0.1 + b * p1.1 + c * p2.1 + d * p3.1,
            ));
        }
    }

    fn close(&mut self) {
        if let Some(c) = self.contours.last_mut()
            && let (Some(&first), Some(&last)) = (c.first(), c.last())
            && first != last
        {
            c.push(first);
        }
    }
}

fn render(face: &Face<'_>, c: char, scale: f64) -> Option<Glyph> {
    let id = face.glyph_index(c)?;
    let advance = (f64::from(face.glyph_hor_advance(id).unwrap_or(0)) * scale).round() as u32;
    let mut outline = Outline {
        scale,
        ..Outline::default()
    };
    let Some(bbox) = face.outline_glyph(id, &mut outline) else {
        // Blank glyphs (spaces) carry only their advance.
        return Some(Glyph {
            id: u32::from(c),
            bitmap: None,
            width: 0,
            height: 0,
            left: 0,
            top: -27,
            advance,
        });
    };
    let left = (f64::from(bbox.x_min) * scale).floor() as i32;
    let bottom = (f64::from(bbox.y_min) * scale).floor() as i32;
    let right = (f64::from(bbox.x_max) * scale).ceil() as i32;
    let top = (f64::from(bbox.y_max) * scale).ceil() as i32;
    let (width, height) = ((right - left).max(1), (top - bottom).max(1));
    let (bw, bh) = (width + 2 * BORDER, height + 2 * BORDER);
    let mut bitmap = Vec::with_capacity((bw * bh) as usize);
    for row in 0..bh {
        for col in 0..bw {
            let x = f64::from(left - BORDER + col) + 0.5;
            let y = f64::from(top + BORDER - row) - 0.5;
            let d = distance(&outline.contours, x, y);
            let signed = if winding(&outline.contours, x, y) != 0 {
                -d
            } else {
                d
            };
            let value = 255.0 - 255.0 * (signed / RADIUS + CUTOFF);
            bitmap.push(value.round().clamp(0.0, 255.0) as u8);
        }
    }
    Some(Glyph {
        id: u32::from(c),
        bitmap: Some(bitmap),
        width: width as u32,
        height: height as u32,
        left,
        // MapLibre places glyphs from the top of a 24 px line whose ascent it takes as 27.
        top: top - 27,
        advance,
    })
}

fn distance(contours: &[Vec<(f64, f64)>], x: f64, y: f64) -> f64 {
    let mut best = f64::INFINITY;
    for c in contours {
        for w in c.windows(2) {
            let ((ax, ay), (bx, by)) = (w[0], w[1]);
            let (dx, dy) = (bx - ax, by - ay);
            let len2 = dx * dx + dy * dy;
            let t = if len2 == 0.0 {
                0.0
            } else {
                (((x - ax) * dx + (y - ay) * dy) / len2).clamp(0.0, 1.0)
            };
            let (ex, ey) = (ax + t * dx - x, ay + t * dy - y);
            best = best.min(ex * ex + ey * ey);
        }
    }
    best.sqrt()
}

/// Non-zero winding number (TrueType's fill rule).
fn winding(contours: &[Vec<(f64, f64)>], x: f64, y: f64) -> i32 {
    let mut wn = 0;
    for c in contours {
        for w in c.windows(2) {
            let ((ax, ay), (bx, by)) = (w[0], w[1]);
            let cross = (bx - ax) * (y - ay) - (x - ax) * (by - ay);
            if ay <= y {
                if by > y && cross > 0.0 {
                    wn += 1;
                }
            } else if by <= y && cross < 0.0 {
                wn -= 1;
            }
        }
    }
    wn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latin_range_has_letters_with_an_edge_and_an_inside() {
        let bytes = glyph_range(0).unwrap();
        let decoded = Glyphs::decode(&bytes[..]).unwrap();
        let stack = &decoded.stacks[0];
        assert_eq!(
            (stack.name.as_str(), stack.range.as_str()),
            (FONT_NAME, "0-255")
        );
        let o = stack
            .glyphs
            .iter()
            .find(|g| g.id == u32::from('o'))
            .unwrap();
        let bitmap = o.bitmap.as_ref().unwrap();
        assert_eq!(bitmap.len() as u32, (o.width + 6) * (o.height + 6));
        // The ring of an "o": dark outside, bright on the stroke, darker in the hole.
        let w = (o.width + 6) as usize;
        let row = &bitmap[w * (o.height as usize / 2 + 3)..][..w];
        assert!(row[0] < 128, "{row:?}");
        assert!(row.iter().any(|&v| v > 200), "{row:?}");
        assert!(row[w / 2] < 192, "the counter of the o is outside: {row:?}");
        let space = stack
            .glyphs
            .iter()
            .find(|g| g.id == u32::from(' '))
            .unwrap();
        assert!(space.bitmap.is_none() && space.advance > 0);
        // Finnish and Portuguese letters are in the first range.
        for c in ['ä', 'ö', 'å', 'ç', 'ã'] {
            assert!(stack.glyphs.iter().any(|g| g.id == u32::from(c)), "{c}");
        }
    }

    #[test]
    fn ranges_must_be_aligned() {
        assert!(glyph_range(1).is_none());
        assert!(glyph_range(65536).is_none());
        assert!(glyph_range(65280).is_some());
        assert!(serves_fontstack("Noto Sans Regular"));
        assert!(serves_fontstack("Open Sans Regular,Noto Sans Regular"));
        assert!(!serves_fontstack("Arial Unicode MS Regular"));
    }
}
