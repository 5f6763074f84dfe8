//! `import roads`: OSM file -> graph -> tiles -> a new published version.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::build::{BuildReport, GraphBuilder};
use crate::ch::contract;
use crate::graph::Graph;
use crate::ids::Level;
use crate::mode::Mode;
use crate::store::{
    ContractedEntry, EncodedHierarchy, EncodedTile, LevelSummary, Manifest, StoreError, TileEntry,
    TileStore,
};
use crate::tile::FORMAT_VERSION;
use crate::tiling;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: osm::Error },
    #[error("{0} holds no routable roads; nothing was published")]
    NoRoads(String),
    #[error("cutting tiles: {0}")]
    Tiling(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("import task failed: {0}")]
    Task(String),
}

/// The import's phases, for progress reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Bytes of the input consumed.
    Reading,
    /// Modes contracted (contraction hierarchies), of those asked for.
    Contracting,
    /// Bytes of tiles and hierarchies written.
    Writing,
}

/// Choices an operator makes for one import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Modes to build contraction hierarchies for (every mode by default). Contraction takes
    /// seconds per mode on a city and far longer on a country: leave modes out to publish
    /// sooner; their queries then run the A* alone.
    pub contract: Vec<Mode>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            contract: Mode::ALL.to_vec(),
        }
    }
}

/// What an import did, printed as the CLI's summary.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    pub version: String,
    pub source: String,
    pub source_bytes: u64,
    pub graph: BuildReport,
    pub levels: Vec<LevelSummary>,
    pub tile_bytes: u64,
    pub seconds: f64,
    pub read_seconds: f64,
    pub build_seconds: f64,
    /// Cutting and encoding the tiles.
    pub encode_seconds: f64,
    /// Building the contraction hierarchies (one thread per mode, before the encoding).
    pub contract_seconds: f64,
    pub contracted: Vec<ContractedEntry>,
    /// Putting tiles and manifest into storage and publishing.
    pub write_seconds: f64,
    /// Peak resident memory of the process (VmHWM), when the platform reports it.
    pub peak_rss_bytes: Option<u64>,
}

/// Reads an OSM file (PBF, XML or XML.gz) into a graph.
pub fn build_graph(
    path: &Path,
    mut progress: impl FnMut(u64, u64),
) -> Result<(Graph, BuildReport), ImportError> {
    let mut builder = GraphBuilder::new();
    osm::read_with_progress(path, |e| builder.add(e), &mut progress).map_err(|source| {
        ImportError::Read {
            path: path.display().to_string(),
            source,
        }
    })?;
    Ok(builder.finish())
}

/// Builds a graph from OSM data held in memory (fixtures).
pub fn build_graph_from_bytes(bytes: &[u8]) -> Result<(Graph, BuildReport), osm::Error> {
    let format = osm::Format::detect(bytes).unwrap_or(osm::Format::Xml);
    let mut builder = GraphBuilder::new();
    osm::read_from(bytes, format, |e| builder.add(e))?;
    Ok(builder.finish())
}

/// Peak resident set size of this process, from `/proc/self/status`.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Tiles of a graph, encoded (on every core), with their manifest entries.
pub fn encode_tiles(graph: &Graph) -> Result<(Vec<EncodedTile>, Vec<TileEntry>), ImportError> {
    let tiles = tiling::cut(graph).map_err(ImportError::Tiling)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = tiles.len().div_ceil(threads).max(1);
    let encoded: Vec<EncodedTile> = std::thread::scope(|scope| {
        let workers: Vec<_> = tiles
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|data| EncodedTile {
                            level: Level::from_u8(data.level).expect("cut writes known levels"),
                            id: data.tile_id,
                            bytes: data.encode(),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("encoding a tile does not panic"))
            .collect()
    });
    let entries = encoded
        .iter()
        .map(|t| TileEntry {
            level: t.level,
            id: t.id,
            bytes: t.bytes.len() as u64,
            crc32: crc32fast::hash(&t.bytes),
        })
        .collect();
    Ok((encoded, entries))
}

/// Imports `path` into `store` as a new version with the default options and publishes it.
pub async fn import_roads(
    path: &Path,
    store: &TileStore,
    progress: impl Fn(Phase, u64, u64) + Send + Sync + 'static,
) -> Result<ImportSummary, ImportError> {
    import_roads_with(path, store, &ImportOptions::default(), progress).await
}

/// Imports `path` into `store` as a new version and publishes it. Nothing is published
/// unless every tile, every hierarchy and the manifest were written.
pub async fn import_roads_with(
    path: &Path,
    store: &TileStore,
    options: &ImportOptions,
    progress: impl Fn(Phase, u64, u64) + Send + Sync + 'static,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let progress = std::sync::Arc::new(progress);
    let reader_progress = std::sync::Arc::clone(&progress);
    let owned = path.to_owned();
    let (graph, report, read_seconds, build_seconds) = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let mut builder = GraphBuilder::new();
        osm::read_with_progress(
            &owned,
            |e| builder.add(e),
            |done, total| reader_progress(Phase::Reading, done, total),
        )
        .map_err(|source| ImportError::Read {
            path: owned.display().to_string(),
            source,
        })?;
        let read = t.elapsed().as_secs_f64();
        let (graph, report) = builder.finish();
        Ok::<_, ImportError>((graph, report, read, t.elapsed().as_secs_f64() - read))
    })
    .await
    .map_err(|e| ImportError::Task(e.to_string()))??;
    let source_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let source = Source {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.display().to_string(),
        bytes: source_bytes,
    };
    let mut summary = publish_graph(
        graph,
        report,
        &source,
        store,
        options,
        move |phase, done, total| progress(phase, done, total),
    )
    .await?;
    summary.read_seconds = read_seconds;
    summary.build_seconds = build_seconds;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Where a graph came from, for its manifest.
#[derive(Debug, Clone)]
pub struct Source {
    /// File name recorded in the manifest.
    pub name: String,
    /// Shown in the summary.
    pub path: String,
    pub bytes: u64,
}

/// Contraction hierarchies of `graph` for `modes`, built one mode per thread, encoded, with
/// their manifest entries and the seconds taken.
fn contract_modes(
    graph: &Graph,
    modes: &[Mode],
    progress: &(dyn Fn(Phase, u64, u64) + Send + Sync),
) -> Result<(Vec<EncodedHierarchy>, Vec<ContractedEntry>, f64), ImportError> {
    let t = Instant::now();
    if modes.is_empty() {
        return Ok((Vec::new(), Vec::new(), 0.0));
    }
    let ids = tiling::edge_ids(graph).map_err(ImportError::Tiling)?;
    let done = std::sync::atomic::AtomicU64::new(0);
    let total = modes.len() as u64;
    progress(Phase::Contracting, 0, total);
    let built: Vec<(EncodedHierarchy, ContractedEntry)> = std::thread::scope(|scope| {
        let workers: Vec<_> = modes
            .iter()
            .map(|&mode| {
                let (ids, done) = (&ids, &done);
                scope.spawn(move || {
                    let ch = contract(graph, ids, mode);
                    let bytes = ch.encode();
                    let entry = ContractedEntry {
                        mode,
                        bytes: bytes.len() as u64,
                        crc32: crc32fast::hash(&bytes),
                        nodes: ch.node_count() as u64,
                        arcs: ch.arc_count() as u64,
                    };
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    progress(Phase::Contracting, n, total);
                    (EncodedHierarchy { mode, bytes }, entry)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("contracting does not panic"))
            .collect()
    });
    let (encoded, entries) = built.into_iter().unzip();
    Ok((encoded, entries, t.elapsed().as_secs_f64()))
}

/// Cuts `graph` into tiles, contracts the modes `options` names, writes it all as a new
/// version and publishes it.
pub async fn publish_graph(
    graph: Graph,
    report: BuildReport,
    source: &Source,
    store: &TileStore,
    options: &ImportOptions,
    progress: impl Fn(Phase, u64, u64) + Send + Sync + 'static,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    if graph.edges.is_empty() {
        return Err(ImportError::NoRoads(source.path.clone()));
    }
    let t = Instant::now();
    let progress = std::sync::Arc::new(progress);
    let contract_progress = std::sync::Arc::clone(&progress);
    let modes = options.contract.clone();
    let (encoded, entries, bbox, max_speed_kmh, hierarchies) =
        tokio::task::spawn_blocking(move || {
            let max_speed = crate::mode::Mode::ALL
                .iter()
                .map(|&m| {
                    (
                        m.as_str().to_string(),
                        crate::astar::graph_max_speed_kmh(&graph, m),
                    )
                })
                .collect();
            let hierarchies = contract_modes(&graph, &modes, &*contract_progress)?;
            encode_tiles(&graph)
                .map(|(encoded, entries)| (encoded, entries, bbox(&graph), max_speed, hierarchies))
        })
        .await
        .map_err(|e| ImportError::Task(e.to_string()))??;
    let (hierarchies, contracted, contract_seconds) = hierarchies;
    let encode_seconds = t.elapsed().as_secs_f64() - contract_seconds;
    let t = Instant::now();
    let levels: Vec<LevelSummary> = Level::ALL
        .iter()
        .map(|&level| {
            let of_level = entries.iter().filter(|e| e.level == level);
            LevelSummary {
                level,
                tile_size_deg: level.tile_size_deg(),
                tiles: of_level.clone().count() as u64,
                bytes: of_level.map(|e| e.bytes).sum(),
            }
        })
        .collect();
    let tile_bytes: u64 = entries.iter().map(|e| e.bytes).sum();
    let total_bytes = tile_bytes + contracted.iter().map(|c| c.bytes).sum::<u64>();
    let now = chrono::Utc::now();
    let content = entries.iter().fold(crc32fast::Hasher::new(), |mut h, e| {
        h.update(&e.crc32.to_le_bytes());
        h
    });
    let version = format!(
        "{}-{:08x}",
        now.format("%Y%m%dT%H%M%S%3fZ"),
        content.finalize()
    );
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        version: version.clone(),
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        source: source.name.clone(),
        source_bytes: source.bytes,
        nodes: report.graph_nodes,
        edges: report.graph_edges,
        forbidden_turns: report.forbidden_turns,
        bbox,
        levels: levels.clone(),
        tiles: entries,
        report: serde_json::to_value(&report).expect("report serialises"),
        max_speed_kmh,
        contracted: contracted.clone(),
    };
    let mut written = 0;
    store
        .write_version(&manifest, encoded, hierarchies, |len| {
            written += len;
            progress(Phase::Writing, written, total_bytes);
        })
        .await?;
    store.publish(&version).await?;
    let write_seconds = t.elapsed().as_secs_f64();
    Ok(ImportSummary {
        version,
        source: source.path.clone(),
        source_bytes: source.bytes,
        graph: report,
        levels,
        tile_bytes,
        seconds: started.elapsed().as_secs_f64(),
        read_seconds: 0.0,
        build_seconds: 0.0,
        encode_seconds,
        contract_seconds,
        contracted,
        write_seconds,
        peak_rss_bytes: peak_rss_bytes(),
    })
}

fn bbox(graph: &Graph) -> [f64; 4] {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for n in &graph.nodes {
        b[0] = b[0].min(n.lat());
        b[1] = b[1].min(n.lon());
        b[2] = b[2].max(n.lat());
        b[3] = b[3].max(n.lon());
    }
    b
}
