//! Turn restrictions from `type=restriction` relations.

use osm::{MemberKind, Relation};

use crate::mode::{Mode, ModeMask};
use crate::tags::tag;

/// A restriction as tagged, before it is matched to graph edges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRestriction {
    pub relation_id: i64,
    pub from_ways: Vec<i64>,
    pub via_node: i64,
    pub to_ways: Vec<i64>,
    /// `only_*` (otherwise `no_*`).
    pub only: bool,
    pub modes: ModeMask,
}

/// Why a restriction relation was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// Not `type=restriction`, or a value that is neither `no_*` nor `only_*`.
    NotATurnRestriction,
    /// Via a way rather than a node (not supported yet).
    ViaWay,
    /// Missing from/via/to members, or none of the modes it names is routed here.
    Malformed,
}

/// Reads one relation.
pub fn parse(relation: &Relation) -> Result<RawRestriction, Skipped> {
    let tags = &relation.tags;
    if tag(tags, "type") != Some("restriction") {
        return Err(Skipped::NotATurnRestriction);
    }
    // `restriction` applies to every vehicle; `restriction:<mode>` to that transport mode.
    let (value, mut modes) = if let Some(v) = tag(tags, "restriction") {
        (v, ModeMask::VEHICLES)
    } else if let Some(v) = ["restriction:motorcar", "restriction:motor_vehicle"]
        .iter()
        .find_map(|k| tag(tags, k))
    {
        (v, Mode::Driving.bit())
    } else if let Some(v) = tag(tags, "restriction:vehicle") {
        (v, ModeMask::VEHICLES)
    } else if let Some(v) = tag(tags, "restriction:bicycle") {
        (v, Mode::Cycling.bit())
    } else if let Some(v) = tag(tags, "restriction:foot") {
        (v, Mode::Walking.bit())
    } else {
        return Err(Skipped::NotATurnRestriction);
    };
    let value = value.trim();
    let only = if value.starts_with("only_") {
        true
    } else if value.starts_with("no_") {
        false
    } else {
        return Err(Skipped::NotATurnRestriction);
    };
    if let Some(except) = tag(tags, "except") {
        for exempt in except.split(';').map(str::trim) {
            match exempt {
                "bicycle" => modes = modes.without(Mode::Cycling.bit()),
                "motorcar" | "motor_vehicle" => modes = modes.without(Mode::Driving.bit()),
                _ => {}
            }
        }
    }
    if modes.is_empty() {
        return Err(Skipped::Malformed);
    }
    let mut from_ways = Vec::new();
    let mut to_ways = Vec::new();
    let mut via_nodes = Vec::new();
    for member in &relation.members {
        match (member.role.as_str(), member.kind) {
            ("from", MemberKind::Way) => from_ways.push(member.id),
            ("to", MemberKind::Way) => to_ways.push(member.id),
            ("via", MemberKind::Node) => via_nodes.push(member.id),
            ("via", MemberKind::Way) => return Err(Skipped::ViaWay),
            _ => {}
        }
    }
    match via_nodes.as_slice() {
        [via] if !from_ways.is_empty() && !to_ways.is_empty() => Ok(RawRestriction {
            relation_id: relation.id,
            from_ways,
            via_node: *via,
            to_ways,
            only,
            modes,
        }),
        _ => Err(Skipped::Malformed),
    }
}
