//! Turns a computed route into the Google Directions response shape (legs, steps, polylines).
//!
//! Everything here is pure: the router hands over the travelled edges, this module decides
//! where instructions go and how they read. Step rules, in short:
//!
//! - A step is "do a maneuver, then follow a road until the next maneuver": the first step
//!   is `depart`, the last is a zero-length `arrive` at the end point.
//! - Consecutive edges merge while they stay on the same road (same name, else same `ref`)
//!   without a real turn (|angle| < [`SAME_ROAD_TURN_DEG`]); two unnamed edges merge only when
//!   going roughly straight (|angle| < [`UNNAMED_STRAIGHT_DEG`]).
//! - Edges without direction (all segments shorter than 1 cm, e.g. a piece trimmed away at a
//!   snapped endpoint) never start a step; their length and time go to the neighbouring step.
//! - A run of roundabout edges is one `roundabout` step that also covers the exit road, so the
//!   exit itself is not announced again as a turn.
//!
//! Step distance and duration values are split from rounded cumulative sums, so the leg
//! totals equal the sum of the step values exactly, as clients add them up.

use std::fmt::Write as _;

use geo_core::{LatLon, haversine_m};
use serde::Serialize;

/// Same-road edges meeting at a smaller angle are one step: following a bend is not an
/// instruction. At or above it the driver really turns, which is announced as "to stay on".
pub const SAME_ROAD_TURN_DEG: f64 = 60.0;

/// Unnamed edges have no name to tell them apart, so only going roughly straight continues the
/// step; anything sharper is a turn onto another unnamed road.
pub const UNNAMED_STRAIGHT_DEG: f64 = 30.0;

/// Segments shorter than this have no trustworthy bearing (snapping and interpolation noise).
const MIN_SEGMENT_M: f64 = 0.01;

/// One travelled piece of the route, in travel order, as the router produces it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouteEdge {
    /// Travelled geometry in travel direction (already trimmed at the snapped start/end),
    /// >= 2 points (may be 2 identical points for zero-length pieces).
    pub shape: Vec<LatLon>,
    pub length_m: f64,
    pub duration_s: f64,
    pub name: Option<String>,
    /// OSM `ref`, e.g. "A1"; used when `name` is absent.
    pub reference: Option<String>,
    pub roundabout: bool,
}

/// A quantity in Google's pair form: human text for display, rounded value for arithmetic.
#[derive(Serialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct TextValue {
    pub text: String,
    /// Metres or seconds, rounded.
    pub value: u64,
}

/// Google spells the longitude `lng`; [`LatLon`] is the internal, validated form.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, utoipa::ToSchema)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

impl From<LatLon> for LatLng {
    fn from(p: LatLon) -> Self {
        LatLng {
            lat: p.lat,
            lng: p.lon,
        }
    }
}

/// Wrapped in an object because that is the Google shape (`{"points": "..."}`).
#[derive(Serialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Polyline {
    /// Google encoded polyline, precision 5.
    pub points: String,
}

/// One instruction: perform `maneuver` at `start_location`, then follow `name` to `end_location`.
#[derive(Serialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Step {
    pub distance: TextValue,
    pub duration: TextValue,
    pub start_location: LatLng,
    pub end_location: LatLng,
    /// HTML with names escaped, e.g. `Turn <b>left</b> onto <b>Hämeentie</b>`.
    pub html_instructions: String,
    /// depart, turn-left, turn-right, turn-slight-left, turn-slight-right, turn-sharp-left,
    /// turn-sharp-right, straight, uturn, roundabout or arrive.
    pub maneuver: String,
    /// The road the step follows (name, else `ref`), empty when unnamed.
    pub name: String,
    pub polyline: Polyline,
    pub travel_mode: String,
}

/// The route between two consecutive waypoints.
#[derive(Serialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Leg {
    /// Equals the sum of the step distances exactly.
    pub distance: TextValue,
    /// Equals the sum of the step durations exactly.
    pub duration: TextValue,
    /// A copy of `duration`: this module knows no traffic; the caller overrides it when it does.
    pub duration_in_traffic: TextValue,
    pub start_location: LatLng,
    pub end_location: LatLng,
    pub start_address: String,
    pub end_address: String,
    pub steps: Vec<Step>,
}

// ---------------------------------------------------------------------------------------------
// Encoded polylines
// ---------------------------------------------------------------------------------------------

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

/// The route's geometry as one line: the edges' shapes joined, the point shared by
/// consecutive edges kept once. Exactly the points the steps of [`build_leg`] are cut from.
pub fn route_shape(edges: &[RouteEdge]) -> Vec<LatLon> {
    flatten(edges).0
}

/// The joined points plus, per edge, the index of its last point in them.
fn flatten(edges: &[RouteEdge]) -> (Vec<LatLon>, Vec<usize>) {
    let mut points: Vec<LatLon> = Vec::with_capacity(edges.iter().map(|e| e.shape.len()).sum());
    let mut ends = Vec::with_capacity(edges.len());
    for e in edges {
        let skip = usize::from(
            points
                .last()
                .is_some_and(|last| e.shape.first() == Some(last)),
        );
        points.extend_from_slice(&e.shape[skip.min(e.shape.len())..]);
        ends.push(points.len().saturating_sub(1));
    }
    (points, ends)
}

// ---------------------------------------------------------------------------------------------
// Texts
// ---------------------------------------------------------------------------------------------

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
fn ordinal(n: u32) -> String {
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
fn escape_html(s: &str) -> String {
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

// ---------------------------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------------------------

/// Initial great-circle bearing from `from` to `to`, degrees clockwise from north in
/// `[0, 360)`. geo-core has no bearing helper; this is the standard spherical formula, on the
/// same sphere model as `haversine_m`.
pub fn initial_bearing_deg(from: LatLon, to: LatLon) -> f64 {
    let (lat1, lat2) = (from.lat.to_radians(), to.lat.to_radians());
    let dlon = (to.lon - from.lon).to_radians();
    let y = dlon.sin() * lat2.cos();
    let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * dlon.cos();
    let b = y.atan2(x).to_degrees().rem_euclid(360.0);
    // rem_euclid of a tiny negative number rounds up to exactly 360.
    if b >= 360.0 { 0.0 } else { b }
}

/// Signed turn from one heading to another in `(-180, 180]`; positive turns right.
fn turn_angle_deg(incoming: f64, outgoing: f64) -> f64 {
    let d = (outgoing - incoming).rem_euclid(360.0);
    if d > 180.0 { d - 360.0 } else { d }
}

fn compass_8(bearing: f64) -> &'static str {
    const NAMES: [&str; 8] = [
        "north",
        "northeast",
        "east",
        "southeast",
        "south",
        "southwest",
        "west",
        "northwest",
    ];
    NAMES[((bearing / 45.0).round() as usize) % 8]
}

fn is_directional(a: LatLon, b: LatLon) -> bool {
    haversine_m(a, b) >= MIN_SEGMENT_M
}

fn first_bearing(points: &[LatLon]) -> Option<f64> {
    points
        .windows(2)
        .find(|w| is_directional(w[0], w[1]))
        .map(|w| initial_bearing_deg(w[0], w[1]))
}

fn last_bearing(points: &[LatLon]) -> Option<f64> {
    points
        .windows(2)
        .rev()
        .find(|w| is_directional(w[0], w[1]))
        .map(|w| initial_bearing_deg(w[0], w[1]))
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

/// An empty name is no name: OSM data does carry `name=""` now and then.
fn road_label(e: &RouteEdge) -> Option<&str> {
    fn non_empty(s: &Option<String>) -> Option<&str> {
        s.as_deref().filter(|s| !s.is_empty())
    }
    non_empty(&e.name).or_else(|| non_empty(&e.reference))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TurnType {
    Straight,
    SlightLeft,
    SlightRight,
    Left,
    Right,
    SharpLeft,
    SharpRight,
    UTurn,
}

impl TurnType {
    /// Boundaries: < 20 straight, < 60 slight, < 120 turn, < 170 sharp, else U-turn.
    fn classify(angle: f64) -> TurnType {
        let right = angle > 0.0;
        let a = angle.abs();
        let pick = |l, r| if right { r } else { l };
        if a < 20.0 {
            TurnType::Straight
        } else if a < 60.0 {
            pick(TurnType::SlightLeft, TurnType::SlightRight)
        } else if a < 120.0 {
            pick(TurnType::Left, TurnType::Right)
        } else if a < 170.0 {
            pick(TurnType::SharpLeft, TurnType::SharpRight)
        } else {
            TurnType::UTurn
        }
    }

    fn maneuver(self) -> &'static str {
        match self {
            TurnType::Straight => "straight",
            TurnType::SlightLeft => "turn-slight-left",
            TurnType::SlightRight => "turn-slight-right",
            TurnType::Left => "turn-left",
            TurnType::Right => "turn-right",
            TurnType::SharpLeft => "turn-sharp-left",
            TurnType::SharpRight => "turn-sharp-right",
            TurnType::UTurn => "uturn",
        }
    }

    fn html(self, road: Option<&str>, stay: bool) -> String {
        let head = match self {
            TurnType::Straight if road.is_none() => "Continue straight",
            TurnType::Straight => "Continue",
            TurnType::SlightLeft => "Slight <b>left</b>",
            TurnType::SlightRight => "Slight <b>right</b>",
            TurnType::Left => "Turn <b>left</b>",
            TurnType::Right => "Turn <b>right</b>",
            TurnType::SharpLeft => "Sharp <b>left</b>",
            TurnType::SharpRight => "Sharp <b>right</b>",
            TurnType::UTurn => "Make a <b>U-turn</b>",
        };
        match road {
            None => head.to_owned(),
            Some(r) if stay => format!("{head} to stay on <b>{}</b>", escape_html(r)),
            Some(r) => format!("{head} onto <b>{}</b>", escape_html(r)),
        }
    }
}

#[derive(Debug)]
enum Kind {
    Depart { bearing: f64 },
    Turn { turn: TurnType, stay: bool },
    Roundabout { exits: u32, exited: bool },
}

/// A step before its numbers are rounded: it spans the joined route points up to `end`,
/// starting where the previous step ended.
#[derive(Debug)]
struct Draft {
    kind: Kind,
    /// The road followed: for a roundabout step, the exit road once known.
    label: Option<String>,
    end: usize,
    length_m: f64,
    duration_s: f64,
    /// Whether the last edge taken was part of a roundabout.
    in_ring: bool,
}

impl Draft {
    fn absorb(&mut self, end: usize, length_m: f64, duration_s: f64) {
        self.end = end;
        self.length_m += length_m;
        self.duration_s += duration_s;
    }

    fn maneuver(&self) -> &'static str {
        match self.kind {
            Kind::Depart { .. } => "depart",
            Kind::Turn { turn, .. } => turn.maneuver(),
            Kind::Roundabout { .. } => "roundabout",
        }
    }

    fn html(&self) -> String {
        let road = self.label.as_deref();
        match self.kind {
            Kind::Depart { bearing } => {
                let mut s = format!("Head <b>{}</b>", compass_8(bearing));
                if let Some(r) = road {
                    let _ = write!(s, " on <b>{}</b>", escape_html(r));
                }
                s
            }
            Kind::Turn { turn, stay } => turn.html(road, stay),
            // The route ends inside the roundabout: there is no exit to name.
            Kind::Roundabout { exited: false, .. } => "Enter the roundabout".to_owned(),
            Kind::Roundabout {
                exits,
                exited: true,
            } => {
                let mut s = format!(
                    "Enter the roundabout and take the <b>{}</b> exit",
                    ordinal(exits)
                );
                if let Some(r) = road {
                    let _ = write!(s, " onto <b>{}</b>", escape_html(r));
                }
                s
            }
        }
    }
}

fn non_negative(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { 0.0 }
}

/// Groups the edges into steps (see the module docs for the rules).
fn draft_steps(edges: &[RouteEdge], points: &[LatLon], ends: &[usize]) -> Vec<Draft> {
    let mut drafts: Vec<Draft> = Vec::new();
    // Direction-less edges before the first real one: their cost joins the departure.
    let (mut pending_len, mut pending_dur) = (0.0, 0.0);
    for (e, &end) in edges.iter().zip(ends) {
        let (len, dur) = (non_negative(e.length_m), non_negative(e.duration_s));
        let Some(out_bearing) = first_bearing(&e.shape) else {
            match drafts.last_mut() {
                Some(cur) => cur.absorb(end, len, dur),
                None => {
                    pending_len += len;
                    pending_dur += dur;
                }
            }
            continue;
        };
        let label = road_label(e).map(str::to_owned);
        let fresh = |kind, in_ring| Draft {
            kind,
            label: label.clone(),
            end,
            length_m: len,
            duration_s: dur,
            in_ring,
        };
        let Some(cur) = drafts.last_mut() else {
            let bearing = first_bearing(&points[..=end]).unwrap_or(out_bearing);
            let mut d = fresh(Kind::Depart { bearing }, e.roundabout);
            d.absorb(end, pending_len, pending_dur);
            drafts.push(d);
            continue;
        };
        if e.roundabout {
            if cur.in_ring {
                // Each edge boundary inside the ring is taken to be one junction passed.
                if let Kind::Roundabout { exits, .. } = &mut cur.kind {
                    *exits += 1;
                }
                cur.absorb(end, len, dur);
            } else {
                drafts.push(fresh(
                    Kind::Roundabout {
                        exits: 1,
                        exited: false,
                    },
                    true,
                ));
            }
            continue;
        }
        let leaving_ring = std::mem::replace(&mut cur.in_ring, false);
        if leaving_ring && let Kind::Roundabout { exited, .. } = &mut cur.kind {
            // The roundabout step already announced this exit; it continues on the exit road.
            *exited = true;
            cur.label = label;
            cur.absorb(end, len, dur);
            continue;
        }
        let incoming = last_bearing(&points[..=cur.end]).unwrap_or(out_bearing);
        let angle = turn_angle_deg(incoming, out_bearing);
        let same_road = label.is_some() && label == cur.label;
        let merge = if same_road {
            angle.abs() < SAME_ROAD_TURN_DEG
        } else {
            label.is_none() && cur.label.is_none() && angle.abs() < UNNAMED_STRAIGHT_DEG
        };
        if merge {
            cur.absorb(end, len, dur);
        } else {
            let turn = TurnType::classify(angle);
            drafts.push(fresh(
                Kind::Turn {
                    turn,
                    stay: same_road,
                },
                false,
            ));
        }
    }
    drafts
}

/// Rounds each running total and hands out the differences, so the parts add up to exactly
/// the rounded whole (rounding each part alone could be off by one per step).
fn split_rounded(parts: impl Iterator<Item = f64>) -> Vec<u64> {
    let mut total = 0.0;
    let mut handed_out = 0_u64;
    parts
        .map(|x| {
            total += x;
            let rounded = total.round() as u64;
            let part = rounded - handed_out;
            handed_out = rounded;
            part
        })
        .collect()
}

fn distance_value(metres: u64) -> TextValue {
    TextValue {
        text: distance_text(metres as f64),
        value: metres,
    }
}

fn duration_value(seconds: u64) -> TextValue {
    TextValue {
        text: duration_text(seconds as f64),
        value: seconds,
    }
}

/// The leg for one computed route.
///
/// `travel_mode` is echoed upper-cased into every step ("DRIVING", "WALKING", "BICYCLING").
/// Texts are made from the rounded values, so text and value never disagree.
///
/// Degenerate routes: when no edge has a direction (origin == destination, e.g. one edge
/// `[p, p]`) the leg is a single `arrive` step at that point with zero distance and duration,
/// whatever the edges claim, since there is nothing to travel. An empty `edges` slice (or
/// edges without points) has no location at all: the leg has no steps and (0, 0) as its
/// locations; callers should not produce one.
pub fn build_leg(
    edges: &[RouteEdge],
    travel_mode: &str,
    start_address: String,
    end_address: String,
) -> Leg {
    let travel_mode = travel_mode.to_ascii_uppercase();
    let (points, ends) = flatten(edges);
    let drafts = draft_steps(edges, &points, &ends);
    let metres = split_rounded(drafts.iter().map(|d| d.length_m));
    let seconds = split_rounded(drafts.iter().map(|d| d.duration_s));

    let mut steps = Vec::with_capacity(drafts.len() + 1);
    let mut start = 0;
    for ((d, &m), &s) in drafts.iter().zip(&metres).zip(&seconds) {
        let piece = &points[start..=d.end];
        steps.push(Step {
            distance: distance_value(m),
            duration: duration_value(s),
            start_location: piece[0].into(),
            end_location: piece[piece.len() - 1].into(),
            html_instructions: d.html(),
            maneuver: d.maneuver().to_owned(),
            name: d.label.clone().unwrap_or_default(),
            polyline: overview_polyline(piece),
            travel_mode: travel_mode.clone(),
        });
        start = d.end;
    }
    if let Some(&last) = points.last() {
        steps.push(Step {
            distance: distance_value(0),
            duration: duration_value(0),
            start_location: last.into(),
            end_location: last.into(),
            html_instructions: "Arrive at your destination".to_owned(),
            maneuver: "arrive".to_owned(),
            name: String::new(),
            polyline: overview_polyline(&[last]),
            travel_mode: travel_mode.clone(),
        });
    }

    let origin = LatLng { lat: 0.0, lng: 0.0 };
    let duration = duration_value(seconds.iter().sum());
    Leg {
        distance: distance_value(metres.iter().sum()),
        duration_in_traffic: duration.clone(),
        duration,
        start_location: points.first().map_or(origin, |&p| p.into()),
        end_location: points.last().map_or(origin, |&p| p.into()),
        start_address,
        end_address,
        steps,
    }
}

/// Google's route summary: the road, or the two roads, carrying most of the distance.
///
/// Rule: roads are grouped by name (else `ref`) and ranked by total length (ties: first
/// travelled wins). The top road alone, unless the runner-up covers at least half as much,
/// then both, in travel order: "A1 and Hämeentie". "" when no edge has a name or ref.
pub fn route_summary(edges: &[RouteEdge]) -> String {
    // In order of first appearance.
    let mut roads: Vec<(&str, f64)> = Vec::new();
    for e in edges {
        let Some(label) = road_label(e) else { continue };
        let len = non_negative(e.length_m);
        match roads.iter_mut().find(|(l, _)| *l == label) {
            Some((_, total)) => *total += len,
            None => roads.push((label, len)),
        }
    }
    let mut ranked: Vec<usize> = (0..roads.len()).collect();
    // Stable: ties keep travel order.
    ranked.sort_by(|&a, &b| roads[b].1.total_cmp(&roads[a].1));
    match ranked[..] {
        [] => String::new(),
        [top, second, ..] if roads[second].1 > 0.0 && roads[second].1 >= 0.5 * roads[top].1 => {
            let (first, then) = (top.min(second), top.max(second));
            format!("{} and {}", roads[first].0, roads[then].0)
        }
        [top, ..] => roads[top].0.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    const HELSINKI: LatLon = LatLon {
        lat: 60.17,
        lon: 24.94,
    };
    /// Metres per degree of latitude on the haversine sphere.
    const M_PER_DEG: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;

    fn offset(p: LatLon, north_m: f64, east_m: f64) -> LatLon {
        LatLon {
            lat: p.lat + north_m / M_PER_DEG,
            lon: p.lon + east_m / (M_PER_DEG * p.lat.to_radians().cos()),
        }
    }

    fn heading(p: LatLon, bearing_deg: f64, dist_m: f64) -> LatLon {
        let b = bearing_deg.to_radians();
        offset(p, dist_m * b.cos(), dist_m * b.sin())
    }

    fn length(shape: &[LatLon]) -> f64 {
        shape.windows(2).map(|w| haversine_m(w[0], w[1])).sum()
    }

    fn edge(shape: Vec<LatLon>, name: Option<&str>) -> RouteEdge {
        let length_m = length(&shape);
        RouteEdge {
            shape,
            length_m,
            duration_s: length_m / 10.0,
            name: name.map(str::to_owned),
            ..RouteEdge::default()
        }
    }

    /// Edges driven one after another from `start`: (name, bearing, metres).
    fn drive(start: LatLon, legs: &[(Option<&str>, f64, f64)]) -> Vec<RouteEdge> {
        let mut at = start;
        legs.iter()
            .map(|&(name, bearing, dist)| {
                let to = heading(at, bearing, dist);
                let e = edge(vec![at, to], name);
                at = to;
                e
            })
            .collect()
    }

    fn leg(edges: &[RouteEdge]) -> Leg {
        let leg = build_leg(edges, "driving", "A St".to_owned(), "B St".to_owned());
        assert_well_formed(&leg);
        leg
    }

    fn ll(p: LatLon) -> LatLng {
        p.into()
    }

    fn close(a: LatLng, b: LatLon) -> bool {
        (a.lat - b.lat).abs() <= 0.5e-5 + 1e-9 && (a.lng - b.lon).abs() <= 0.5e-5 + 1e-9
    }

    /// Invariants every leg must satisfy, checked on every leg the tests build.
    fn assert_well_formed(leg: &Leg) {
        if leg.steps.is_empty() {
            assert_eq!(leg.distance.value, 0);
            assert_eq!(leg.duration.value, 0);
            return;
        }
        let steps = &leg.steps;
        assert_eq!(
            steps[0].start_location, leg.start_location,
            "first step starts the leg"
        );
        let arrive = steps.last().unwrap();
        assert_eq!(arrive.maneuver, "arrive");
        assert_eq!(arrive.start_location, leg.end_location);
        assert_eq!(arrive.end_location, leg.end_location);
        assert_eq!((arrive.distance.value, arrive.duration.value), (0, 0));
        if steps.len() > 1 {
            assert_eq!(steps[0].maneuver, "depart");
        }
        for w in steps.windows(2) {
            assert_eq!(w[0].end_location, w[1].start_location, "continuity: {w:#?}");
        }
        let dist: u64 = steps.iter().map(|s| s.distance.value).sum();
        let dur: u64 = steps.iter().map(|s| s.duration.value).sum();
        assert_eq!(dist, leg.distance.value);
        assert_eq!(dur, leg.duration.value);
        assert_eq!(leg.duration, leg.duration_in_traffic);
        assert_eq!(leg.distance.text, distance_text(dist as f64));
        for s in steps {
            assert_eq!(s.travel_mode, "DRIVING");
            assert_eq!(s.distance.text, distance_text(s.distance.value as f64));
            assert_eq!(s.duration.text, duration_text(s.duration.value as f64));
            let pts = decode_polyline(&s.polyline.points).unwrap();
            assert!(!pts.is_empty());
            assert!(close(s.start_location, pts[0]), "{s:?}");
            assert!(close(s.end_location, *pts.last().unwrap()), "{s:?}");
        }
    }

    fn maneuvers(leg: &Leg) -> Vec<&str> {
        leg.steps.iter().map(|s| s.maneuver.as_str()).collect()
    }

    fn htmls(leg: &Leg) -> Vec<&str> {
        leg.steps
            .iter()
            .map(|s| s.html_instructions.as_str())
            .collect()
    }

    // --- polylines -------------------------------------------------------------------------

    #[test]
    fn polyline_google_example() {
        let pts = [
            LatLon {
                lat: 38.5,
                lon: -120.2,
            },
            LatLon {
                lat: 40.7,
                lon: -120.95,
            },
            LatLon {
                lat: 43.252,
                lon: -126.453,
            },
        ];
        let encoded = "_p~iF~ps|U_ulLnnqC_mqNvxq`@";
        assert_eq!(encode_polyline(&pts), encoded);
        assert_eq!(decode_polyline(encoded).unwrap(), pts);
        // Google's single-value walkthrough: -179.9832104 -> "`~oia@".
        let p = LatLon {
            lat: 0.0,
            lon: -179.9832104,
        };
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
                .map(|_| LatLon {
                    lat: rng.random_range(-90.0..=90.0),
                    lon: rng.random_range(-180.0..=180.0),
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
            LatLon {
                lat: -90.0,
                lon: -180.0,
            },
            LatLon {
                lat: 90.0,
                lon: 180.0,
            },
            LatLon {
                lat: -90.0,
                lon: 180.0,
            },
        ];
        assert_eq!(decode_polyline(&encode_polyline(&pts)).unwrap(), pts);
    }

    #[test]
    fn polyline_decode_rejects_garbage() {
        let out_of_range = encode_polyline(&[LatLon {
            lat: 95.0,
            lon: 0.0,
        }]);
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
        let b = offset(a, 100.0, 0.0);
        assert_eq!(
            overview_polyline(&[a, a, b, b, b, a]),
            Polyline {
                points: encode_polyline(&[a, b, a])
            }
        );
    }

    #[test]
    fn route_shape_joins_shared_points() {
        let edges = drive(HELSINKI, &[(None, 0.0, 100.0), (None, 90.0, 100.0)]);
        let shape = route_shape(&edges);
        assert_eq!(
            shape,
            vec![edges[0].shape[0], edges[1].shape[0], edges[1].shape[1]]
        );
        assert!(route_shape(&[]).is_empty());
    }

    // --- texts -----------------------------------------------------------------------------

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

    // --- geometry --------------------------------------------------------------------------

    #[test]
    fn bearings_and_compass() {
        for (b, want) in [
            (0.0, "north"),
            (45.0, "northeast"),
            (90.0, "east"),
            (135.0, "southeast"),
            (180.0, "south"),
            (225.0, "southwest"),
            (270.0, "west"),
            (315.0, "northwest"),
        ] {
            let bearing = initial_bearing_deg(HELSINKI, heading(HELSINKI, b, 100.0));
            assert!(turn_angle_deg(b, bearing).abs() < 0.01, "{b} -> {bearing}");
            assert_eq!(compass_8(bearing), want);
        }
        assert_eq!(compass_8(22.4), "north");
        assert_eq!(compass_8(22.6), "northeast");
        assert_eq!(compass_8(359.0), "north");
        assert_eq!(compass_8(337.6), "north");
        assert_eq!(turn_angle_deg(350.0, 10.0), 20.0);
        assert_eq!(turn_angle_deg(10.0, 350.0), -20.0);
        assert_eq!(turn_angle_deg(0.0, 180.0), 180.0);
        assert_eq!(turn_angle_deg(90.0, 270.0), 180.0);
    }

    // --- steps -----------------------------------------------------------------------------

    #[test]
    fn l_shaped_route() {
        let edges = drive(
            HELSINKI,
            &[
                (Some("Mannerheimintie"), 0.0, 500.0),
                (Some("Hämeentie"), 90.0, 300.0),
            ],
        );
        let leg = leg(&edges);
        assert_eq!(maneuvers(&leg), ["depart", "turn-right", "arrive"]);
        assert_eq!(
            htmls(&leg),
            [
                "Head <b>north</b> on <b>Mannerheimintie</b>",
                "Turn <b>right</b> onto <b>Hämeentie</b>",
                "Arrive at your destination",
            ]
        );
        let s = &leg.steps;
        assert_eq!(s[0].name, "Mannerheimintie");
        assert_eq!(s[1].name, "Hämeentie");
        assert_eq!(s[2].name, "");
        assert_eq!(s[0].distance.value, 500);
        assert_eq!(s[1].distance.value, 300);
        assert_eq!(s[0].duration.value, 50);
        assert_eq!(s[1].duration.value, 30);
        assert_eq!(
            leg.distance,
            TextValue {
                text: "800 m".to_owned(),
                value: 800
            }
        );
        assert_eq!(
            leg.duration,
            TextValue {
                text: "1 min".to_owned(),
                value: 80
            }
        );
        let corner = edges[1].shape[0];
        let end = edges[1].shape[1];
        assert_eq!(leg.start_location, ll(HELSINKI));
        assert_eq!(leg.end_location, ll(end));
        assert_eq!(s[0].end_location, ll(corner));
        assert_eq!(s[1].start_location, ll(corner));
        assert_eq!(s[2].polyline.points, encode_polyline(&[end]));
        assert_eq!(s[0].polyline.points, encode_polyline(&[HELSINKI, corner]));
        assert_eq!(leg.start_address, "A St");
        assert_eq!(leg.end_address, "B St");
    }

    #[test]
    fn turn_classification() {
        let cases = [
            (10.0, "straight", "Continue onto <b>B</b>"),
            (-10.0, "straight", "Continue onto <b>B</b>"),
            (
                30.0,
                "turn-slight-right",
                "Slight <b>right</b> onto <b>B</b>",
            ),
            (
                -45.0,
                "turn-slight-left",
                "Slight <b>left</b> onto <b>B</b>",
            ),
            (90.0, "turn-right", "Turn <b>right</b> onto <b>B</b>"),
            (-90.0, "turn-left", "Turn <b>left</b> onto <b>B</b>"),
            (
                135.0,
                "turn-sharp-right",
                "Sharp <b>right</b> onto <b>B</b>",
            ),
            (-150.0, "turn-sharp-left", "Sharp <b>left</b> onto <b>B</b>"),
            (175.0, "uturn", "Make a <b>U-turn</b> onto <b>B</b>"),
            (-175.0, "uturn", "Make a <b>U-turn</b> onto <b>B</b>"),
            (180.0, "uturn", "Make a <b>U-turn</b> onto <b>B</b>"),
        ];
        for (angle, maneuver, html) in cases {
            // Start heading east so the turns cross north in both directions.
            let edges = drive(
                HELSINKI,
                &[(Some("A"), 90.0, 200.0), (Some("B"), 90.0 + angle, 200.0)],
            );
            let leg = leg(&edges);
            assert_eq!(maneuvers(&leg), ["depart", maneuver, "arrive"], "{angle}");
            assert_eq!(leg.steps[1].html_instructions, html, "{angle}");
        }
    }

    #[test]
    fn unnamed_roads() {
        let edges = drive(HELSINKI, &[(None, 0.0, 100.0), (None, -90.0, 100.0)]);
        let l = leg(&edges);
        assert_eq!(
            htmls(&l),
            [
                "Head <b>north</b>",
                "Turn <b>left</b>",
                "Arrive at your destination"
            ]
        );
        assert_eq!(l.steps[0].name, "");

        // Unnamed to unnamed: merges only when roughly straight.
        for bend in [10.0, -25.0] {
            let edges = drive(HELSINKI, &[(None, 0.0, 100.0), (None, bend, 100.0)]);
            assert_eq!(maneuvers(&leg(&edges)), ["depart", "arrive"], "{bend}");
        }
        let edges = drive(HELSINKI, &[(None, 0.0, 100.0), (None, 35.0, 100.0)]);
        let l = leg(&edges);
        assert_eq!(maneuvers(&l), ["depart", "turn-slight-right", "arrive"]);
        assert_eq!(l.steps[1].html_instructions, "Slight <b>right</b>");

        // Named to unnamed going straight.
        let edges = drive(HELSINKI, &[(Some("A"), 0.0, 100.0), (None, 5.0, 100.0)]);
        let l = leg(&edges);
        assert_eq!(maneuvers(&l), ["depart", "straight", "arrive"]);
        assert_eq!(l.steps[1].html_instructions, "Continue straight");
        // Unnamed to named.
        let edges = drive(HELSINKI, &[(None, 0.0, 100.0), (Some("A"), 0.0, 100.0)]);
        let l = leg(&edges);
        assert_eq!(
            htmls(&l)[..2],
            ["Head <b>north</b>", "Continue onto <b>A</b>"]
        );
    }

    #[test]
    fn same_name_merges() {
        let edges = drive(
            HELSINKI,
            &[
                (Some("A"), 0.0, 100.0),
                (Some("A"), 15.0, 100.0),
                (Some("A"), 55.0, 100.0),
                (Some("A"), 5.0, 100.0),
            ],
        );
        let l = leg(&edges);
        assert_eq!(maneuvers(&l), ["depart", "arrive"]);
        assert_eq!(l.steps[0].distance.value, 400);
        let shape = route_shape(&edges);
        assert_eq!(l.steps[0].polyline.points, encode_polyline(&shape));
        assert_eq!(l.steps[0].end_location, ll(*shape.last().unwrap()));

        // A real turn on the same road is still announced.
        let edges = drive(
            HELSINKI,
            &[(Some("A"), 0.0, 100.0), (Some("A"), 90.0, 100.0)],
        );
        let l = leg(&edges);
        assert_eq!(maneuvers(&l), ["depart", "turn-right", "arrive"]);
        assert_eq!(
            l.steps[1].html_instructions,
            "Turn <b>right</b> to stay on <b>A</b>"
        );
        assert_eq!(l.steps[1].name, "A");
    }

    #[test]
    fn ref_used_when_unnamed() {
        let mut edges = drive(
            HELSINKI,
            &[
                (None, 0.0, 1000.0),
                (None, 5.0, 1000.0),
                (Some(""), 90.0, 100.0),
            ],
        );
        edges[0].reference = Some("A1".to_owned());
        edges[1].reference = Some("A1".to_owned());
        edges[2].reference = Some("E12".to_owned());
        let l = leg(&edges);
        assert_eq!(maneuvers(&l), ["depart", "turn-right", "arrive"]);
        assert_eq!(
            htmls(&l)[..2],
            [
                "Head <b>north</b> on <b>A1</b>",
                "Turn <b>right</b> onto <b>E12</b>"
            ]
        );
        assert_eq!(l.steps[0].name, "A1");
        assert_eq!(l.steps[1].name, "E12");
        assert_eq!(l.steps[0].distance.value, 2000);
    }

    #[test]
    fn step_values_add_up_to_leg_totals() {
        // Many short steps whose individual rounding would drift: 0.4 m and 0.6 s each.
        let names = ["A", "B"];
        let legs: Vec<_> = (0..25)
            .map(|i| (Some(names[i % 2]), (i as f64) * 90.0, 20.0))
            .collect();
        let mut edges = drive(HELSINKI, &legs);
        for e in &mut edges {
            e.length_m = 0.4;
            e.duration_s = 0.6;
        }
        let l = leg(&edges);
        assert_eq!(l.steps.len(), 26);
        assert_eq!(l.distance.value, 10); // round(25 * 0.4)
        assert_eq!(l.duration.value, 15); // round(25 * 0.6)

        let mut rng = StdRng::seed_from_u64(9);
        for _ in 0..30 {
            let n = rng.random_range(1..30);
            let legs: Vec<_> = (0..n)
                .map(|i| {
                    let name = if rng.random_bool(0.3) {
                        None
                    } else {
                        Some(names[i % 2])
                    };
                    (
                        name,
                        rng.random_range(0.0..360.0),
                        rng.random_range(1.0..500.0),
                    )
                })
                .collect();
            let mut edges = drive(HELSINKI, &legs);
            let mut total = (0.0, 0.0);
            for e in &mut edges {
                e.length_m = rng.random_range(0.0..50.0);
                e.duration_s = rng.random_range(0.0..5.0);
                e.roundabout = rng.random_bool(0.1);
                total.0 += e.length_m;
                total.1 += e.duration_s;
            }
            let l = leg(&edges);
            assert_eq!(l.distance.value, total.0.round() as u64);
            assert_eq!(l.duration.value, total.1.round() as u64);
        }
    }

    #[test]
    fn continuity_across_gaps_and_multi_point_shapes() {
        let a = HELSINKI;
        let b = offset(a, 100.0, 0.0);
        let c = offset(a, 200.0, 5.0);
        // The next edge starts 3 m off the previous end: the gap belongs to the next step.
        let d = offset(c, 0.0, 3.0);
        let e = offset(d, 0.0, 100.0);
        let f = offset(e, 0.0, 100.0);
        let edges = vec![
            edge(vec![a, b, b, c], Some("A")),
            edge(vec![d, e, f], Some("B")),
        ];
        let l = leg(&edges);
        assert_eq!(maneuvers(&l), ["depart", "turn-right", "arrive"]);
        assert_eq!(l.steps[0].polyline.points, encode_polyline(&[a, b, c]));
        assert_eq!(l.steps[1].start_location, ll(c));
        assert_eq!(l.steps[1].polyline.points, encode_polyline(&[c, d, e, f]));
    }

    #[test]
    fn zero_length_pieces_are_absorbed() {
        let p = HELSINKI;
        let mut edges = vec![RouteEdge {
            shape: vec![p, p],
            duration_s: 5.0,
            name: Some("Start".to_owned()),
            ..RouteEdge::default()
        }];
        edges.extend(drive(p, &[(Some("A"), 0.0, 100.0)]));
        let q = edges[1].shape[1];
        edges.push(RouteEdge {
            shape: vec![q, q],
            duration_s: 7.0,
            name: Some("Other".to_owned()),
            ..RouteEdge::default()
        });
        edges.extend(drive(
            q,
            &[(Some("A"), 3.0, 100.0), (Some("B"), 90.0, 50.0)],
        ));
        let r = edges.last().unwrap().shape[1];
        edges.push(RouteEdge {
            shape: vec![r, r],
            duration_s: 2.0,
            ..RouteEdge::default()
        });
        let l = leg(&edges);
        assert_eq!(maneuvers(&l), ["depart", "turn-right", "arrive"]);
        assert_eq!(l.steps[0].name, "A");
        assert_eq!(
            l.steps[0].html_instructions,
            "Head <b>north</b> on <b>A</b>"
        );
        assert_eq!(l.steps[0].duration.value, 5 + 10 + 7 + 10);
        assert_eq!(l.steps[1].duration.value, 5 + 2);
        assert_eq!(l.end_location, ll(r));
    }

    #[test]
    fn zero_length_route_is_just_arrive() {
        let p = HELSINKI;
        let edges = vec![RouteEdge {
            shape: vec![p, p],
            length_m: 0.0,
            duration_s: 0.0,
            name: Some("A".to_owned()),
            ..RouteEdge::default()
        }];
        let l = leg(&edges);
        assert_eq!(maneuvers(&l), ["arrive"]);
        assert_eq!(l.steps[0].polyline.points, encode_polyline(&[p]));
        assert_eq!(l.start_location, ll(p));
        assert_eq!(l.end_location, ll(p));
        assert_eq!(
            l.distance,
            TextValue {
                text: "0 m".to_owned(),
                value: 0
            }
        );
        assert_eq!(
            l.duration,
            TextValue {
                text: "0 mins".to_owned(),
                value: 0
            }
        );

        let empty = leg(&[]);
        assert!(empty.steps.is_empty());
        assert_eq!(empty.start_location, LatLng { lat: 0.0, lng: 0.0 });
    }

    /// Points on a circle of radius `r` around `c`, at math angles (counter-clockwise from east).
    fn arc(c: LatLon, r: f64, from_deg: f64, to_deg: f64) -> Vec<LatLon> {
        (0..=4)
            .map(|i| {
                let a = (from_deg + (to_deg - from_deg) * f64::from(i) / 4.0).to_radians();
                offset(c, r * a.sin(), r * a.cos())
            })
            .collect()
    }

    /// Approach from the south on A, go counter-clockwise through `quarters` quarters of a
    /// roundabout (one edge each), leave on B, then turn right onto C.
    fn roundabout_route(quarters: usize) -> Vec<RouteEdge> {
        let centre = offset(HELSINKI, 200.0, 0.0);
        let r = 20.0;
        let entry = offset(centre, -r, 0.0);
        let mut edges = vec![edge(vec![HELSINKI, entry], Some("A"))];
        let mut angle = -90.0;
        for _ in 0..quarters {
            let mut e = edge(arc(centre, r, angle, angle + 90.0), None);
            e.roundabout = true;
            edges.push(e);
            angle += 90.0;
        }
        let exit = *edges.last().unwrap().shape.last().unwrap();
        let exit_bearing = 90.0 - angle; // radially outwards
        edges.extend(drive(
            exit,
            &[
                (Some("B"), exit_bearing, 300.0),
                (Some("C"), exit_bearing + 90.0, 200.0),
            ],
        ));
        edges
    }

    #[test]
    fn roundabout_step() {
        let edges = roundabout_route(3);
        let l = leg(&edges);
        assert_eq!(
            maneuvers(&l),
            ["depart", "roundabout", "turn-right", "arrive"]
        );
        assert_eq!(
            htmls(&l)[..3],
            [
                "Head <b>north</b> on <b>A</b>",
                "Enter the roundabout and take the <b>3rd</b> exit onto <b>B</b>",
                "Turn <b>right</b> onto <b>C</b>",
            ]
        );
        assert_eq!(l.steps[1].name, "B");
        let ring_and_exit: f64 = edges[1..5].iter().map(|e| e.length_m).sum();
        let before: f64 = edges[0].length_m;
        assert_eq!(
            l.steps[1].distance.value,
            (before + ring_and_exit).round() as u64 - before.round() as u64
        );

        let l = leg(&roundabout_route(1));
        assert_eq!(
            l.steps[1].html_instructions,
            "Enter the roundabout and take the <b>1st</b> exit onto <b>B</b>"
        );
    }

    #[test]
    fn roundabout_exit_onto_unnamed_and_route_ending_inside() {
        let mut edges = roundabout_route(2);
        edges[3].name = None;
        let l = leg(&edges);
        assert_eq!(
            l.steps[1].html_instructions,
            "Enter the roundabout and take the <b>2nd</b> exit"
        );
        assert_eq!(l.steps[1].name, "");

        let edges = &roundabout_route(2)[..3];
        let l = leg(edges);
        assert_eq!(maneuvers(&l), ["depart", "roundabout", "arrive"]);
        assert_eq!(l.steps[1].html_instructions, "Enter the roundabout");
    }

    #[test]
    fn route_starting_inside_roundabout() {
        let edges = &roundabout_route(2)[1..];
        let l = leg(edges);
        // Departing counter-clockwise from the south point of the ring heads east.
        assert_eq!(maneuvers(&l)[0], "depart");
        assert_eq!(l.steps[0].html_instructions, "Head <b>east</b>");
        assert_eq!(l.steps[1].name, "B");
        assert_ne!(l.steps[1].maneuver, "roundabout");
    }

    #[test]
    fn two_roundabouts_in_a_row() {
        let first = roundabout_route(2);
        let last = *first[3].shape.last().unwrap();
        let mut edges = first[..4].to_vec();
        let mut second = roundabout_route(1);
        // Shift the second roundabout so it starts where B ends, and drop its approach.
        let shift = (last.lat - HELSINKI.lat, last.lon - HELSINKI.lon);
        for e in &mut second {
            for p in &mut e.shape {
                p.lat += shift.0;
                p.lon += shift.1;
            }
        }
        edges.push(RouteEdge {
            name: Some("B".to_owned()),
            ..second[0].clone()
        });
        edges.extend_from_slice(&second[1..]);
        let l = leg(&edges);
        assert_eq!(
            maneuvers(&l),
            ["depart", "roundabout", "roundabout", "turn-right", "arrive"]
        );
    }

    #[test]
    fn travel_mode_is_upper_cased() {
        let edges = drive(HELSINKI, &[(None, 0.0, 100.0)]);
        let l = build_leg(&edges, "walking", String::new(), String::new());
        assert!(l.steps.iter().all(|s| s.travel_mode == "WALKING"));
    }

    #[test]
    fn json_shape() {
        let edges = drive(HELSINKI, &[(Some("A"), 0.0, 100.0)]);
        let v = serde_json::to_value(leg(&edges)).unwrap();
        for key in [
            "distance",
            "duration",
            "duration_in_traffic",
            "start_location",
            "end_location",
            "start_address",
            "end_address",
            "steps",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["distance"]["value"], 100);
        assert_eq!(v["distance"]["text"], "100 m");
        assert_eq!(v["start_location"]["lng"], 24.94);
        let step = &v["steps"][0];
        for key in [
            "distance",
            "duration",
            "start_location",
            "end_location",
            "html_instructions",
            "maneuver",
            "name",
            "polyline",
            "travel_mode",
        ] {
            assert!(step.get(key).is_some(), "{key}");
        }
        assert!(step["polyline"]["points"].is_string());
    }

    #[test]
    fn summary() {
        let mk = |name: Option<&str>, reference: Option<&str>, len: f64| RouteEdge {
            length_m: len,
            name: name.map(str::to_owned),
            reference: reference.map(str::to_owned),
            ..RouteEdge::default()
        };
        assert_eq!(route_summary(&[]), "");
        assert_eq!(route_summary(&[mk(None, None, 100.0)]), "");
        assert_eq!(
            route_summary(&[mk(Some("Mannerheimintie"), None, 100.0)]),
            "Mannerheimintie"
        );
        // Two comparable roads, in travel order although the second is longer.
        let edges = [
            mk(None, Some("A1"), 3000.0),
            mk(Some("Side"), None, 100.0),
            mk(Some("Hämeentie"), None, 2500.0),
            mk(Some("Hämeentie"), None, 1000.0),
        ];
        assert_eq!(route_summary(&edges), "A1 and Hämeentie");
        // One dominant road.
        let edges = [
            mk(Some("Side"), None, 100.0),
            mk(Some("A"), Some("E12"), 5000.0),
            mk(Some("B"), None, 2000.0),
        ];
        assert_eq!(route_summary(&edges), "A");
        // Ties keep travel order.
        let edges = [mk(Some("X"), None, 10.0), mk(Some("Y"), None, 10.0)];
        assert_eq!(route_summary(&edges), "X and Y");
    }
}
