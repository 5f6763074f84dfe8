//! PBF reading: framing on the calling thread, decoding with `osmpbf` on worker threads.
//!
//! We split the length-prefixed blobs off the stream ourselves instead of using
//! `osmpbf::BlobReader` on the input directly because it (a) requires a `Send` reader,
//! (b) treats a file cut after 1-3 bytes of a blob length as complete and (c) cannot be
//! driven from one thread while blobs are decoded on others. Each framed blob is then handed
//! to `osmpbf` on its own.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, mpsc};
use std::thread;

use osmpbf::{BlobReader, PrimitiveBlock};

use crate::element::{Element, Member, MemberKind, Node, Relation, Way};
use crate::{Error, Format, Sink};

/// Limits from the PBF specification; anything larger is corruption, and checking before
/// allocating keeps garbage input from requesting gigabytes.
const MAX_HEADER_LEN: u32 = 64 * 1024;
const MAX_BLOB_LEN: u64 = 32 * 1024 * 1024;

/// Features a file may require that this reader handles; the PBF specification obliges a
/// reader to refuse files requiring anything else. `HistoricalInformation` is left out on
/// purpose: several versions of one element would break the "one element per id" stream.
const SUPPORTED_FEATURES: &[&str] = &["OsmSchema-V0.6", "DenseNodes"];

/// More workers than this stop paying off: the calling thread that frames blobs and runs the
/// callback becomes the bottleneck.
const MAX_WORKERS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobKind {
    Header,
    Data,
    /// The specification says to skip unknown blob types.
    Other,
}

/// One complete blob, including its length prefix and header, so that `osmpbf` can parse it
/// as a one-blob file.
struct Frame {
    offset: u64,
    end: u64,
    kind: BlobKind,
    bytes: Vec<u8>,
}

pub(crate) fn read<R: Read>(mut input: R, sink: &mut Sink<'_>) -> Result<(), Error> {
    let workers = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_WORKERS);
    if workers < 2 {
        return read_sequential(&mut input, sink);
    }
    read_parallel(&mut input, sink, workers)
}

fn read_sequential<R: Read>(input: &mut R, sink: &mut Sink<'_>) -> Result<(), Error> {
    let mut offset = 0;
    while let Some(frame) = read_frame(input, offset)? {
        offset = frame.end;
        let block = decode(&frame)?;
        deliver(block, frame.offset, sink)?;
        sink.progress(offset);
    }
    Ok(())
}

fn read_parallel<R: Read>(input: &mut R, sink: &mut Sink<'_>, workers: usize) -> Result<(), Error> {
    // Two blobs per worker keep every worker busy while the caller drains results, and bound
    // memory to a few decoded blobs (about 8000 elements each).
    let max_in_flight = workers * 2;
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Frame)>(max_in_flight);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<Decoded>();
    thread::scope(|scope| {
        // Moved in so that leaving the scope early hangs up on the workers.
        let (job_tx, done_rx) = (job_tx, done_rx);
        for _ in 0..workers {
            let job_rx = &job_rx;
            let done_tx = done_tx.clone();
            scope.spawn(move || {
                loop {
                    // The guard is a temporary, so the lock is released before decoding.
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((seq, frame)) = job else { return };
                    let decoded = Decoded {
                        seq,
                        offset: frame.offset,
                        end: frame.end,
                        block: decode(&frame),
                    };
                    if done_tx.send(decoded).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);

        // Results arrive out of order; `pending` holds them until their turn so the callback
        // sees the file order. Returning early drops both channel ends, which stops the
        // workers before the scope joins them.
        let mut pending = BTreeMap::new();
        let (mut sent, mut delivered) = (0u64, 0u64);
        let mut offset = 0;
        let mut eof = false;
        // A framing error (typically truncation) is held back until the blobs before it are
        // delivered, so the caller sees the same elements as with sequential reading.
        let mut read_error = None;
        loop {
            while !eof && sent - delivered < max_in_flight as u64 {
                match read_frame(input, offset) {
                    Err(e) => {
                        read_error = Some(e);
                        eof = true;
                    }
                    Ok(None) => eof = true,
                    Ok(Some(frame)) => {
                        offset = frame.end;
                        if job_tx.send((sent, frame)).is_err() {
                            return Err(workers_gone(offset));
                        }
                        sent += 1;
                    }
                }
            }
            if delivered == sent {
                return read_error.map_or(Ok(()), Err);
            }
            let Ok(decoded) = done_rx.recv() else {
                return Err(workers_gone(offset));
            };
            pending.insert(decoded.seq, decoded);
            while let Some(decoded) = pending.remove(&delivered) {
                delivered += 1;
                deliver(decoded.block?, decoded.offset, sink)?;
                sink.progress(decoded.end);
            }
        }
    })
}

/// A worker's result; the compressed bytes are dropped on the worker.
struct Decoded {
    seq: u64,
    offset: u64,
    end: u64,
    block: Result<Option<PrimitiveBlock>, Error>,
}

/// Workers only stop when the channels close, so this is a bug rather than bad input, but it
/// must not hang or pass for a clean end of file.
fn workers_gone(offset: u64) -> Error {
    Error::pbf(offset, "pbf decoder threads stopped unexpectedly")
}

/// Reads the next blob, or `None` at a clean end of input (exactly between two blobs).
fn read_frame<R: Read>(input: &mut R, offset: u64) -> Result<Option<Frame>, Error> {
    let truncated = |consumed: usize| Error::Truncated {
        format: Format::Pbf,
        offset: offset + consumed as u64,
    };

    let mut len_bytes = [0u8; 4];
    match read_full(input, &mut len_bytes)? {
        0 => return Ok(None),
        4 => {}
        n => return Err(truncated(n)),
    }
    let header_len = u32::from_be_bytes(len_bytes);
    if header_len == 0 || header_len > MAX_HEADER_LEN {
        return Err(Error::pbf(
            offset,
            format!("blob header length {header_len} out of range"),
        ));
    }

    let mut bytes = Vec::with_capacity(4 + header_len as usize);
    bytes.extend_from_slice(&len_bytes);
    let got = input
        .by_ref()
        .take(u64::from(header_len))
        .read_to_end(&mut bytes)?;
    if got < header_len as usize {
        return Err(truncated(4 + got));
    }
    let (kind, data_len) = parse_blob_header(&bytes[4..]).map_err(|m| Error::pbf(offset, m))?;

    // Grow as data arrives rather than trusting the declared size for the allocation.
    bytes.reserve(data_len.min(1 << 20) as usize);
    let got = input.by_ref().take(data_len).read_to_end(&mut bytes)?;
    if (got as u64) < data_len {
        return Err(truncated(bytes.len()));
    }
    Ok(Some(Frame {
        offset,
        end: offset + bytes.len() as u64,
        kind,
        bytes,
    }))
}

/// Like `read_exact`, but reports how much was read before the end instead of failing, so
/// that a clean end can be told from a cut one.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Extracts `type` (field 1) and `datasize` (field 3) from a `BlobHeader` protobuf message.
/// Hand-rolled because `osmpbf` does not expose its generated protobuf types.
fn parse_blob_header(mut msg: &[u8]) -> Result<(BlobKind, u64), String> {
    let mut kind = None;
    let mut data_len = None;
    while !msg.is_empty() {
        let key = varint(&mut msg)?;
        match (key >> 3, key & 7) {
            (field, 0) => {
                let value = varint(&mut msg)?;
                if field == 3 {
                    data_len = Some(value);
                }
            }
            (field, 2) => {
                let len = usize::try_from(varint(&mut msg)?).unwrap_or(usize::MAX);
                let Some((value, rest)) = msg.split_at_checked(len) else {
                    return Err("blob header field overruns the header".to_owned());
                };
                if field == 1 {
                    kind = Some(match value {
                        b"OSMHeader" => BlobKind::Header,
                        b"OSMData" => BlobKind::Data,
                        _ => BlobKind::Other,
                    });
                }
                msg = rest;
            }
            (_, 1) => msg = msg.get(8..).ok_or("truncated blob header")?,
            (_, 5) => msg = msg.get(4..).ok_or("truncated blob header")?,
            (_, wire) => {
                return Err(format!(
                    "unsupported protobuf wire type {wire} in blob header"
                ));
            }
        }
    }
    let kind = kind.ok_or("blob header without type")?;
    let data_len = data_len.ok_or("blob header without data size")?;
    if data_len > MAX_BLOB_LEN {
        return Err(format!("blob size {data_len} out of range"));
    }
    Ok((kind, data_len))
}

fn varint(msg: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some((&byte, rest)) = msg.split_first() else {
            return Err("truncated varint in blob header".to_owned());
        };
        *msg = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("overlong varint in blob header".to_owned())
}

/// Decompresses and parses one blob; `None` for blobs without elements.
fn decode(frame: &Frame) -> Result<Option<PrimitiveBlock>, Error> {
    guarded(frame.offset, || decode_unguarded(frame))
}

fn decode_unguarded(frame: &Frame) -> Result<Option<PrimitiveBlock>, Error> {
    if frame.kind == BlobKind::Other {
        return Ok(None);
    }
    let corrupt = |e: osmpbf::Error| Error::pbf(frame.offset, e);
    let blob = match BlobReader::new(frame.bytes.as_slice()).next() {
        Some(blob) => blob.map_err(corrupt)?,
        None => return Err(Error::pbf(frame.offset, "empty blob")),
    };
    match frame.kind {
        BlobKind::Header => {
            let header = blob.to_headerblock().map_err(corrupt)?;
            if let Some(feature) = header
                .required_features()
                .iter()
                .find(|f| !SUPPORTED_FEATURES.contains(&f.as_str()))
            {
                return Err(Error::pbf(
                    frame.offset,
                    format!("unsupported required feature {feature:?}"),
                ));
            }
            Ok(None)
        }
        BlobKind::Data => blob.to_primitiveblock().map(Some).map_err(corrupt),
        BlobKind::Other => Ok(None),
    }
}

/// Converts a block to owned elements and hands them to the sink. Runs on the calling
/// thread rather than the workers because the caller is where the elements are dropped, and
/// freeing memory that another thread allocated is slow in glibc's allocator; it also
/// splits the work about evenly (decompression and protobuf parsing vs. conversion).
fn deliver(block: Option<PrimitiveBlock>, offset: u64, sink: &mut Sink<'_>) -> Result<(), Error> {
    let Some(block) = block else { return Ok(()) };
    // Converted fully before the first callback so that a panic in the caller's callback
    // is never mistaken for corrupt data.
    let elements = guarded(offset, || {
        convert(&block).map_err(|m| Error::pbf(offset, m))
    })?;
    for element in elements {
        sink.emit(element);
    }
    Ok(())
}

/// `osmpbf` can panic on some corrupt blocks (unknown relation member types, arithmetic
/// overflow in debug builds); the panic is turned into an error because corrupt input must
/// never take the caller down.
fn guarded<T>(offset: u64, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".to_owned());
            Err(Error::pbf(offset, format!("pbf decoder failed: {what}")))
        }
    }
}

fn convert(block: &PrimitiveBlock) -> Result<Vec<Element>, String> {
    let mut out = Vec::new();
    for group in block.groups() {
        let nodes = group.nodes();
        let dense = group.dense_nodes();
        let ways = group.ways();
        let relations = group.relations();
        out.reserve(nodes.len() + dense.len() + ways.len() + relations.len());
        for n in nodes {
            out.push(Element::Node(Node {
                id: n.id(),
                lat: n.lat(),
                lon: n.lon(),
                tags: tags(n.tags())?,
            }));
        }
        for n in dense {
            out.push(Element::Node(Node {
                id: n.id(),
                lat: n.lat(),
                lon: n.lon(),
                tags: tags(n.tags())?,
            }));
        }
        for w in ways {
            out.push(Element::Way(Way {
                id: w.id(),
                refs: w.refs().collect(),
                tags: tags(w.tags())?,
            }));
        }
        for r in relations {
            let members = r
                .members()
                .map(|m| {
                    Ok(Member {
                        kind: match m.member_type {
                            osmpbf::RelMemberType::Node => MemberKind::Node,
                            osmpbf::RelMemberType::Way => MemberKind::Way,
                            osmpbf::RelMemberType::Relation => MemberKind::Relation,
                        },
                        id: m.member_id,
                        role: m.role().map_err(|e| e.to_string())?.to_owned(),
                    })
                })
                .collect::<Result<_, String>>()?;
            out.push(Element::Relation(Relation {
                id: r.id(),
                members,
                tags: tags(r.tags())?,
            }));
        }
    }
    Ok(out)
}

/// `osmpbf`'s tag iterators silently stop at a bad string table index; comparing against the
/// declared count turns that into an error instead of quietly lost tags.
fn tags<'a>(
    iter: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<(String, String)>, String> {
    let expected = iter.len();
    let tags: Vec<(String, String)> = iter.map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    if tags.len() != expected {
        return Err("tag refers to a missing or non-utf-8 string table entry".to_owned());
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blob_header() {
        // type = "OSMData", datasize = 300 (varint ac 02)
        let msg = b"\x0a\x07OSMData\x18\xac\x02";
        assert_eq!(parse_blob_header(msg), Ok((BlobKind::Data, 300)));
        let msg = b"\x0a\x09OSMHeader\x12\x02ab\x18\x05";
        assert_eq!(parse_blob_header(msg), Ok((BlobKind::Header, 5)));
        assert!(parse_blob_header(b"\x0a\x20OSM").is_err());
        assert!(parse_blob_header(b"\x18\x05").is_err());
        assert!(parse_blob_header(b"\x0a\x07OSMData\x18\xff\xff\xff\xff\x0f").is_err());
    }

    fn collect(read: impl FnOnce(&mut Sink<'_>) -> Result<(), Error>) -> Vec<Element> {
        let mut out = Vec::new();
        let mut visit = |e| out.push(e);
        let mut progress = |_, _| {};
        let mut sink = Sink::new(Format::Pbf, &mut visit, &mut progress, 0);
        read(&mut sink).unwrap();
        out
    }

    #[test]
    fn parallel_and_sequential_agree() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/helsinki.osm.pbf");
        let bytes = std::fs::read(path).unwrap();
        let sequential = collect(|sink| read_sequential(&mut bytes.as_slice(), sink));
        assert!(sequential.len() > 10_000);
        // More workers than cores makes out-of-order completion likely.
        for workers in [2, 5] {
            let parallel = collect(|sink| read_parallel(&mut bytes.as_slice(), sink, workers));
            assert!(parallel == sequential, "{workers} workers");
        }
    }

    #[test]
    fn decoder_panics_become_errors() {
        let result: Result<(), Error> = guarded(42, || panic!("index out of bounds"));
        let err = result.unwrap_err();
        assert_eq!(
            err.to_string(),
            "corrupt pbf blob at byte 42: pbf decoder failed: index out of bounds"
        );
    }

    #[test]
    fn clean_end_and_cut_length_prefix() {
        let mut empty: &[u8] = b"";
        assert!(matches!(read_frame(&mut empty, 0), Ok(None)));
        let mut cut: &[u8] = b"\x00\x00";
        assert!(matches!(
            read_frame(&mut cut, 0),
            Err(Error::Truncated { offset: 2, .. })
        ));
    }
}
