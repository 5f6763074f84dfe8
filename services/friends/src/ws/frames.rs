//! The frames of the friends WebSocket: what a client sends and how it is parsed (also as
//! raw wire bytes, for the fuzz target), and what the server sends.

use axum::extract::ws::{Message, Utf8Bytes};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{MAX_FRAME_TEXT, MAX_MESSAGE_BYTES, read_failure, validate_fix};

/// What a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum ClientFrame {
    Init {
        latitude: f64,
        longitude: f64,
        timestamp: Option<f64>,
        /// Opt in to "nearby random person".
        #[serde(default)]
        nearby_random: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        timestamp: Option<f64>,
    },
    Subscribe {
        friend_id: i64,
    },
    Unsubscribe {
        friend_id: i64,
    },
}

/// A friend as the client sees it.
#[derive(Debug, Serialize)]
pub(super) struct FriendView {
    pub(super) user_id: i64,
    pub(super) latitude: f64,
    pub(super) longitude: f64,
    pub(super) distance_m: f64,
    pub(super) timestamp: f64,
}

/// What the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ServerFrame {
    NearbyFriends {
        friends: Vec<FriendView>,
    },
    FriendLocation(FriendView),
    FriendLeft {
        user_id: i64,
    },
    /// `user_id` asks to be the client's friend.
    FriendRequest {
        user_id: i64,
        name: String,
    },
    /// The client and `user_id` are friends now; the server has subscribed to them.
    FriendAdded {
        user_id: i64,
        name: String,
    },
    /// An opted-in stranger nearby: an anonymous session that rotates, never a user id, at
    /// a position rounded to about 100 m and a time rounded to the minute.
    NearbyPerson {
        session: String,
        latitude: f64,
        longitude: f64,
        distance_m: f64,
        timestamp: f64,
    },
    /// A refused frame or an outage; the connection stays open. `code` is from the
    /// vocabulary of the HTTP problem `type`s ([`kit::problem::code`]), `status` the HTTP
    /// status that goes with it.
    Error {
        status: u16,
        code: &'static str,
        detail: String,
    },
    /// A WebSocket ping (not JSON): it travels with the frames so that it waits behind
    /// them and a client that does not read cannot answer it.
    #[serde(skip)]
    Ping,
}

impl ServerFrame {
    pub(super) fn error(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<String>,
    ) -> ServerFrame {
        ServerFrame::Error {
            status: status.as_u16(),
            code,
            detail: detail.into(),
        }
    }

    pub(super) fn to_message(&self) -> Message {
        match self {
            ServerFrame::Ping => Message::Ping(Default::default()),
            frame => Message::Text(Utf8Bytes::from(
                serde_json::to_string(frame).expect("frames serialise"),
            )),
        }
    }

    /// Removes `user`'s location from the frame; `false` when nothing is left to send.
    pub(super) fn forget(&mut self, user: i64) -> bool {
        match self {
            ServerFrame::FriendLocation(view) => view.user_id != user,
            ServerFrame::NearbyFriends { friends } => {
                friends.retain(|f| f.user_id != user);
                true
            }
            _ => true,
        }
    }
}

/// Decodes `bytes` as a client's side of an upgraded connection, the way the server does
/// (tungstenite in the server role, this service's buffer and size limits), then parses and
/// checks every text message as [`Connection::on_text`] would, and maps every read error
/// to its close ([`read_failure`]'s codes). Returns the number of frames accepted. For the
/// `ws_frames` fuzz target: whatever the bytes, this must not panic or allocate past the
/// limits.
pub fn decode_client_bytes_for_fuzzing(bytes: &[u8]) -> usize {
    use tungstenite::protocol::{Role, WebSocket as RawSocket, WebSocketConfig};
    /// Reads the fuzz input; what the server writes back (pongs, closes) goes nowhere.
    struct Wire<'a>(std::io::Cursor<&'a [u8]>);
    impl std::io::Read for Wire<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.0.read(buf)
        }
    }
    impl std::io::Write for Wire<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let mut socket = RawSocket::from_raw_socket(
        Wire(std::io::Cursor::new(bytes)),
        Role::Server,
        Some(config),
    );
    let mut accepted = 0;
    loop {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => {
                let checked = match parse_frame(&text) {
                    Ok(ClientFrame::Init {
                        latitude,
                        longitude,
                        timestamp,
                        ..
                    })
                    | Ok(ClientFrame::Location {
                        latitude,
                        longitude,
                        timestamp,
                    }) => validate_fix(latitude, longitude, timestamp).is_ok(),
                    Ok(_) => true,
                    Err(_) => false,
                };
                accepted += usize::from(checked && text.len() <= MAX_FRAME_TEXT);
            }
            Ok(_) => {}
            Err(err) => {
                let _ = read_failure(0, axum::Error::new(err));
                return accepted;
            }
        }
    }
}

pub(super) fn parse_frame(text: &str) -> Result<ClientFrame, serde_json::Error> {
    serde_json::from_str::<ClientFrame>(text)
}
