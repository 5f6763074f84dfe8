//! Instruction texts: Google-style distance and duration texts, ordinals and HTML escaping
//! of road names.

/// Google-style metric distance text.
///
/// Rule: below 1 km (after rounding to whole metres) whole metres, "850 m"; below 100 km one
/// decimal, "2.1 km", "99.9 km"; from there whole kilometres with thousands separators,
/// "123 km", "1,235 km". Negative, zero and non-finite input reads "0 m".
pub fn distance_text(metres: f64) -> String {
    let m = if metres.is_finite() && metres > 0.0 {
        metres
    } else {
        0.0
    };
    if m.round() < 1000.0 {
        return format!("{} m", m.round() as u64);
    }
    let tenths_km = (m / 100.0).round();
    if tenths_km < 1000.0 {
        return format!("{:.1} km", tenths_km / 10.0);
    }
    format!("{} km", group_thousands((m / 1000.0).round() as u64))
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Google-style duration text.
///
/// Rule: round to whole minutes, at least "1 min" for any positive time ("0 mins" for zero,
/// negative or non-finite input); under an hour "5 mins"; under a day "1 hour 5 mins",
/// "2 hours"; from a day on minutes are dropped (rounded to hours): "1 day 3 hours", "2 days".
pub fn duration_text(seconds: f64) -> String {
    if !(seconds.is_finite() && seconds > 0.0) {
        return "0 mins".to_owned();
    }
    let minutes = ((seconds / 60.0).round() as u64).max(1);
    if minutes < 60 {
        return plural(minutes, "min");
    }
    if minutes < 24 * 60 {
        return with_remainder(minutes / 60, "hour", minutes % 60, "min");
    }
    let hours = (minutes + 30) / 60;
    with_remainder(hours / 24, "day", hours % 24, "hour")
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

fn with_remainder(major: u64, major_unit: &str, minor: u64, minor_unit: &str) -> String {
    let mut s = plural(major, major_unit);
    if minor > 0 {
        s.push(' ');
        s.push_str(&plural(minor, minor_unit));
    }
    s
}

/// "1st", "2nd", "3rd", "4th", "11th", "21st", ...
pub(super) fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Road names come from OSM and end up inside HTML; `'` is escaped too, so the text is also
/// safe inside single-quoted attributes.
pub(super) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directions::fixtures::{HELSINKI, drive, htmls, leg};

    #[test]
    fn distance_text_table() {
        let cases = [
            (0.0, "0 m"),
            (0.4, "0 m"),
            (1.0, "1 m"),
            (850.0, "850 m"),
            (999.4, "999 m"),
            (999.5, "1.0 km"),
            (1_000.0, "1.0 km"),
            (2_093.0, "2.1 km"),
            (12_345.0, "12.3 km"),
            (99_949.0, "99.9 km"),
            (99_950.0, "100 km"),
            (123_456.0, "123 km"),
            (1_234_567.0, "1,235 km"),
            (12_345_678.0, "12,346 km"),
            (-5.0, "0 m"),
            (f64::NAN, "0 m"),
            (f64::INFINITY, "0 m"),
        ];
        for (m, want) in cases {
            assert_eq!(distance_text(m), want, "{m}");
        }
    }

    #[test]
    fn duration_text_table() {
        let cases = [
            (0.0, "0 mins"),
            (-3.0, "0 mins"),
            (f64::NAN, "0 mins"),
            (1.0, "1 min"),
            (29.0, "1 min"),
            (60.0, "1 min"),
            (90.0, "2 mins"),
            (283.0, "5 mins"),
            (3_569.0, "59 mins"),
            (3_600.0, "1 hour"),
            (3_660.0, "1 hour 1 min"),
            (3_900.0, "1 hour 5 mins"),
            (7_200.0, "2 hours"),
            (86_340.0, "23 hours 59 mins"),
            (86_370.0, "1 day"),
            (97_200.0, "1 day 3 hours"),
            (176_940.0, "2 days 1 hour"),
            (180_000.0, "2 days 2 hours"),
        ];
        for (s, want) in cases {
            assert_eq!(duration_text(s), want, "{s}");
        }
    }

    #[test]
    fn ordinal_table() {
        let cases = [
            (1, "1st"),
            (2, "2nd"),
            (3, "3rd"),
            (4, "4th"),
            (11, "11th"),
            (12, "12th"),
            (13, "13th"),
            (21, "21st"),
            (22, "22nd"),
            (101, "101st"),
            (111, "111th"),
        ];
        for (n, want) in cases {
            assert_eq!(ordinal(n), want);
        }
    }

    #[test]
    fn html_escaping() {
        assert_eq!(
            escape_html(r#"Tom & Jerry's <"Road">"#),
            "Tom &amp; Jerry&#39;s &lt;&quot;Road&quot;&gt;"
        );
        let edges = drive(
            HELSINKI,
            &[(Some("A & B"), 0.0, 100.0), (Some("<C>"), 90.0, 100.0)],
        );
        let leg = leg(&edges);
        assert_eq!(
            htmls(&leg)[..2],
            [
                "Head <b>north</b> on <b>A &amp; B</b>",
                "Turn <b>right</b> onto <b>&lt;C&gt;</b>"
            ]
        );
        // `name` is data, not HTML.
        assert_eq!(leg.steps[1].name, "<C>");
    }
}
