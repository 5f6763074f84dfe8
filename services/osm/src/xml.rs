//! OSM XML reading with quick-xml's pull parser.

use std::cell::Cell;
use std::io::{self, BufRead};
use std::str::FromStr;

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Decoder, Reader};

use crate::element::{Element, Member, MemberKind, Node, Relation, Way};
use crate::{Error, Sink};

/// Parser state between events. An element is buffered until its end tag because its tags,
/// node refs and members arrive as children.
struct State {
    /// Open XML elements; quick-xml checks that end tags match, we only need the depth.
    depth: usize,
    root_seen: bool,
    current: Option<Element>,
    /// Depth at which `current` was opened, to recognise its end tag.
    current_depth: usize,
}

pub(crate) fn read<B: BufRead>(
    input: B,
    consumed: &Cell<u64>,
    sink: &mut Sink<'_>,
) -> Result<(), Error> {
    let mut reader = Reader::from_reader(input);
    // Whitespace between elements would otherwise become one text event per line.
    reader.config_mut().trim_text(true);
    let mut buf = Vec::with_capacity(4096);
    let mut state = State {
        depth: 0,
        root_seen: false,
        current: None,
        current_depth: 0,
    };
    loop {
        let position = reader.buffer_position();
        let event = match reader.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(e) => return Err(xml_error(&reader, e, consumed.get(), sink)),
        };
        let decoder = reader.decoder();
        match event {
            Event::Start(e) => {
                state.open(&e, false, position, decoder, sink)?;
                state.depth += 1;
            }
            Event::Empty(e) => state.open(&e, true, position, decoder, sink)?,
            Event::End(_) => {
                // quick-xml rejects unmatched end tags, so depth cannot underflow here.
                state.depth = state.depth.saturating_sub(1);
                if state.depth == state.current_depth
                    && let Some(element) = state.current.take()
                {
                    sink.emit(element);
                }
            }
            Event::Eof => break,
            // Text, comments, declarations, CDATA, processing instructions: not OSM data.
            _ => {}
        }
        buf.clear();
        sink.progress(consumed.get());
    }

    if state.depth > 0 {
        return Err(Error::Truncated {
            format: sink.format(),
            offset: consumed.get(),
        });
    }
    if !state.root_seen {
        return Err(Error::Xml {
            position: reader.buffer_position(),
            message: "no <osm> root element".to_owned(),
        });
    }
    Ok(())
}

fn xml_error<B>(
    reader: &Reader<B>,
    error: quick_xml::Error,
    consumed: u64,
    sink: &Sink<'_>,
) -> Error {
    match error {
        // flate2 reports a cut gzip stream as an unexpected end; that is truncation, not a
        // failing disk.
        quick_xml::Error::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => Error::Truncated {
            format: sink.format(),
            offset: consumed,
        },
        quick_xml::Error::Io(io) => match std::sync::Arc::try_unwrap(io) {
            Ok(io) => Error::Io(io),
            Err(shared) => Error::Io(io::Error::new(shared.kind(), shared.to_string())),
        },
        other => Error::Xml {
            position: reader.error_position(),
            message: other.to_string(),
        },
    }
}

impl State {
    fn open(
        &mut self,
        e: &BytesStart<'_>,
        empty: bool,
        position: u64,
        decoder: Decoder,
        sink: &mut Sink<'_>,
    ) -> Result<(), Error> {
        let name = e.name();
        let name = name.as_ref();
        if self.depth == 0 {
            if self.root_seen {
                return Err(Error::Xml {
                    position,
                    message: "content after the root element".to_owned(),
                });
            }
            if name != b"osm" {
                return Err(Error::Xml {
                    position,
                    message: format!(
                        "expected <osm> root element, found <{}>",
                        String::from_utf8_lossy(name)
                    ),
                });
            }
            self.root_seen = true;
            return Ok(());
        }

        let ctx = Ctx { position, decoder };
        let element = match name {
            b"node" => Element::Node(ctx.node(e)?),
            b"way" => Element::Way(Way {
                id: ctx.id(e, "way")?,
                refs: Vec::new(),
                tags: Vec::new(),
            }),
            b"relation" => Element::Relation(Relation {
                id: ctx.id(e, "relation")?,
                members: Vec::new(),
                tags: Vec::new(),
            }),
            b"tag" => {
                // Tags also appear under <changeset> and similar; only ours matter.
                if let Some(current) = &mut self.current {
                    let tag = ctx.tag(e)?;
                    match current {
                        Element::Node(n) => n.tags.push(tag),
                        Element::Way(w) => w.tags.push(tag),
                        Element::Relation(r) => r.tags.push(tag),
                    }
                }
                return Ok(());
            }
            b"nd" => {
                if let Some(Element::Way(way)) = &mut self.current {
                    way.refs.push(ctx.nd(e)?);
                }
                return Ok(());
            }
            b"member" => {
                if let Some(Element::Relation(rel)) = &mut self.current {
                    rel.members.push(ctx.member(e)?);
                }
                return Ok(());
            }
            _ => return Ok(()),
        };

        if self.current.is_some() {
            return Err(Error::Xml {
                position,
                message: format!(
                    "<{}> nested inside another element",
                    String::from_utf8_lossy(name)
                ),
            });
        }
        if empty {
            sink.emit(element);
        } else {
            self.current = Some(element);
            self.current_depth = self.depth;
        }
        Ok(())
    }
}

/// What attribute parsing needs to report errors and decode text.
struct Ctx {
    position: u64,
    decoder: Decoder,
}

impl Ctx {
    fn malformed(&self, error: impl std::fmt::Display) -> Error {
        Error::Xml {
            position: self.position,
            message: error.to_string(),
        }
    }

    fn missing(&self, element: &'static str, attribute: &'static str) -> Error {
        Error::Attribute {
            element,
            attribute,
            value: None,
            position: self.position,
        }
    }

    fn invalid(&self, element: &'static str, attribute: &'static str, raw: &[u8]) -> Error {
        Error::Attribute {
            element,
            attribute,
            value: Some(String::from_utf8_lossy(raw).into_owned()),
            position: self.position,
        }
    }

    /// Calls `f` with each attribute, turning syntax errors (duplicates, missing quotes)
    /// into [`Error::Xml`].
    fn each_attribute(
        &self,
        e: &BytesStart<'_>,
        mut f: impl FnMut(Attribute<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for attr in e.attributes() {
            f(attr.map_err(|err| self.malformed(err))?)?;
        }
        Ok(())
    }

    /// Numbers never contain entities, so they are parsed from the raw bytes without
    /// unescaping or allocating.
    fn number<T: FromStr>(
        &self,
        element: &'static str,
        attribute: &'static str,
        raw: &[u8],
    ) -> Result<T, Error> {
        std::str::from_utf8(raw)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.invalid(element, attribute, raw))
    }

    fn text(&self, attr: &Attribute<'_>) -> Result<String, Error> {
        attr.decode_and_unescape_value(self.decoder)
            .map(|v| v.into_owned())
            .map_err(|err| self.malformed(err))
    }

    fn id(&self, e: &BytesStart<'_>, element: &'static str) -> Result<i64, Error> {
        let mut id = None;
        self.each_attribute(e, |a| {
            if a.key.as_ref() == b"id" {
                id = Some(self.number(element, "id", &a.value)?);
            }
            Ok(())
        })?;
        id.ok_or_else(|| self.missing(element, "id"))
    }

    fn node(&self, e: &BytesStart<'_>) -> Result<Node, Error> {
        let (mut id, mut lat, mut lon) = (None, None, None);
        self.each_attribute(e, |a| {
            match a.key.as_ref() {
                b"id" => id = Some(self.number("node", "id", &a.value)?),
                b"lat" => lat = Some(self.coordinate("lat", 90.0, &a.value)?),
                b"lon" => lon = Some(self.coordinate("lon", 180.0, &a.value)?),
                _ => {}
            }
            Ok(())
        })?;
        Ok(Node {
            id: id.ok_or_else(|| self.missing("node", "id"))?,
            lat: lat.ok_or_else(|| self.missing("node", "lat"))?,
            lon: lon.ok_or_else(|| self.missing("node", "lon"))?,
            tags: Vec::new(),
        })
    }

    /// Rejects NaN, infinities and out-of-range values, which `f64::from_str` accepts but
    /// which would poison any spatial index built downstream.
    fn coordinate(&self, attribute: &'static str, limit: f64, raw: &[u8]) -> Result<f64, Error> {
        let value: f64 = self.number("node", attribute, raw)?;
        if value.is_finite() && value.abs() <= limit {
            Ok(value)
        } else {
            Err(self.invalid("node", attribute, raw))
        }
    }

    fn tag(&self, e: &BytesStart<'_>) -> Result<(String, String), Error> {
        let (mut k, mut v) = (None, None);
        self.each_attribute(e, |a| {
            match a.key.as_ref() {
                b"k" => k = Some(self.text(&a)?),
                b"v" => v = Some(self.text(&a)?),
                _ => {}
            }
            Ok(())
        })?;
        Ok((
            k.ok_or_else(|| self.missing("tag", "k"))?,
            v.ok_or_else(|| self.missing("tag", "v"))?,
        ))
    }

    fn nd(&self, e: &BytesStart<'_>) -> Result<i64, Error> {
        let mut node_ref = None;
        self.each_attribute(e, |a| {
            if a.key.as_ref() == b"ref" {
                node_ref = Some(self.number("nd", "ref", &a.value)?);
            }
            Ok(())
        })?;
        node_ref.ok_or_else(|| self.missing("nd", "ref"))
    }

    fn member(&self, e: &BytesStart<'_>) -> Result<Member, Error> {
        let (mut kind, mut id, mut role) = (None, None, None);
        self.each_attribute(e, |a| {
            match a.key.as_ref() {
                b"type" => {
                    kind = Some(match a.value.as_ref() {
                        b"node" => MemberKind::Node,
                        b"way" => MemberKind::Way,
                        b"relation" => MemberKind::Relation,
                        other => return Err(self.invalid("member", "type", other)),
                    });
                }
                b"ref" => id = Some(self.number("member", "ref", &a.value)?),
                b"role" => role = Some(self.text(&a)?),
                _ => {}
            }
            Ok(())
        })?;
        Ok(Member {
            kind: kind.ok_or_else(|| self.missing("member", "type"))?,
            id: id.ok_or_else(|| self.missing("member", "ref"))?,
            // Writers omit an empty role in the wild; treat absence as "no role".
            role: role.unwrap_or_default(),
        })
    }
}
