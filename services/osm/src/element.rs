//! The owned element model shared by the PBF and XML readers.

/// A point with an id, a position in WGS 84 degrees and tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// OSM node id (negative ids occur in unsaved editor data).
    pub id: i64,
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Tags in file order; keys are unique in valid data.
    pub tags: Vec<(String, String)>,
}

/// An ordered list of node references (a road, a building outline, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Way {
    /// OSM way id.
    pub id: i64,
    /// Node ids in drawing order; closed ways repeat the first id at the end.
    pub refs: Vec<i64>,
    /// Tags in file order.
    pub tags: Vec<(String, String)>,
}

/// A grouping of other elements, each with a role (multipolygons, routes, turn restrictions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// OSM relation id.
    pub id: i64,
    /// Members in file order; the order is meaningful for routes.
    pub members: Vec<Member>,
    /// Tags in file order.
    pub tags: Vec<(String, String)>,
}

/// One member of a [`Relation`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Member {
    /// What kind of element `id` refers to.
    pub kind: MemberKind,
    /// Id of the member element; ids are only unique per kind.
    pub id: i64,
    /// Role such as `outer`, `from`, `via`; empty when the member has none.
    pub role: String,
}

/// The kind of element a relation [`Member`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    /// A [`Node`] member.
    Node,
    /// A [`Way`] member.
    Way,
    /// A [`Relation`] member.
    Relation,
}

impl MemberKind {
    /// The name used for this kind in OSM XML (`node`, `way`, `relation`).
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::Node => "node",
            MemberKind::Way => "way",
            MemberKind::Relation => "relation",
        }
    }
}

/// One element of the stream produced by [`read`](crate::read).
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    /// A node.
    Node(Node),
    /// A way.
    Way(Way),
    /// A relation.
    Relation(Relation),
}

fn find_tag<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    // Elements carry a handful of tags, so a linear scan beats building a map.
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

impl Node {
    /// The value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find_tag(&self.tags, key)
    }
}

impl Way {
    /// The value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find_tag(&self.tags, key)
    }

    /// Whether the way starts and ends at the same node (an area or a loop).
    pub fn is_closed(&self) -> bool {
        self.refs.len() > 1 && self.refs.first() == self.refs.last()
    }
}

impl Relation {
    /// The value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find_tag(&self.tags, key)
    }
}

impl Element {
    /// The element's id (unique only together with its kind).
    pub fn id(&self) -> i64 {
        match self {
            Element::Node(n) => n.id,
            Element::Way(w) => w.id,
            Element::Relation(r) => r.id,
        }
    }

    /// The element's tags in file order.
    pub fn tags(&self) -> &[(String, String)] {
        match self {
            Element::Node(n) => &n.tags,
            Element::Way(w) => &w.tags,
            Element::Relation(r) => &r.tags,
        }
    }

    /// The value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        find_tag(self.tags(), key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lookup() {
        let way = Way {
            id: 7,
            refs: vec![1, 2, 3, 1],
            tags: vec![
                ("highway".into(), "residential".into()),
                ("name".into(), "Main".into()),
            ],
        };
        assert_eq!(way.tag("name"), Some("Main"));
        assert_eq!(way.tag("nope"), None);
        assert!(way.is_closed());
        let el = Element::Way(way);
        assert_eq!(el.tag("highway"), Some("residential"));
        assert_eq!(el.id(), 7);
        assert_eq!(el.tags().len(), 2);
    }
}
