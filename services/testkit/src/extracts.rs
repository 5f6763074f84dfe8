//! The real OSM extracts beside the repository (`../shared/data/osm`, eight cities, ODbL):
//! `GEO_OSM_EXTRACTS` when set, else the first `shared/data/osm` found walking up from this
//! crate, else `/work/shared/data/osm`. Tests that need them fail when they are missing:
//! checks on real data must not pass by skipping.

use std::path::{Path, PathBuf};

/// The directory holding the extracts, if any.
pub fn find() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("GEO_OSM_EXTRACTS") {
        return Some(PathBuf::from(dir));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/data/osm"))
        .chain(std::iter::once(PathBuf::from("/work/shared/data/osm")))
        .find(|d| d.is_dir())
}

/// The directory holding the extracts; panics naming where it looked.
pub fn dir() -> PathBuf {
    find().unwrap_or_else(|| {
        panic!(
            "no shared/data/osm above {} nor /work/shared/data/osm; set GEO_OSM_EXTRACTS",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

/// One extract by file name (`porto.osm.pbf`); panics when it is missing.
pub fn path(name: &str) -> PathBuf {
    let path = dir().join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// Whether a file name is an OSM extract the importer reads.
pub fn is_extract(name: &str) -> bool {
    [".pbf", ".osm", ".osm.gz"]
        .iter()
        .any(|s| name.ends_with(s))
}
