//! Towns and villages: road classes and way specs, the world being built, settlements
//! with their street grids, gates and roundabouts, and where they are placed.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Class {
    Motorway,
    MotorwayLink,
    Trunk,
    Primary,
    Secondary,
    Tertiary,
    Unclassified,
    Residential,
}

impl Class {
    pub(super) fn highway(self) -> &'static str {
        match self {
            Class::Motorway => "motorway",
            Class::MotorwayLink => "motorway_link",
            Class::Trunk => "trunk",
            Class::Primary => "primary",
            Class::Secondary => "secondary",
            Class::Tertiary => "tertiary",
            Class::Unclassified => "unclassified",
            Class::Residential => "residential",
        }
    }

    /// Whether a motorway crossing this class gets an interchange.
    pub(super) fn interchanges(self) -> bool {
        matches!(self, Class::Trunk | Class::Primary | Class::Secondary)
    }
}

/// One way before it becomes OSM tags; `refs` index [`World::nodes`].
pub(super) struct WaySpec {
    pub(super) refs: Vec<u32>,
    pub(super) class: Class,
    pub(super) maxspeed: u8,
    pub(super) oneway: bool,
    pub(super) roundabout: bool,
    pub(super) name: Option<String>,
    pub(super) reference: Option<String>,
}

impl WaySpec {
    pub(super) fn new(refs: Vec<u32>, class: Class, maxspeed: u8) -> WaySpec {
        WaySpec {
            refs,
            class,
            maxspeed,
            oneway: false,
            roundabout: false,
            name: None,
            reference: None,
        }
    }

    pub(super) fn into_osm(self, id: i64) -> osm::Way {
        let mut tags = vec![
            ("highway".to_string(), self.class.highway().to_string()),
            ("maxspeed".to_string(), self.maxspeed.to_string()),
        ];
        if self.roundabout {
            tags.push(("junction".into(), "roundabout".into()));
        } else if self.oneway {
            tags.push(("oneway".into(), "yes".into()));
        } else if matches!(self.class, Class::Motorway | Class::MotorwayLink) {
            // Motorways are oneway by default in OSM; these carry both directions.
            tags.push(("oneway".into(), "no".into()));
        }
        if let Some(name) = self.name {
            tags.push(("name".into(), name));
        }
        if let Some(reference) = self.reference {
            tags.push(("ref".into(), reference));
        }
        osm::Way {
            id,
            refs: self.refs.into_iter().map(|r| i64::from(r) + 1).collect(),
            tags,
        }
    }
}

#[derive(Default)]
pub(super) struct World {
    /// Positions, km east and north of the south-west corner; node id = index + 1.
    pub(super) nodes: Vec<P>,
    /// Streets inside settlements, ramps and roundabouts: never split at crossings.
    pub(super) streets: Vec<WaySpec>,
}

impl World {
    pub(super) fn node(&mut self, p: P) -> u32 {
        self.nodes.push(p);
        (self.nodes.len() - 1) as u32
    }

    pub(super) fn pos(&self, n: u32) -> P {
        self.nodes[n as usize]
    }

    /// A bending road from node `a` to node `b` with a node every `step` km (range).
    pub(super) fn road(
        &mut self,
        rng: &mut StdRng,
        a: u32,
        b: u32,
        step: (f64, f64),
        bend: f64,
    ) -> Vec<u32> {
        let (pa, pb) = (self.pos(a), self.pos(b));
        let l = dist(pa, pb);
        let mut refs = vec![a];
        if l > 1e-6 {
            let n = (l / rng.random_range(step.0..step.1)).round().max(1.0) as usize;
            let d = unit(pa, pb);
            let normal = (-d.1, d.0);
            let amplitude = (0.04 * l).min(bend);
            let amp1 = amplitude * rng.random_range(-1.0..1.0);
            let amp2 = amplitude * 0.4 * rng.random_range(-1.0..1.0);
            let phase = rng.random_range(0.0..TAU);
            let seg = l / n as f64;
            for k in 1..n {
                let t = k as f64 / n as f64;
                let lateral = (PI * t).sin() * (amp1 + amp2 * (2.0 * TAU * t + phase).sin())
                    + rng.random_range(-0.05..0.05) * seg;
                let along = t * l + rng.random_range(-0.15..0.15) * seg;
                refs.push(self.node((
                    pa.0 + d.0 * along + normal.0 * lateral,
                    pa.1 + d.1 * along + normal.1 * lateral,
                )));
            }
        }
        refs.push(b);
        refs
    }
}

/// Where roads attach to a settlement: the end of a main or arterial street, possibly
/// with a roundabout just outside it.
#[derive(Clone)]
pub(super) struct Gate {
    pub(super) node: u32,
    pub(super) pos: P,
    pub(super) ring: Vec<u32>,
}

impl Gate {
    /// The node a road heading to or from `toward` attaches to.
    pub(super) fn attach(&self, world: &World, toward: P) -> u32 {
        self.ring
            .iter()
            .copied()
            .min_by(|&a, &b| dist(world.pos(a), toward).total_cmp(&dist(world.pos(b), toward)))
            .unwrap_or(self.node)
    }
}

pub(super) fn nearest_gate(gates: &[Gate], toward: P) -> usize {
    (0..gates.len())
        .min_by(|&a, &b| dist(gates[a].pos, toward).total_cmp(&dist(gates[b].pos, toward)))
        .expect("every settlement has gates")
}

/// A town or village: an elliptic street grid of semi-axes `a` >= `b`, rotated by `theta`.
pub(super) struct Settlement {
    pub(super) c: P,
    pub(super) a: f64,
    pub(super) b: f64,
    pub(super) theta: f64,
    /// Street spacing, km.
    pub(super) s: f64,
    pub(super) town: bool,
    pub(super) name: String,
    /// Ends of the centre cross (the through roads attach here).
    pub(super) main: Vec<Gate>,
    /// `main` plus the ends of arterials (rural roads attach to any).
    pub(super) gates: Vec<Gate>,
}

impl Settlement {
    pub(super) fn planned(c: P, a: f64, b: f64, s: f64, theta: f64, town: bool) -> Settlement {
        Settlement {
            c,
            a,
            b,
            theta,
            s,
            town,
            name: String::new(),
            main: Vec::new(),
            gates: Vec::new(),
        }
    }

    pub(super) fn expected_nodes(&self) -> f64 {
        PI * self.a * self.b / (self.s * self.s)
    }

    /// Allocates the street grid, its ways and gates.
    pub(super) fn build(&mut self, world: &mut World, rng: &mut StdRng) {
        let s = self.s;
        let n = ((self.a / s).floor() as i32).max(1); // columns j: local x = j * s
        let m = ((self.b / s).floor() as i32).max(1); // rows i: local y = i * s
        let width = (2 * n + 1) as usize;
        let at = |i: i32, j: i32| (i + m) as usize * width + (j + n) as usize;
        let mut grid = vec![u32::MAX; width * (2 * m + 1) as usize];
        let (sin, cos) = self.theta.sin_cos();
        let jitter = 0.15 * s;
        for i in -m..=m {
            for j in -n..=n {
                let (x, y) = (f64::from(j) * s, f64::from(i) * s);
                // The ellipse test uses the unjittered lattice, so every row and column
                // is one interval, symmetric about the centre cross.
                if i != 0 && j != 0 && (x / self.a).powi(2) + (y / self.b).powi(2) > 1.0 {
                    continue;
                }
                let x = x + rng.random_range(-jitter..jitter);
                let y = y + rng.random_range(-jitter..jitter);
                grid[at(i, j)] =
                    world.node((self.c.0 + x * cos - y * sin, self.c.1 + x * sin + y * cos));
            }
        }
        let arterial_every = ((1.0 / s).round() as i32).max(4);
        let big = self.a >= 3.0;
        let mut ends: Vec<(u32, bool)> = Vec::new(); // (node, main cross)
        for column in [false, true] {
            let (outer, inner) = if column { (n, m) } else { (m, n) };
            for k in -outer..=outer {
                let mut refs: Vec<u32> = (-inner..=inner)
                    .map(|l| {
                        if column {
                            grid[at(l, k)]
                        } else {
                            grid[at(k, l)]
                        }
                    })
                    .filter(|&v| v != u32::MAX)
                    .collect();
                if refs.len() < 2 {
                    continue;
                }
                let arterial = self.town && k != 0 && k % arterial_every == 0;
                let (class, speed) = if k == 0 {
                    if self.town {
                        (Class::Primary, 50)
                    } else {
                        (Class::Unclassified, 50)
                    }
                } else if arterial {
                    let class = if big && k.abs() == arterial_every {
                        Class::Secondary
                    } else {
                        Class::Tertiary
                    };
                    (class, 50)
                } else if self.town && rng.random_bool(0.3) {
                    (Class::Residential, 50)
                } else {
                    (Class::Residential, 30)
                };
                let number = k + outer + 1;
                let kind = if column { "Avenue" } else { "Street" };
                let name = if k == 0 {
                    Some(format!("Main {kind} of {}", self.name))
                } else if arterial {
                    Some(format!("Boulevard {number} of {}", self.name))
                } else if rng.random_bool(0.9) {
                    Some(format!("{kind} {number} of {}", self.name))
                } else {
                    None
                };
                // Only streets parallel to the first arm are oneway: each of their nodes
                // lies on a two-way street reaching the other arm of the cross.
                let oneway =
                    class == Class::Residential && self.town && !column && rng.random_bool(0.15);
                if oneway && rng.random_bool(0.5) {
                    refs.reverse();
                }
                if k == 0 || arterial {
                    ends.push((refs[0], k == 0));
                    ends.push((refs[refs.len() - 1], k == 0));
                }
                let mut way = WaySpec::new(refs, class, speed);
                way.oneway = oneway;
                way.name = name;
                world.streets.push(way);
            }
        }
        let roundabouts = self.town && rng.random_bool(0.35);
        let main_name = format!("Main Street of {}", self.name);
        for (node, main) in ends {
            let pos = world.pos(node);
            let mut gate = Gate {
                node,
                pos,
                ring: Vec::new(),
            };
            if main && roundabouts {
                gate.ring = roundabout(world, self.c, node, &main_name);
            }
            if main {
                self.main.push(gate.clone());
            }
            self.gates.push(gate);
        }
    }
}

/// A roundabout just outside the street end `node`, joined to it by a short primary; the
/// ring nodes, counter-clockwise (right-hand traffic).
pub(super) fn roundabout(world: &mut World, centre: P, node: u32, name: &str) -> Vec<u32> {
    let pos = world.pos(node);
    let u = unit(centre, pos);
    let radius = 0.03;
    let c = (pos.0 + u.0 * (0.05 + radius), pos.1 + u.1 * (0.05 + radius));
    let start = (-u.1).atan2(-u.0); // the ring node facing the town comes first
    let ring: Vec<u32> = (0..8)
        .map(|q| {
            let angle = start + TAU * f64::from(q) / 8.0;
            world.node((c.0 + radius * angle.cos(), c.1 + radius * angle.sin()))
        })
        .collect();
    let mut entry = WaySpec::new(vec![node, ring[0]], Class::Primary, 50);
    entry.name = Some(name.to_string());
    world.streets.push(entry);
    let mut refs = ring.clone();
    refs.push(ring[0]);
    let mut way = WaySpec::new(refs, Class::Primary, 30);
    way.roundabout = true;
    world.streets.push(way);
    ring
}

/// Towns on a jittered grid, sized by rank, biggest first; overlapping ones are dropped.
pub(super) fn plan_towns(w: f64, h: f64, target: f64, rng: &mut StdRng) -> Vec<Settlement> {
    let cols = (w / TOWN_CELL_KM).round().max(1.0) as usize;
    let rows = (h / TOWN_CELL_KM).round().max(1.0) as usize;
    let (cw, ch) = (w / cols as f64, h / rows as f64);
    let mut centres = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            centres.push((
                (c as f64 + 0.5 + rng.random_range(-0.3..0.3)) * cw,
                (r as f64 + 0.5 + rng.random_range(-0.3..0.3)) * ch,
            ));
        }
    }
    centres.shuffle(rng);
    let n = centres.len() as f64;
    // (centre, relative radius, aspect, spacing) by rank; radius ~ rank^-0.35.
    let drafts: Vec<(P, f64, f64, f64)> = centres
        .into_iter()
        .enumerate()
        .map(|(k, c)| {
            let rank = (k + 1) as f64;
            let spacing = (0.085 + 0.075 * (rank / n).sqrt()) * rng.random_range(0.9..1.1);
            let radius = rank.powf(-0.35) * rng.random_range(0.85..1.15);
            (c, radius, rng.random_range(0.65..1.0), spacing)
        })
        .collect();
    let unit_nodes: f64 = drafts
        .iter()
        .map(|&(_, r, e, s)| PI * r * r * e / (s * s))
        .sum();
    let scale = (TOWN_SHARE * target / unit_nodes).sqrt().clamp(1.5, 10.0);
    let mut towns: Vec<Settlement> = Vec::new();
    for (c, radius, aspect, s) in drafts {
        let border = c.0.min(w - c.0).min(c.1).min(h - c.1) - 0.5;
        let a = (scale * radius).clamp(0.5, 10.0).min(border);
        let b = (a * aspect).max(1.05 * s);
        if a < b || towns.iter().any(|t| dist(t.c, c) < t.a + a + 2.0) {
            continue;
        }
        towns.push(Settlement::planned(
            c,
            a,
            b,
            s,
            rng.random_range(0.0..PI),
            true,
        ));
    }
    towns.sort_by(|x, y| y.a.total_cmp(&x.a));
    towns
}

/// Villages on a jittered grid of `cell` km, clear of towns and of the roads so far.
pub(super) fn plan_villages(
    w: f64,
    h: f64,
    cell: f64,
    towns: &[Settlement],
    avoid: (&SegmentGrid, &[P], &[&[u32]]),
    rng: &mut StdRng,
) -> Vec<Settlement> {
    let (grid, nodes, ways) = avoid;
    let town_centres: Vec<P> = towns.iter().map(|t| t.c).collect();
    let town_grid = PointGrid::new(&town_centres, TOWN_CELL_KM);
    let max_town = towns.iter().map(|t| t.a).fold(0.0, f64::max);
    let cols = (w / cell).ceil() as usize;
    let rows = (h / cell).ceil() as usize;
    let cap = (0.28 * cell - 0.1).clamp(0.2, 0.9);
    let mut out = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            let centre = (
                (c as f64 + 0.5 + rng.random_range(-0.2..0.2)) * cell,
                (r as f64 + 0.5 + rng.random_range(-0.2..0.2)) * cell,
            );
            let s = rng.random_range(0.10..0.16);
            let a = (0.22 * rng.random_range(0.0f64..1.0).max(1e-3).powf(-0.5)).min(cap);
            let b = (a * rng.random_range(0.6..1.0)).max(1.05 * s);
            let a = a.max(b);
            let theta = rng.random_range(0.0..PI);
            let border = centre.0.min(w - centre.0).min(centre.1).min(h - centre.1);
            if border < a + 0.3 {
                continue;
            }
            let mut clear = true;
            town_grid.within(&town_centres, centre, max_town + a + 1.0, |t| {
                if dist(town_centres[t as usize], centre) < towns[t as usize].a + a + 1.0 {
                    clear = false;
                }
            });
            if !clear || grid.near(nodes, ways, centre, a + 0.3) {
                continue;
            }
            out.push(Settlement::planned(centre, a, b, s, theta, false));
        }
    }
    out
}

pub(super) fn speed(rng: &mut StdRng, usual: u8, other: u8, p_other: f64) -> u8 {
    if rng.random_bool(p_other) {
        other
    } else {
        usual
    }
}
