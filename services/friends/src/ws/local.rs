//! A connection inside the process: the same protocol code as a WebSocket ([`super::run`]),
//! over channels instead of a socket. The `demo` command moves its simulated friends through
//! it, and tests talk to the handler without a network.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::ws::Message;
use futures::channel::mpsc;
use futures::{Sink, Stream, StreamExt};

use crate::service::FriendsState;

/// The server's end: what the client sent comes in, what the server writes goes out.
struct Duplex {
    incoming: mpsc::UnboundedReceiver<Result<Message, axum::Error>>,
    outgoing: mpsc::Sender<Message>,
}

impl Stream for Duplex {
    type Item = Result<Message, axum::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_next_unpin(cx)
    }
}

impl Sink<Message> for Duplex {
    type Error = axum::Error;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        Pin::new(&mut self.outgoing)
            .poll_ready(cx)
            .map_err(axum::Error::new)
    }
    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), axum::Error> {
        Pin::new(&mut self.outgoing)
            .start_send(item)
            .map_err(axum::Error::new)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        Pin::new(&mut self.outgoing)
            .poll_flush(cx)
            .map_err(axum::Error::new)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), axum::Error>> {
        Pin::new(&mut self.outgoing)
            .poll_close(cx)
            .map_err(axum::Error::new)
    }
}

/// The client's end of one in-process connection. What the server writes waits in a
/// bounded queue (`capacity` frames): a client that stops reading stalls its connection, as
/// a slow socket would, and the server's own limits apply.
pub struct LocalClient {
    send: mpsc::UnboundedSender<Result<Message, axum::Error>>,
    frames: mpsc::Receiver<Message>,
    task: tokio::task::JoinHandle<()>,
}

impl LocalClient {
    /// Opens a connection as `user_id`; `None` when the user holds every connection allowed.
    pub fn connect(state: &FriendsState, user_id: i64, capacity: usize) -> Option<LocalClient> {
        let slot = state.user_slot(user_id)?;
        let (send, incoming) = mpsc::unbounded();
        let (outgoing, frames) = mpsc::channel(capacity);
        let task = tokio::spawn(super::run(
            state.clone(),
            Duplex { incoming, outgoing },
            user_id,
            slot,
        ));
        Some(LocalClient { send, frames, task })
    }

    /// Sends one frame; `false` once the connection has ended.
    pub fn send(&self, message: Message) -> bool {
        self.send.unbounded_send(Ok(message)).is_ok()
    }

    /// Sends one JSON text frame; `false` once the connection has ended.
    pub fn say(&self, frame: &serde_json::Value) -> bool {
        self.send(Message::text(frame.to_string()))
    }

    /// The next frame the server wrote; `None` once the connection has ended.
    pub async fn recv(&mut self) -> Option<Message> {
        self.frames.next().await
    }

    /// A frame already written, if any.
    pub fn try_recv(&mut self) -> Option<Message> {
        self.frames.try_recv().ok()
    }

    /// Leaves, as a client closing its socket would; resolves when the handler has ended.
    pub async fn close(self) -> Result<(), tokio::task::JoinError> {
        drop(self.send);
        self.task.await
    }
}
