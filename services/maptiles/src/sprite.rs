//! The style's icons as a MapLibre sprite (`/sprites/default.json` + `.png`, and `@2x`),
//! drawn here rather than shipped as images: a few anti-aliased discs.

/// One icon: name, diameter in CSS pixels, fill and ring colours (RGB).
const ICONS: [(&str, u32, [u8; 3], [u8; 3]); 3] = [
    ("poi", 14, [0xe8, 0x6a, 0x17], [0xff, 0xff, 0xff]),
    ("place", 8, [0x33, 0x33, 0x33], [0xff, 0xff, 0xff]),
    ("friend", 18, [0x1f, 0x6f, 0xeb], [0xff, 0xff, 0xff]),
];

/// The sprite at `ratio` (1 or 2): its index JSON and its PNG.
pub fn sprite(ratio: u32) -> (serde_json::Value, Vec<u8>) {
    let ratio = ratio.clamp(1, 2);
    let width: u32 = ICONS.iter().map(|i| i.1 * ratio).sum();
    let height = ICONS.iter().map(|i| i.1 * ratio).max().unwrap_or(1);
    let mut rgba = vec![0u8; (width * height * 4) as usize];
    let mut index = serde_json::Map::new();
    let mut x0 = 0;
    for (name, size, fill, ring) in ICONS {
        let d = size * ratio;
        let r = f64::from(d) / 2.0;
        let ring_width = f64::from(ratio) * 1.5;
        for y in 0..d {
            for x in 0..d {
                let (dx, dy) = (f64::from(x) + 0.5 - r, f64::from(y) + 0.5 - r);
                let dist = (dx * dx + dy * dy).sqrt();
                let alpha = (r - dist + 0.5).clamp(0.0, 1.0);
                if alpha == 0.0 {
                    continue;
                }
                let colour = if dist > r - ring_width { ring } else { fill };
                let at = (((y * width) + x0 + x) * 4) as usize;
                rgba[at..at + 3].copy_from_slice(&colour);
                rgba[at + 3] = (alpha * 255.0).round() as u8;
            }
        }
        index.insert(
            name.to_string(),
            serde_json::json!({"x": x0, "y": 0, "width": d, "height": d, "pixelRatio": ratio}),
        );
        x0 += d;
    }
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("writing to memory");
        writer.write_image_data(&rgba).expect("writing to memory");
    }
    (serde_json::Value::Object(index), png_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_matches_the_image() {
        for ratio in [1, 2] {
            let (index, png_bytes) = sprite(ratio);
            let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
            let reader = decoder.read_info().unwrap();
            let (w, h) = (reader.info().width, reader.info().height);
            for (name, icon) in index.as_object().unwrap() {
                let right = icon["x"].as_u64().unwrap() + icon["width"].as_u64().unwrap();
                assert!(
                    right <= u64::from(w) && icon["height"].as_u64().unwrap() <= u64::from(h),
                    "{name}"
                );
                assert_eq!(icon["pixelRatio"], ratio);
            }
            assert_eq!(index["poi"]["width"], 14 * ratio);
        }
    }
}
