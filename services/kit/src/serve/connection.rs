//! One accepted connection's socket, as hyper sees it: [`ConnIo`] records when bytes last
//! moved (for the idle timeout), holds the connection's [`Slot`] for as long as the socket
//! lives (an upgraded WebSocket included), and turns hyper's own error responses into
//! problem documents.
//!
//! hyper answers a request head it cannot parse by itself (400, 414 URI too long, 431 header
//! fields too large) with an empty body and closes; it offers no hook for that answer, and
//! the request never reaches a service. So the one place to give those answers our problem
//! shape is the write path: a whole response head of one of those statuses, with
//! `content-length: 0` and no `content-type` (our services never answer so), is replaced by
//! the same status with a problem document. hyper reports a request line that overflows
//! its buffer as 431 (hyperium/hyper#3874); when no line feed has arrived since the last
//! request began, the request line is what overflowed, and the answer is 414.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::MAX_HEAD_BYTES;
use super::admission::Slot;
use crate::problem::Problem;

/// When a connection last moved bytes and whether a request of it is being handled.
pub(super) struct Activity {
    opened: Instant,
    /// Milliseconds from `opened` to the last read or write that moved bytes.
    last_progress_ms: AtomicU64,
    in_flight: AtomicUsize,
    /// Whether a line feed was read since the last request was handed to the service
    /// (the 414-or-431 question above).
    line_feed_since_request: AtomicBool,
}

impl Activity {
    pub(super) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            line_feed_since_request: AtomicBool::new(false),
        })
    }

    fn progress(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_progress_ms.store(ms, Ordering::Relaxed);
    }

    /// A request was handed to the service; it counts as in flight until the guard drops
    /// (its response is produced).
    pub(super) fn request_started(self: &Arc<Activity>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.line_feed_since_request.store(false, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Completes once no byte has moved for `limit` while no request was in flight.
    pub(super) async fn idle_for(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last_progress_ms.load(Ordering::Relaxed));
            let quiet = self.opened.elapsed().saturating_sub(last);
            if quiet >= limit && self.in_flight.load(Ordering::Relaxed) == 0 {
                return;
            }
            // A handler may work for a while without IO: look again a full period later.
            let wait = if quiet >= limit { limit } else { limit - quiet };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Marks a request in flight while alive.
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket of one connection.
pub(super) struct ConnIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    /// Our problem response standing in for hyper's empty error answer, while it is written.
    replacement: Option<Replacement>,
    /// Freed when the socket closes, however long it lives.
    _slot: Slot,
}

struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    /// What hyper handed us: reported as written once `bytes` are.
    stands_for: usize,
}

impl ConnIo {
    pub(super) fn new(stream: TcpStream, activity: Arc<Activity>, slot: Slot) -> ConnIo {
        ConnIo {
            stream,
            activity,
            replacement: None,
            _slot: slot,
        }
    }

    /// Starts a replacement when `buf` is one of hyper's empty error answers.
    fn intercept(&mut self, buf: &[u8]) {
        if self.replacement.is_some() {
            return;
        }
        let Some((mut status, date)) = hyper_error_answer(buf) else {
            return;
        };
        if status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            && !self
                .activity
                .line_feed_since_request
                .load(Ordering::Relaxed)
        {
            status = StatusCode::URI_TOO_LONG;
        }
        self.replacement = Some(Replacement {
            bytes: problem_response(status, date),
            written: 0,
            stands_for: buf.len(),
        });
    }

    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(replacement) = self.replacement.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while replacement.written < replacement.bytes.len() {
            let n = ready!(
                Pin::new(&mut self.stream)
                    .poll_write(cx, &replacement.bytes[replacement.written..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            replacement.written += n;
            self.activity.progress();
        }
        let stands_for = replacement.stands_for;
        self.replacement = None;
        Poll::Ready(Ok(stands_for))
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        let read = &buf.filled()[before..];
        if !read.is_empty() {
            this.activity.progress();
            let seen = &this.activity.line_feed_since_request;
            if !seen.load(Ordering::Relaxed) && read.contains(&b'\n') {
                seen.store(true, Ordering::Relaxed);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.intercept(buf);
        if this.replacement.is_some() {
            return this.poll_replacement(cx);
        }
        let n = ready!(Pin::new(&mut this.stream).poll_write(cx, buf))?;
        if n > 0 {
            this.activity.progress();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|b| !b.is_empty()).map(|b| &**b);
        if let Some(first) = first
            && bufs.iter().filter(|b| !b.is_empty()).count() == 1
        {
            this.intercept(first);
        }
        if this.replacement.is_some() {
            return this.poll_replacement(cx);
        }
        let n = ready!(Pin::new(&mut this.stream).poll_write_vectored(cx, bufs))?;
        if n > 0 {
            this.activity.progress();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The status (and `date` value) of `buf` when it is exactly a response head that hyper
/// writes for a request it could not parse: 400, 414 or 431, `content-length: 0`, no
/// `content-type`, nothing after the head.
fn hyper_error_answer(buf: &[u8]) -> Option<(StatusCode, Option<&[u8]>)> {
    let rest = buf
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    let status = match rest.get(..4)? {
        b"400 " => StatusCode::BAD_REQUEST,
        b"414 " => StatusCode::URI_TOO_LONG,
        b"431 " => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let head = buf.strip_suffix(b"\r\n\r\n")?;
    let mut empty = false;
    let mut date = None;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let (name, value) = split_header(line)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            empty = value == b"0";
        } else if name.eq_ignore_ascii_case(b"date") {
            date = Some(value);
        } else if name.eq_ignore_ascii_case(b"content-type") {
            return None;
        }
    }
    empty.then_some((status, date))
}

fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let value = &line[colon + 1..];
    let start = value.iter().position(|&b| b != b' ').unwrap_or(value.len());
    Some((&line[..colon], &value[start..]))
}

/// A whole HTTP/1.1 response (head and problem document) for `status`, closing the
/// connection as hyper does after these errors.
fn problem_response(status: StatusCode, date: Option<&[u8]>) -> Vec<u8> {
    let (kind, detail) = match status {
        StatusCode::URI_TOO_LONG => (
            "uri-too-long",
            format!(
                "the URL is too long: the request line and headers may take at most {} KiB",
                MAX_HEAD_BYTES / 1024
            ),
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            "headers-too-large",
            format!(
                "the request headers are too large: at most {} fields, and at most {} KiB with \
                 the request line",
                super::MAX_HEADERS,
                MAX_HEAD_BYTES / 1024
            ),
        ),
        _ => (
            "malformed-request",
            "the request line or a header field is not valid HTTP/1.1".to_string(),
        ),
    };
    let problem = Problem {
        kind: format!("/problems/{kind}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail,
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n\
         connection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len()
    )
    .into_bytes();
    if let Some(date) = date {
        response.extend_from_slice(b"date: ");
        response.extend_from_slice(date);
        response.extend_from_slice(b"\r\n");
    }
    response.extend_from_slice(b"\r\n");
    response.extend_from_slice(&body);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_error_heads_are_recognised() {
        let date = b"Sat, 01 Aug 2026 10:00:00 GMT";
        let head = |status: &str, extra: &str| {
            format!(
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\n{extra}date: {}\r\n\r\n",
                std::str::from_utf8(date).unwrap()
            )
            .into_bytes()
        };
        for (status, expected) in [
            ("400 Bad Request", StatusCode::BAD_REQUEST),
            ("414 URI Too Long", StatusCode::URI_TOO_LONG),
            (
                "431 Request Header Fields Too Large",
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ),
        ] {
            assert_eq!(
                hyper_error_answer(&head(status, "")),
                Some((expected, Some(&date[..])))
            );
        }
        // Our own answers (a typed body), other statuses, a head with a body after it.
        assert_eq!(
            hyper_error_answer(&head(
                "400 Bad Request",
                "content-type: application/problem+json\r\n"
            )),
            None
        );
        assert_eq!(hyper_error_answer(&head("404 Not Found", "")), None);
        let mut with_body = head("400 Bad Request", "");
        with_body.extend_from_slice(b"x");
        assert_eq!(hyper_error_answer(&with_body), None);
        assert_eq!(
            hyper_error_answer(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n"),
            None
        );
        assert_eq!(hyper_error_answer(b"{\"HTTP/1.1 400 \"}"), None);
    }

    #[test]
    fn the_replacement_is_a_complete_problem_response() {
        let bytes = problem_response(StatusCode::URI_TOO_LONG, Some(b"today"));
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("date: today"));
        let problem: Problem = serde_json::from_str(body).unwrap();
        assert_eq!(
            (problem.status, problem.kind.as_str()),
            (414, "/problems/uri-too-long")
        );
    }
}
