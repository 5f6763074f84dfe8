//! Step rules: which travelled edges make one step, how each maneuver is classified and
//! worded, how step values are rounded so they add up to the leg's, and the route summary.
//! See the [module documentation](super) for the rules in short.

use std::fmt::Write as _;

use geo_core::{LatLon, turn_angle_deg};

use super::RouteEdge;
use super::heading::{compass_8, first_bearing, last_bearing};
use super::polyline::overview_polyline;
use super::text::{distance_text, duration_text, escape_html, ordinal};
use super::wire::{LatLng, Leg, Step, TextValue};

/// Same-road edges meeting at a smaller angle are one step: following a bend is not an
/// instruction. At or above it the driver really turns, which is announced as "to stay on".
pub const SAME_ROAD_TURN_DEG: f64 = 60.0;

/// Unnamed edges have no name to tell them apart, so only going roughly straight continues the
/// step; anything sharper is a turn onto another unnamed road.
pub const UNNAMED_STRAIGHT_DEG: f64 = 30.0;

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

pub fn duration_value(seconds: u64) -> TextValue {
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
        duration_in_traffic: None,
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
    use crate::directions::encode_polyline;
    use crate::directions::fixtures::*;
    use geo_core::offset_m;
    use rand::{Rng, SeedableRng, rngs::StdRng};

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
        let b = offset_m(a, 100.0, 0.0);
        let c = offset_m(a, 200.0, 5.0);
        // The next edge starts 3 m off the previous end: the gap belongs to the next step.
        let d = offset_m(c, 0.0, 3.0);
        let e = offset_m(d, 0.0, 100.0);
        let f = offset_m(e, 0.0, 100.0);
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
                offset_m(c, r * a.sin(), r * a.cos())
            })
            .collect()
    }

    /// Approach from the south on A, go counter-clockwise through `quarters` quarters of a
    /// roundabout (one edge each), leave on B, then turn right onto C.
    fn roundabout_route(quarters: usize) -> Vec<RouteEdge> {
        let centre = offset_m(HELSINKI, 200.0, 0.0);
        let r = 20.0;
        let entry = offset_m(centre, -r, 0.0);
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
                *p = LatLon::clamped(p.lat + shift.0, p.lon + shift.1);
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
