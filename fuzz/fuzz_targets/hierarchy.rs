//! Contraction hierarchies (`ch/<mode>.bin`): decoding and its checks, then searches
//! between the stored nodes, which unpack shortcuts (where a crafted file could make
//! `fast_paths` recurse without end or index out of bounds).
#![no_main]

use libfuzzer_sys::fuzz_target;
use routing::ch::Contracted;

fuzz_target!(|data: &[u8]| {
    let Ok(contracted) = Contracted::decode(data) else {
        return;
    };
    let _ = (
        contracted.mode(),
        contracted.node_count(),
        contracted.arc_count(),
    );
    let edges: Vec<_> = contracted.edges().take(6).collect();
    for &from in &edges {
        for &to in &edges {
            if let Some(path) = contracted.search(&[(from, 0)], &[(to, 7)]) {
                assert!(!path.is_empty());
            }
        }
    }
    // What the router does: several ends at once, with weights.
    let ends: Vec<_> = edges.iter().map(|&e| (e, 1000)).collect();
    let _ = contracted.search(&ends, &ends);
});
