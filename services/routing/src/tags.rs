//! What an OSM way means for routing: which modes may use it in which direction, its road
//! class, speed and the attributes instructions need. First matching rule wins throughout,
//! so each function reads top to bottom like the rule list in the issue.

use crate::mode::{Mode, ModeMask};

/// Road classes, most important first; the tile level follows from the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RoadClass {
    Motorway = 0,
    MotorwayLink,
    Trunk,
    TrunkLink,
    Primary,
    PrimaryLink,
    Secondary,
    SecondaryLink,
    Tertiary,
    TertiaryLink,
    Unclassified,
    Residential,
    LivingStreet,
    Service,
    Road,
    Track,
    Pedestrian,
    Footway,
    Path,
    Steps,
    Cycleway,
    Bridleway,
    Platform,
    Ferry,
    Other,
}

impl RoadClass {
    const BY_TAG: [(&'static str, RoadClass); 24] = [
        ("motorway", RoadClass::Motorway),
        ("motorway_link", RoadClass::MotorwayLink),
        ("trunk", RoadClass::Trunk),
        ("trunk_link", RoadClass::TrunkLink),
        ("primary", RoadClass::Primary),
        ("primary_link", RoadClass::PrimaryLink),
        ("secondary", RoadClass::Secondary),
        ("secondary_link", RoadClass::SecondaryLink),
        ("tertiary", RoadClass::Tertiary),
        ("tertiary_link", RoadClass::TertiaryLink),
        ("unclassified", RoadClass::Unclassified),
        ("residential", RoadClass::Residential),
        ("living_street", RoadClass::LivingStreet),
        ("service", RoadClass::Service),
        ("road", RoadClass::Road),
        ("track", RoadClass::Track),
        ("pedestrian", RoadClass::Pedestrian),
        ("footway", RoadClass::Footway),
        ("path", RoadClass::Path),
        ("steps", RoadClass::Steps),
        ("cycleway", RoadClass::Cycleway),
        ("bridleway", RoadClass::Bridleway),
        ("platform", RoadClass::Platform),
        ("corridor", RoadClass::Footway),
    ];

    /// The class of a `highway=*` value (`None` for values that are not roads at all).
    pub fn from_highway(value: &str) -> Option<RoadClass> {
        Self::BY_TAG
            .iter()
            .find(|(tag, _)| *tag == value)
            .map(|&(_, class)| class)
    }

    pub fn from_u8(value: u8) -> RoadClass {
        const ALL: [RoadClass; 25] = [
            RoadClass::Motorway,
            RoadClass::MotorwayLink,
            RoadClass::Trunk,
            RoadClass::TrunkLink,
            RoadClass::Primary,
            RoadClass::PrimaryLink,
            RoadClass::Secondary,
            RoadClass::SecondaryLink,
            RoadClass::Tertiary,
            RoadClass::TertiaryLink,
            RoadClass::Unclassified,
            RoadClass::Residential,
            RoadClass::LivingStreet,
            RoadClass::Service,
            RoadClass::Road,
            RoadClass::Track,
            RoadClass::Pedestrian,
            RoadClass::Footway,
            RoadClass::Path,
            RoadClass::Steps,
            RoadClass::Cycleway,
            RoadClass::Bridleway,
            RoadClass::Platform,
            RoadClass::Ferry,
            RoadClass::Other,
        ];
        ALL.get(usize::from(value))
            .copied()
            .unwrap_or(RoadClass::Other)
    }

    /// Driving speed in km/h when `maxspeed` is absent or unusable.
    pub fn default_speed_kmh(self) -> u8 {
        use RoadClass::*;
        match self {
            Motorway => 110,
            MotorwayLink => 60,
            Trunk => 90,
            TrunkLink => 50,
            Primary => 65,
            PrimaryLink => 40,
            Secondary => 55,
            SecondaryLink => 35,
            Tertiary => 45,
            TertiaryLink => 30,
            Unclassified => 35,
            Residential | Road => 30,
            LivingStreet => 10,
            Service | Track => 15,
            Ferry => 10,
            Pedestrian | Footway | Path | Steps | Cycleway | Bridleway | Platform | Other => 10,
        }
    }

    /// Cycling speed in km/h.
    pub fn cycling_speed_kmh(self) -> f64 {
        use RoadClass::*;
        match self {
            Track | Path | Bridleway => 12.0,
            Pedestrian | Footway | Platform | Steps => 6.0,
            _ => 16.0,
        }
    }

    fn is_motorway(self) -> bool {
        matches!(self, RoadClass::Motorway | RoadClass::MotorwayLink)
    }
}

/// Walking speed in km/h: walking cost is distance, at this pace.
pub const WALKING_SPEED_KMH: f64 = 5.0;

/// Edge flags (one byte in the tile format).
pub mod flags {
    pub const TOLL: u8 = 1;
    pub const FERRY: u8 = 2;
    pub const BRIDGE: u8 = 4;
    pub const TUNNEL: u8 = 8;
    pub const ROUNDABOUT: u8 = 16;
}

/// Everything the graph needs from one way's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WayAttrs {
    pub class: RoadClass,
    /// Modes allowed along the way's node order.
    pub forward: ModeMask,
    /// Modes allowed against it.
    pub backward: ModeMask,
    /// Driving speed, km/h (from `maxspeed` or the class default).
    pub speed_kmh: u8,
    /// Ferry duration in seconds from `duration=*`, for the speed once the length is known.
    pub ferry_duration_s: Option<u32>,
    pub flags: u8,
    pub name: Option<String>,
    pub reference: Option<String>,
}

/// Reads a tag from a tag list.
pub fn tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

const LIFECYCLE: [&str; 6] = [
    "construction",
    "proposed",
    "planned",
    "abandoned",
    "disused",
    "razed",
];

/// The routing meaning of a way, or `None` when no mode may use it in either direction.
pub fn way_attrs(tags: &[(String, String)]) -> Option<WayAttrs> {
    let t = |k: &str| tag(tags, k);
    let highway = t("highway");
    let is_ferry = t("route") == Some("ferry");
    let class = match highway {
        Some(h) if LIFECYCLE.contains(&h) => return None,
        Some(h) => match RoadClass::from_highway(h) {
            Some(c) => c,
            None if is_ferry => RoadClass::Ferry,
            None => return None,
        },
        None if is_ferry => RoadClass::Ferry,
        None => return None,
    };
    // Squares (`area=yes`) are walked along their outline; vehicles do not follow the
    // outline of a mapped area.
    let area = t("area") == Some("yes");

    let drive = !area && driving_allowed(tags, class);
    let cycle = !area && cycling_allowed(tags, class);
    let walk = walking_allowed(tags, class);

    let (vehicle_fwd, vehicle_bwd, reversible) = vehicle_oneway(tags, class);
    let (bike_fwd, bike_bwd) = match t("oneway:bicycle") {
        Some("no") => (true, true),
        Some("yes" | "1" | "true") => (true, false),
        Some("-1") => (false, true),
        _ if t("cycleway").is_some_and(|v| v.starts_with("opposite")) => (true, true),
        _ => (vehicle_fwd, vehicle_bwd),
    };

    let mut forward = ModeMask::NONE;
    let mut backward = ModeMask::NONE;
    if drive && !reversible {
        forward.set(Mode::Driving, vehicle_fwd);
        backward.set(Mode::Driving, vehicle_bwd);
    }
    if cycle && !reversible {
        forward.set(Mode::Cycling, bike_fwd);
        backward.set(Mode::Cycling, bike_bwd);
    }
    if walk {
        forward.set(Mode::Walking, true);
        backward.set(Mode::Walking, true);
    }
    if forward.is_empty() && backward.is_empty() {
        return None;
    }

    let mut flag_bits = 0;
    if is_ferry {
        flag_bits |= flags::FERRY;
    }
    if matches!(t("toll"), Some("yes" | "true")) {
        flag_bits |= flags::TOLL;
    }
    if t("bridge").is_some_and(|v| v != "no") {
        flag_bits |= flags::BRIDGE;
    }
    if t("tunnel").is_some_and(|v| v != "no") {
        flag_bits |= flags::TUNNEL;
    }
    if matches!(t("junction"), Some("roundabout" | "circular")) {
        flag_bits |= flags::ROUNDABOUT;
    }
    let speed_kmh = t("maxspeed")
        .and_then(parse_maxspeed)
        .map(|s| match s {
            MaxSpeed::Kmh(v) => v,
            MaxSpeed::Unlimited => class.default_speed_kmh().max(130),
        })
        .unwrap_or_else(|| class.default_speed_kmh());
    let clean = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(200).collect::<String>())
    };
    Some(WayAttrs {
        class,
        forward,
        backward,
        speed_kmh,
        ferry_duration_s: if is_ferry {
            t("duration").and_then(parse_duration_s)
        } else {
            None
        },
        flags: flag_bits,
        name: clean(t("name")),
        reference: clean(t("ref")),
    })
}

/// What an access value says: `Some(true)` allowed, `Some(false)` forbidden, `None` no
/// opinion (unknown values fall through to the next rule).
fn access_value(value: Option<&str>) -> Option<bool> {
    match value? {
        "yes" | "designated" | "permissive" | "destination" | "delivery" | "customers"
        | "official" => Some(true),
        "no" | "private" | "agricultural" | "forestry" | "discouraged" | "use_sidepath" => {
            Some(false)
        }
        _ => None,
    }
}

/// The most specific of `keys` (most specific first) that has an opinion.
fn access_chain(tags: &[(String, String)], keys: &[&str]) -> Option<bool> {
    keys.iter().find_map(|k| access_value(tag(tags, k)))
}

fn driving_allowed(tags: &[(String, String)], class: RoadClass) -> bool {
    use RoadClass::*;
    let specific = access_chain(tags, &["motorcar", "motor_vehicle", "vehicle"]);
    if class == Ferry {
        return specific.unwrap_or(false);
    }
    if let Some(allowed) = specific {
        // Footways, paths and steps carry cars only when a car-specific tag says so.
        return allowed && class != Steps;
    }
    if access_value(tag(tags, "access")) == Some(false) {
        return false;
    }
    matches!(
        class,
        Motorway
            | MotorwayLink
            | Trunk
            | TrunkLink
            | Primary
            | PrimaryLink
            | Secondary
            | SecondaryLink
            | Tertiary
            | TertiaryLink
            | Unclassified
            | Residential
            | LivingStreet
            | Service
            | Road
    )
}

fn cycling_allowed(tags: &[(String, String)], class: RoadClass) -> bool {
    use RoadClass::*;
    if class.is_motorway() {
        return false;
    }
    match tag(tags, "bicycle") {
        Some("dismount") => return class != Steps,
        value => {
            if let Some(allowed) = access_value(value) {
                return allowed && class != Steps;
            }
        }
    }
    if class == Ferry {
        return access_chain(tags, &["vehicle", "access"]) != Some(false);
    }
    if access_chain(tags, &["vehicle", "access"]) == Some(false) {
        return false;
    }
    if tag(tags, "motorroad") == Some("yes") {
        return false;
    }
    matches!(
        class,
        Trunk
            | TrunkLink
            | Primary
            | PrimaryLink
            | Secondary
            | SecondaryLink
            | Tertiary
            | TertiaryLink
            | Unclassified
            | Residential
            | LivingStreet
            | Service
            | Road
            | Track
            | Path
            | Cycleway
    )
}

/// The walking rules of the issue, in order.
fn walking_allowed(tags: &[(String, String)], class: RoadClass) -> bool {
    use RoadClass::*;
    match tag(tags, "foot") {
        Some("no" | "private") => return false,
        Some("yes" | "designated" | "permissive") => return true,
        _ => {}
    }
    if matches!(tag(tags, "access"), Some("no" | "private")) {
        return false;
    }
    if tag(tags, "motorroad") == Some("yes") {
        return false;
    }
    match class {
        Footway | Path | Pedestrian | Steps | LivingStreet | Residential | Service
        | Unclassified | Road | Track | Cycleway | Platform | Tertiary | TertiaryLink
        | Secondary | SecondaryLink | Primary | PrimaryLink | Ferry => true,
        Trunk | TrunkLink => has_sidewalk(tags),
        _ => false,
    }
}

fn has_sidewalk(tags: &[(String, String)]) -> bool {
    let yes = |v: Option<&str>| matches!(v, Some("both" | "left" | "right" | "yes"));
    yes(tag(tags, "sidewalk"))
        || ["sidewalk:both", "sidewalk:left", "sidewalk:right"]
            .iter()
            .any(|k| tag(tags, k) == Some("yes"))
}

/// Vehicle oneway: (forward allowed, backward allowed, reversible).
fn vehicle_oneway(tags: &[(String, String)], class: RoadClass) -> (bool, bool, bool) {
    match tag(tags, "oneway") {
        Some("yes" | "1" | "true") => (true, false, false),
        Some("-1" | "reverse") => (false, true, false),
        // Direction changes by the hour: no fixed graph can route it safely.
        Some("reversible" | "alternating") => (false, false, true),
        Some("no" | "0" | "false") => (true, true, false),
        _ => {
            let roundabout = matches!(tag(tags, "junction"), Some("roundabout" | "circular"));
            let implied = roundabout || class.is_motorway();
            (true, !implied, false)
        }
    }
}

/// A parsed `maxspeed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxSpeed {
    Kmh(u8),
    /// `none` (German autobahns): the class default applies, at least 130.
    Unlimited,
}

/// Parses `maxspeed`: `50`, `30 mph`, `50;70` (the lower), `walk`, `none` and the common
/// `CC:zone` values. Absurd values (0, above 250 km/h, garbage) give `None`.
pub fn parse_maxspeed(value: &str) -> Option<MaxSpeed> {
    let value = value.trim();
    if value.contains(';') {
        return value
            .split(';')
            .filter_map(parse_maxspeed)
            .min_by_key(|s| match s {
                MaxSpeed::Kmh(v) => *v as u16,
                MaxSpeed::Unlimited => u16::MAX,
            });
    }
    match value {
        "none" | "signals" | "variable" => return Some(MaxSpeed::Unlimited),
        "walk" => return Some(MaxSpeed::Kmh(6)),
        _ => {}
    }
    if let Some((_, zone)) = value.split_once(':') {
        let zone = zone.trim().to_ascii_lowercase();
        let zone = zone.trim_start_matches("zone").trim_start_matches(':');
        if let Ok(n) = zone.parse::<u32>() {
            return kmh(f64::from(n));
        }
        let country = value[..2].to_ascii_uppercase();
        return match (country.as_str(), zone) {
            (_, "living_street") => kmh(7.0),
            (_, "bicycle_road" | "cyclestreet") => kmh(30.0),
            (_, "school" | "school_zone") => kmh(30.0),
            (_, "urban") => kmh(50.0),
            ("FR" | "CH" | "ES", "rural") => kmh(80.0),
            ("PT", "rural") => kmh(90.0),
            ("DE" | "AT" | "FI" | "LI" | "IT", "rural") => kmh(100.0),
            (_, "rural") => kmh(90.0),
            ("DE", "motorway") => Some(MaxSpeed::Unlimited),
            ("CH", "motorway") => kmh(120.0),
            (_, "motorway") => kmh(130.0),
            (_, "trunk") => kmh(110.0),
            _ => None,
        };
    }
    let lower = value.to_ascii_lowercase();
    let (number, factor) = if let Some(n) = lower.strip_suffix("mph") {
        (n.trim(), 1.609_344)
    } else if let Some(n) = lower
        .strip_suffix("km/h")
        .or_else(|| lower.strip_suffix("kmh"))
    {
        (n.trim(), 1.0)
    } else if let Some(n) = lower.strip_suffix("knots") {
        (n.trim(), 1.852)
    } else {
        (lower.as_str(), 1.0)
    };
    let n: f64 = number.parse().ok()?;
    kmh(n * factor)
}

fn kmh(v: f64) -> Option<MaxSpeed> {
    (v.is_finite() && (1.0..=250.0).contains(&v)).then(|| MaxSpeed::Kmh(v.round() as u8))
}

/// Parses a ferry `duration`: `HH:MM`, `HH:MM:SS` or minutes.
pub fn parse_duration_s(value: &str) -> Option<u32> {
    let parts: Vec<&str> = value.trim().split(':').collect();
    let nums: Option<Vec<u32>> = parts.iter().map(|p| p.trim().parse().ok()).collect();
    let seconds = match nums?.as_slice() {
        [m] => m * 60,
        [h, m] => h * 3600 + m * 60,
        [h, m, s] => h * 3600 + m * 60 + s,
        _ => return None,
    };
    (seconds > 0 && seconds < 7 * 86_400).then_some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxspeed_values() {
        let k = |v| Some(MaxSpeed::Kmh(v));
        assert_eq!(parse_maxspeed("50"), k(50));
        assert_eq!(parse_maxspeed("30 mph"), k(48));
        assert_eq!(parse_maxspeed("20mph"), k(32));
        assert_eq!(parse_maxspeed("50;70"), k(50));
        assert_eq!(parse_maxspeed("walk"), k(6));
        assert_eq!(parse_maxspeed("DE:urban"), k(50));
        assert_eq!(parse_maxspeed("DE:rural"), k(100));
        assert_eq!(parse_maxspeed("FR:rural"), k(80));
        assert_eq!(parse_maxspeed("DE:zone30"), k(30));
        assert_eq!(parse_maxspeed("DE:zone:30"), k(30));
        assert_eq!(parse_maxspeed("DE:living_street"), k(7));
        assert_eq!(parse_maxspeed("none"), Some(MaxSpeed::Unlimited));
        assert_eq!(parse_maxspeed("DE:motorway"), Some(MaxSpeed::Unlimited));
        for absurd in ["0", "-5", "9999", "fast", "", "NaN", "inf", "50 furlongs"] {
            assert_eq!(parse_maxspeed(absurd), None, "{absurd}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_s("01:30"), Some(5400));
        assert_eq!(parse_duration_s("45"), Some(2700));
        assert_eq!(parse_duration_s("0:00:30"), Some(30));
        assert_eq!(parse_duration_s("soon"), None);
        assert_eq!(parse_duration_s("0"), None);
    }
}
