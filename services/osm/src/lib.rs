//! Streaming reader for OpenStreetMap data files.
//!
//! Reads `.osm.pbf`, plain OSM XML (`.osm`) and gzipped OSM XML (`.osm.gz`) and hands every
//! node, way and relation to a callback as one owned [`Element`], in file order (normally all
//! nodes, then all ways, then all relations). The format is recognised from the first bytes,
//! never from the file name, so a mislabelled download still reads or fails with a clear
//! [`Error`].
//!
//! ```no_run
//! let mut cafes = 0;
//! let stats = osm::read("data/helsinki.osm.pbf", |element| {
//!     if element.tag("amenity") == Some("cafe") {
//!         cafes += 1;
//!     }
//! })?;
//! println!("{cafes} cafes among {} nodes", stats.nodes);
//! # Ok::<(), osm::Error>(())
//! ```
//!
//! What it is not:
//! - not a store: nothing is kept after the callback returns, so callers that need node
//!   positions for ways (a road graph) keep their own index, typically in two passes;
//! - not a geometry builder: ways are node ids, multipolygons are not assembled;
//! - not a full-fidelity model: metadata (version, timestamp, user, changeset, visibility) and
//!   `<bounds>` are dropped, and history or change files (`osmChange`) are not supported;
//! - not a writer.
//!
//! PBF blobs are decompressed on worker threads (one per core) while elements are still
//! delivered on the calling thread in file order, so the callback needs neither `Send` nor
//! locking.

mod element;
mod error;
mod pbf;
mod xml;

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

pub use element::{Element, Member, MemberKind, Node, Relation, Way};
pub use error::Error;

/// How many leading bytes [`read`] inspects to recognise the format; generous because an XML
/// file may start with a BOM and whitespace before its first `<`.
const SNIFF_LEN: u64 = 1024;

/// The on-disk encodings this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// OSM PBF (`.osm.pbf`): length-prefixed protobuf blobs.
    Pbf,
    /// OSM XML (`.osm`).
    Xml,
    /// Gzipped OSM XML (`.osm.gz`), possibly with several gzip members.
    XmlGz,
}

impl Format {
    /// Recognises the format from the first bytes of a file.
    ///
    /// Gzip is assumed to wrap XML. PBF is recognised by its first blob header, which names an
    /// `OSMHeader` (or, in header-less files, an `OSMData`) blob. Returns `None` for anything
    /// else, including an empty prefix.
    pub fn detect(prefix: &[u8]) -> Option<Format> {
        if prefix.starts_with(&[0x1f, 0x8b]) {
            return Some(Format::XmlGz);
        }
        let text = prefix.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(prefix);
        if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
            return Some(Format::Xml);
        }
        // A PBF file starts with a 4-byte blob header length, then the header's first field:
        // tag 0x0a (field 1, length-delimited), a length byte and the blob type name.
        let blob_type = prefix.get(4..).and_then(|h| {
            let (&[0x0a, len], rest) = h.split_first_chunk::<2>()? else {
                return None;
            };
            rest.get(..usize::from(len))
        });
        match blob_type {
            Some(b"OSMHeader" | b"OSMData") => Some(Format::Pbf),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Pbf => "pbf",
            Format::Xml => "xml",
            Format::XmlGz => "gzipped xml",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a read saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// The detected (or given) format.
    pub format: Format,
    /// Nodes delivered.
    pub nodes: u64,
    /// Ways delivered.
    pub ways: u64,
    /// Relations delivered.
    pub relations: u64,
    /// Bytes consumed from the input as stored (compressed bytes for `.osm.gz`).
    pub bytes: u64,
}

impl Stats {
    /// Nodes, ways and relations together.
    pub fn elements(&self) -> u64 {
        self.nodes + self.ways + self.relations
    }
}

/// Reads the OSM file at `path`, calling `visit` for every element in file order.
///
/// # Errors
/// Any [`Error`]; elements delivered before the error stay delivered, so a caller that must
/// be all-or-nothing should stage its writes.
pub fn read(path: impl AsRef<Path>, visit: impl FnMut(Element)) -> Result<Stats, Error> {
    read_with_progress(path, visit, |_, _| {})
}

/// Like [`read`], and also reports `progress(bytes_consumed, total_bytes)` as the file is
/// consumed (for PBF after every blob, for XML after every buffer refill), ending with
/// `consumed == total`.
///
/// `total_bytes` is the file size on disk, so for `.osm.gz` both numbers count compressed
/// bytes and the ratio stays meaningful for a progress bar.
pub fn read_with_progress(
    path: impl AsRef<Path>,
    mut visit: impl FnMut(Element),
    mut progress: impl FnMut(u64, u64),
) -> Result<Stats, Error> {
    let path = path.as_ref();
    let open_error = |source| Error::Open {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(open_error)?;
    let total = file.metadata().map_err(open_error)?.len();
    let mut prefix = Vec::with_capacity(SNIFF_LEN as usize);
    (&mut file).take(SNIFF_LEN).read_to_end(&mut prefix)?;
    let format = Format::detect(&prefix).ok_or_else(|| unknown_format(&prefix))?;
    // Chaining the sniffed prefix back in front keeps this working for non-seekable files
    // such as named pipes.
    let input = io::Cursor::new(prefix).chain(file);
    let mut sink = Sink::new(format, &mut visit, &mut progress, total);
    if format == Format::XmlGz {
        // Decompressing on a second core overlaps inflating with parsing.
        run_gz_in_thread(input, &mut sink)?;
    } else {
        run(input, format, &mut sink)?;
    }
    sink.progress(sink.stats.bytes);
    Ok(sink.stats)
}

/// Reads OSM data of a known `format` from any reader, e.g. a fixture held in memory.
///
/// Use [`Format::detect`] on the first bytes when the format is not known.
pub fn read_from<R: Read>(
    reader: R,
    format: Format,
    mut visit: impl FnMut(Element),
) -> Result<Stats, Error> {
    let mut no_progress = |_, _| {};
    let mut sink = Sink::new(format, &mut visit, &mut no_progress, 0);
    run(reader, format, &mut sink)?;
    Ok(sink.stats)
}

fn run<R: Read>(reader: R, format: Format, sink: &mut Sink<'_>) -> Result<(), Error> {
    // A 64 KiB buffer amortises syscalls and keeps XML progress callbacks infrequent.
    const BUF: usize = 64 * 1024;
    match format {
        Format::Pbf => pbf::read(BufReader::with_capacity(BUF, reader), sink),
        Format::Xml => {
            let counter = Rc::new(Cell::new(0));
            let input = Counting::new(reader, Rc::clone(&counter));
            xml::read(BufReader::with_capacity(BUF, input), &counter, sink)
        }
        Format::XmlGz => {
            let counter = Rc::new(Cell::new(0));
            let input = Counting::new(reader, Rc::clone(&counter));
            let gz = flate2::read::MultiGzDecoder::new(input);
            xml::read(BufReader::with_capacity(BUF, gz), &counter, sink)
        }
    }
}

fn unknown_format(prefix: &[u8]) -> Error {
    if prefix.is_empty() {
        return Error::UnknownFormat("empty input".to_owned());
    }
    let head: Vec<String> = prefix.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Error::UnknownFormat(format!(
        "first bytes {} are not pbf, osm xml or gzip",
        head.join(" ")
    ))
}

/// Element counting, the user callbacks and progress throttling in one place, so the PBF and
/// XML readers cannot disagree on what [`Stats`] means.
pub(crate) struct Sink<'a> {
    visit: &'a mut dyn FnMut(Element),
    on_progress: &'a mut dyn FnMut(u64, u64),
    total: u64,
    last_reported: Option<u64>,
    pub(crate) stats: Stats,
}

impl<'a> Sink<'a> {
    fn new(
        format: Format,
        visit: &'a mut dyn FnMut(Element),
        on_progress: &'a mut dyn FnMut(u64, u64),
        total: u64,
    ) -> Self {
        Sink {
            visit,
            on_progress,
            total,
            last_reported: None,
            stats: Stats {
                format,
                nodes: 0,
                ways: 0,
                relations: 0,
                bytes: 0,
            },
        }
    }

    pub(crate) fn format(&self) -> Format {
        self.stats.format
    }

    #[inline]
    pub(crate) fn emit(&mut self, element: Element) {
        match element {
            Element::Node(_) => self.stats.nodes += 1,
            Element::Way(_) => self.stats.ways += 1,
            Element::Relation(_) => self.stats.relations += 1,
        }
        (self.visit)(element);
    }

    /// Records `consumed` as the bytes read so far and tells the progress callback if that
    /// changed; callers may call this as often as they like.
    #[inline]
    pub(crate) fn progress(&mut self, consumed: u64) {
        self.stats.bytes = consumed;
        if self.last_reported != Some(consumed) {
            self.last_reported = Some(consumed);
            // The file can grow while being read; never report more than 100 %.
            let total = self.total.max(consumed);
            (self.on_progress)(consumed, total);
        }
    }
}

/// Counts bytes pulled from the underlying reader. Shared through an `Rc` because the reader
/// itself disappears inside quick-xml and flate2 wrappers.
/// Gzipped XML with the inflating on its own thread, handing 256 KiB chunks (and the
/// compressed bytes consumed so far, for progress) to the parser through a small queue.
fn run_gz_in_thread<R: Read + Send>(input: R, sink: &mut Sink<'_>) -> Result<(), Error> {
    type Chunk = io::Result<(Vec<u8>, u64)>;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(4);
        scope.spawn(move || {
            let counter = Rc::new(Cell::new(0));
            let mut gz =
                flate2::read::MultiGzDecoder::new(Counting::new(input, Rc::clone(&counter)));
            loop {
                let mut chunk = vec![0u8; 256 * 1024];
                let mut filled = 0;
                let result = loop {
                    match gz.read(&mut chunk[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == chunk.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                chunk.truncate(filled);
                let message = match result {
                    // End of input: dropping the sender tells the parser.
                    Ok(()) if filled == 0 => break,
                    Ok(()) => Ok((chunk, counter.get())),
                    Err(e) => Err(e),
                };
                let last = message.is_err();
                // A send fails when the parser hung up (it failed or finished): stop too.
                if tx.send(message).is_err() || last {
                    break;
                }
            }
        });
        let consumed = Rc::new(Cell::new(0));
        let reader = ChunkReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
            consumed: Rc::clone(&consumed),
        };
        xml::read(BufReader::with_capacity(64 * 1024, reader), &consumed, sink)
    })
}

/// The parser's end of [`run_gz_in_thread`].
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<io::Result<(Vec<u8>, u64)>>,
    chunk: Vec<u8>,
    pos: usize,
    consumed: Rc<Cell<u64>>,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok((chunk, consumed))) => {
                    self.chunk = chunk;
                    self.pos = 0;
                    self.consumed.set(consumed);
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0), // the inflater finished
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R> Counting<R> {
    fn new(inner: R, count: Rc<Cell<u64>>) -> Self {
        Counting { inner, count }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert_eq!(Format::detect(b"\x1f\x8b\x08\x00"), Some(Format::XmlGz));
        assert_eq!(Format::detect(b"<?xml version='1.0'?>"), Some(Format::Xml));
        assert_eq!(Format::detect(b"\xEF\xBB\xBF \n\t<osm>"), Some(Format::Xml));
        assert_eq!(
            Format::detect(b"\x00\x00\x00\x0d\x0a\x09OSMHeader\x18\x7c"),
            Some(Format::Pbf)
        );
        assert_eq!(Format::detect(b""), None);
        assert_eq!(Format::detect(b"   "), None);
        assert_eq!(Format::detect(b"hello world, not osm"), None);
        assert_eq!(Format::detect(b"\x00\x00\x00\x0d\x0a\x09OSMHead"), None);
    }

    #[test]
    fn unknown_format_message_shows_bytes() {
        let msg = unknown_format(b"PK\x03\x04").to_string();
        assert_eq!(
            msg,
            "unknown file format: first bytes 50 4b 03 04 are not pbf, osm xml or gzip"
        );
    }
}
