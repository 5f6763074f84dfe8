//! Strongly connected components per mode: nodes outside the big ones are marked small
//! (kept, never dropped), so snapping can prefer the main network.

use petgraph::algo::kosaraju_scc;
use petgraph::graph::DiGraph;

use crate::graph::Graph;
use crate::mode::Mode;

/// Components smaller than this (other than each mode's largest) count as small.
pub const SMALL_COMPONENT_NODES: usize = 200;

pub fn mark_small(graph: &mut Graph) {
    for mode in Mode::ALL {
        let mut g: DiGraph<(), (), u32> =
            DiGraph::with_capacity(graph.nodes.len(), graph.edges.len());
        for _ in 0..graph.nodes.len() {
            g.add_node(());
        }
        for e in graph.edges.iter().filter(|e| e.access.contains(mode)) {
            g.add_edge(e.source.into(), e.target.into(), ());
        }
        let components = kosaraju_scc(&g);
        let largest = components.iter().map(Vec::len).max().unwrap_or(0);
        for component in components {
            let small = component.len() < largest && component.len() < SMALL_COMPONENT_NODES
                || component.len() == 1 && !has_edge(graph, component[0].index() as u32, mode);
            if small {
                for n in component {
                    graph.nodes[n.index()].small.set(mode, true);
                }
            }
        }
    }
}

fn has_edge(graph: &Graph, node: u32, mode: Mode) -> bool {
    graph
        .out_edges(node)
        .any(|e| graph.edges[e as usize].access.contains(mode))
}
