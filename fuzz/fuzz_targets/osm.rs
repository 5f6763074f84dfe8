//! The OSM reader (`services/osm`): PBF (framing, then `osmpbf` on worker threads), XML and
//! gzipped XML, recognised from the first bytes as `osm::read` does.
//!
//! The reader turns decoder panics into errors on purpose (`catch_unwind`); libFuzzer's
//! panic hook would abort on those too, so it is replaced with a quiet one: a panic that
//! escapes the reader still aborts the run through `fuzz_target!`'s own check.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;

static QUIET_PANICS: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    QUIET_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Some(format) = osm::Format::detect(data) else {
        return;
    };
    let mut elements = 0u64;
    let read = osm::read_from(std::io::Cursor::new(data), format, |element| {
        elements += 1;
        let _ = element.tag("highway");
    });
    if let Ok(stats) = read {
        assert_eq!(stats.elements(), elements);
    }
});
