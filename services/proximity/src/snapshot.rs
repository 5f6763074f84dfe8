//! The published index in memory: every published business's summary plus a quadtree over
//! their locations. Built from the `published_businesses` table at start-up and after each
//! publication, then swapped in atomically (readers hold an `Arc` to the snapshot they
//! started with, so a query never sees a half-built index and never waits for a rebuild).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use geo_core::LatLon;
use geo_core::quadtree::{Entry, QuadTree};

use crate::hours::Schedule;
use crate::model::Summary;

/// One immutable published index.
pub struct Snapshot {
    /// Publication version it was built from.
    pub version: i64,
    /// Summaries in ascending id order; a point's quadtree slot is its index here, so ties
    /// in distance break by id.
    summaries: Vec<Summary>,
    /// Parsed opening hours per slot (None when absent or unparseable).
    schedules: Vec<Option<Arc<Schedule>>>,
    categories: HashMap<String, u32>,
    tree: QuadTree,
}

/// A search hit: the business and its distance, metres.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit<'a> {
    pub summary: &'a Summary,
    pub distance_m: f64,
}

/// Filters applied inside the index.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub category: Option<String>,
    /// Evaluate `open_now` at this instant.
    pub open_at: Option<DateTime<Utc>>,
}

impl Snapshot {
    /// Builds from summaries (any order).
    pub fn build(version: i64, mut summaries: Vec<Summary>, leaf_capacity: usize) -> Snapshot {
        summaries.sort_by_key(|s| s.id);
        summaries.dedup_by_key(|s| s.id);
        let mut categories: HashMap<String, u32> = HashMap::new();
        let mut entries = Vec::with_capacity(summaries.len());
        let mut schedules = Vec::with_capacity(summaries.len());
        for (slot, s) in summaries.iter().enumerate() {
            let next = categories.len() as u32;
            let category = *categories.entry(s.category.clone()).or_insert(next);
            entries.push(Entry {
                lat: s.latitude,
                lon: s.longitude,
                slot: slot as u32,
                category,
            });
            schedules.push(
                s.opening_hours
                    .as_deref()
                    .and_then(|text| Schedule::parse(text, s.latitude, s.longitude))
                    .map(Arc::new),
            );
        }
        Snapshot {
            version,
            tree: QuadTree::build(entries, leaf_capacity),
            summaries,
            schedules,
            categories,
        }
    }

    pub fn len(&self) -> usize {
        self.summaries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.summaries.is_empty()
    }

    pub fn tree(&self) -> &QuadTree {
        &self.tree
    }

    /// `None` when the category is unknown (nothing can match).
    fn category_code(&self, category: &Option<String>) -> Result<Option<u32>, ()> {
        match category {
            None => Ok(None),
            Some(name) => self.categories.get(name).map(|c| Some(*c)).ok_or(()),
        }
    }

    fn is_open(&self, slot: usize, at: DateTime<Utc>) -> bool {
        self.schedules[slot].as_ref().is_some_and(|s| s.is_open(at))
    }

    /// Businesses within `radius_m`, ascending (distance, id), strictly after `after`
    /// (a cursor position), at most `limit`; plus the total number of matches.
    pub fn nearby(
        &self,
        center: LatLon,
        radius_m: f64,
        filters: &Filters,
        after: Option<(f64, i64)>,
        limit: usize,
    ) -> (usize, Vec<Hit<'_>>) {
        let Ok(category) = self.category_code(&filters.category) else {
            return (0, Vec::new());
        };
        // The tree skips everything strictly nearer than the cursor; `after` then settles equal
        // distances by id (ids need not exist any more: the cursor may predate a publication).
        let after_slot = after.map(|(d, _)| (d.next_down(), u32::MAX));
        match filters.open_at {
            None => {
                let total = self.tree.count_within(center, radius_m, category);
                let hits = self
                    .tree
                    .nearest(center, radius_m, category, after_slot)
                    .filter(|h| after.is_none_or(|a| self.after(h, a)))
                    .take(limit)
                    .map(|h| self.hit(h))
                    .collect();
                (total, hits)
            }
            Some(at) => {
                // Opening hours are evaluated per match, so the count walks them all.
                let mut total = 0;
                let mut hits = Vec::new();
                for h in self.tree.nearest(center, radius_m, category, None) {
                    let slot = h.entry.slot as usize;
                    if !self.is_open(slot, at) {
                        continue;
                    }
                    total += 1;
                    if hits.len() < limit && after.is_none_or(|a| self.after(&h, a)) {
                        hits.push(self.hit(h));
                    }
                }
                (total, hits)
            }
        }
    }

    /// The k nearest businesses at any distance.
    pub fn nearest(&self, center: LatLon, k: usize, filters: &Filters) -> Vec<Hit<'_>> {
        let Ok(category) = self.category_code(&filters.category) else {
            return Vec::new();
        };
        self.tree
            .nearest(center, f64::INFINITY, category, None)
            .filter(|h| {
                filters
                    .open_at
                    .is_none_or(|at| self.is_open(h.entry.slot as usize, at))
            })
            .take(k)
            .map(|h| self.hit(h))
            .collect()
    }

    fn hit(&self, h: geo_core::quadtree::Hit) -> Hit<'_> {
        Hit {
            summary: &self.summaries[h.entry.slot as usize],
            distance_m: h.distance_m,
        }
    }

    /// Whether a hit comes strictly after the cursor position (distance, id).
    fn after(&self, h: &geo_core::quadtree::Hit, (d, id): (f64, i64)) -> bool {
        let hit_id = self.summaries[h.entry.slot as usize].id;
        (h.distance_m, hit_id) > (d, id)
    }

    /// Heap bytes of the quadtree (the index proper), without summaries.
    pub fn index_bytes(&self) -> usize {
        self.tree.heap_bytes()
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("businesses", &self.summaries.len())
            .finish()
    }
}
