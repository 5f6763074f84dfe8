//! The transport under a connection: any WebSocket-like pair of a frame stream and a frame
//! sink (axum's `WebSocket` in production, an in-memory pair in tests), and how the server
//! writes to it, closes it and reads its failures.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, close_code};
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::Instant;

use super::frames::ServerFrame;
use super::{CLOSE_LINGER, Ending};
use crate::pubsub::Control;

/// What a connection runs on: frames in, frames out, errors as axum reports them.
pub trait Socket:
    Stream<Item = Result<Message, axum::Error>> + Sink<Message, Error = axum::Error> + Unpin + Send
{
}

impl<T> Socket for T where
    T: Stream<Item = Result<Message, axum::Error>>
        + Sink<Message, Error = axum::Error>
        + Unpin
        + Send
{
}

/// The close that answers a failed read: 1009 for a message over the size limit, 1007 for
/// text that is not UTF-8 (RFC 6455, 7.4.1); anything else means the transport is gone.
pub(super) fn read_failure(user_id: i64, err: axum::Error) -> Ending {
    use tungstenite::error::{CapacityError, Error};
    let inner = err.into_inner();
    match inner.downcast_ref::<Error>() {
        Some(Error::Capacity(CapacityError::MessageTooLong { .. })) => {
            Ending::Close(close_code::SIZE, "message too large: at most 65536 bytes")
        }
        Some(Error::Capacity(_)) => Ending::Close(close_code::SIZE, "frame too large"),
        Some(Error::Utf8(_)) => Ending::Close(close_code::INVALID, "text frames must be UTF-8"),
        Some(Error::Protocol(_)) => Ending::Close(close_code::PROTOCOL, "protocol error"),
        _ => {
            tracing::debug!(user_id, error = %inner, "websocket read failed");
            Ending::Gone
        }
    }
}

/// Sends a close frame and gives the client [`CLOSE_LINGER`] to answer it, so that the
/// frame is read before the TCP connection goes (dropping a socket with unread input makes
/// the kernel send a reset, which may destroy the close frame on its way).
pub(super) async fn close(socket: &mut impl Socket, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }));
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        if socket.send(frame).await.is_err() {
            return;
        }
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(_))) | None => return,
                Some(Ok(_)) => {}
                // What follows a refused frame cannot be parsed; wait out the linger.
                Some(Err(_)) => std::future::pending::<()>().await,
            }
        }
    })
    .await;
}

pub(super) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// How a write ended.
pub(super) enum Sent {
    Done,
    /// The transport failed.
    Failed,
    /// The client did not take the frames within the write timeout.
    Stalled,
    /// A friend whose location the write carries was taken away before it completed.
    Revoked,
}

/// Writes `out`, giving up when the client does not take it within `timeout`, or when an
/// unfriend concerning a friend in it arrives first: once `DELETE /v1/friends` has
/// returned, nothing about that friend may still go out.
pub(super) async fn write(
    socket: &mut impl Socket,
    out: &mut Vec<ServerFrame>,
    control: &Control,
    timeout: Duration,
) -> Sent {
    let mut carried: Vec<i64> = Vec::new();
    for frame in out.iter() {
        match frame {
            ServerFrame::FriendLocation(view) => carried.push(view.user_id),
            ServerFrame::NearbyFriends { friends } => {
                carried.extend(friends.iter().map(|f| f.user_id))
            }
            _ => {}
        }
    }
    let send = send_all(socket, out);
    tokio::pin!(send);
    let stall = tokio::time::sleep(timeout);
    tokio::pin!(stall);
    loop {
        tokio::select! {
            sent = &mut send => return if sent.is_ok() { Sent::Done } else { Sent::Failed },
            () = &mut stall => return Sent::Stalled,
            () = control.changed(), if !carried.is_empty() => {
                if control.revokes(&carried) {
                    return Sent::Revoked;
                }
            }
        }
    }
}

pub(super) async fn send_all(
    socket: &mut impl Socket,
    out: &mut Vec<ServerFrame>,
) -> Result<(), axum::Error> {
    for frame in out.drain(..) {
        socket.feed(frame.to_message()).await?;
    }
    socket.flush().await
}
