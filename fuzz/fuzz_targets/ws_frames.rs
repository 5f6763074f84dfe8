//! Bytes a client sends on an upgraded nearby-friends WebSocket: tungstenite's frame decoder
//! with the service's limits, then the service's parsing and checks of each text message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let accepted = friends::ws::decode_client_bytes_for_fuzzing(data);
    // Every accepted message took at least a two-byte header, a mask and a `{}`.
    assert!(accepted <= data.len() / 8);
});
