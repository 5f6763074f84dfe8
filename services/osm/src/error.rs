//! The single error type of the crate.

use std::io;
use std::path::PathBuf;

use crate::Format;

/// Everything that can go wrong while reading an OSM file.
///
/// Positions are byte offsets into the input as stored (for `.osm.gz` files, offsets of
/// [`Error::Xml`] and [`Error::Attribute`] refer to the decompressed XML).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The path given to [`read`](crate::read).
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// Reading from the input failed for a reason other than its content.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),

    /// The first bytes look like neither PBF, OSM XML nor gzip.
    #[error("unknown file format: {0}")]
    UnknownFormat(String),

    /// The input ended in the middle of a PBF blob, an XML element or a gzip stream.
    #[error("truncated {format} input: unexpected end after {offset} bytes")]
    Truncated {
        /// The format being read.
        format: Format,
        /// How many bytes of the input had been consumed when the end was hit.
        offset: u64,
    },

    /// A PBF blob could not be decoded (bad framing, bad compression, bad protobuf, bad
    /// string table index, unsupported required feature).
    #[error("corrupt pbf blob at byte {offset}: {source}")]
    Pbf {
        /// Offset of the start of the offending blob.
        offset: u64,
        /// What was wrong; usually an `osmpbf::Error`.
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The XML is not well formed or not an OSM document.
    #[error("malformed xml at byte {position}: {message}")]
    Xml {
        /// Byte offset in the (decompressed) XML.
        position: u64,
        /// What was wrong.
        message: String,
    },

    /// An OSM element lacks a required attribute or has one that does not parse.
    #[error(
        "{} attribute `{attribute}` on <{element}> at byte {position}",
        describe_value(.value)
    )]
    Attribute {
        /// The XML element name (`node`, `way`, `nd`, `member`, `tag`, ...).
        element: &'static str,
        /// The attribute name.
        attribute: &'static str,
        /// The offending value, `None` when the attribute is missing.
        value: Option<String>,
        /// Byte offset of the element in the (decompressed) XML.
        position: u64,
    },
}

fn describe_value(value: &Option<String>) -> String {
    match value {
        None => "missing".to_owned(),
        Some(v) => format!("invalid value {v:?} for"),
    }
}

impl Error {
    pub(crate) fn pbf(
        offset: u64,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Pbf {
            offset,
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_without_period() {
        let errors = [
            Error::UnknownFormat("empty input".into()),
            Error::Truncated {
                format: Format::Pbf,
                offset: 10,
            },
            Error::pbf(4, "bad header"),
            Error::Xml {
                position: 3,
                message: "unexpected end".into(),
            },
            Error::Attribute {
                element: "node",
                attribute: "lat",
                value: None,
                position: 0,
            },
            Error::Attribute {
                element: "node",
                attribute: "lat",
                value: Some("north".into()),
                position: 0,
            },
        ];
        for e in errors {
            let msg = e.to_string();
            assert!(!msg.ends_with('.'), "{msg}");
            assert!(msg.starts_with(|c: char| c.is_lowercase()), "{msg}");
        }
        let missing = Error::Attribute {
            element: "node",
            attribute: "lat",
            value: None,
            position: 12,
        };
        assert_eq!(
            missing.to_string(),
            "missing attribute `lat` on <node> at byte 12"
        );
    }
}
