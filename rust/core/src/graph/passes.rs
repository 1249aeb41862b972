//! The passes a captured graph goes through once: common-subexpression elimination of pure
//! calls, dead-code elimination, and the liveness that frees each intermediate after its last
//! reader during a replay.
use super::{ArgSpec, Graph, Leaf, Node, Port, Source, Value, ValueId};
use crate::tensor::Tensor;
use std::collections::{HashMap, HashSet};

impl Graph {
    pub(super) fn new(values: Vec<Value>, nodes: Vec<Node>, args: Vec<ArgSpec>, arg_values: Vec<ValueId>, outputs: Vec<Port>, grad_effects: Vec<(Leaf, Option<Port>)>) -> Graph {
        let mut g = Graph { values, nodes, args, arg_values, outputs, grad_effects, frees: vec![], removed_dead: 0, merged_common: 0, fused_groups: 0, fused_calls: 0 };
        g.merge_common();
        g.remove_dead();
        g.fuse();
        g.plan_frees();
        g.prebuild();
        g
    }

    /// Values the graph hands back: outputs and gradients.
    pub(super) fn results(&self) -> HashSet<ValueId> {
        self.outputs.iter().chain(self.grad_effects.iter().filter_map(|(_, p)| p.as_ref())).map(|p| p.value).collect()
    }

    /// Values some call writes into (an impure call may write any of its operands).
    fn written(&self) -> HashSet<ValueId> {
        self.nodes.iter().filter(|n| !n.op().is_pure()).flat_map(|n| n.inputs.iter().map(|p| p.value)).collect()
    }

    /// Merges a pure call into an earlier one with the same op and operands. Values written in
    /// place or handed back are left alone: merging those could make two of them one memory.
    fn merge_common(&mut self) {
        let avoid: HashSet<ValueId> = self.written().union(&self.results()).copied().collect();
        let mut seen: HashMap<(String, Vec<Port>), Vec<ValueId>> = HashMap::new();
        let mut renamed: HashMap<ValueId, ValueId> = HashMap::new();
        let mut kept = Vec::with_capacity(self.nodes.len());
        for mut node in std::mem::take(&mut self.nodes) {
            for p in &mut node.inputs {
                if let Some(&v) = renamed.get(&p.value) {
                    p.value = v;
                }
            }
            let op = node.op();
            if op.is_pure() && !node.outputs.is_empty() && !node.outputs.iter().any(|v| avoid.contains(v)) {
                let key = (format!("{op:?}"), node.inputs.clone());
                if let Some(earlier) = seen.get(&key) {
                    renamed.extend(node.outputs.iter().copied().zip(earlier.iter().copied()));
                    self.merged_common += 1;
                    continue;
                }
                seen.insert(key, node.outputs.clone());
            }
            kept.push(node);
        }
        self.nodes = kept;
        self.renumber_sources();
    }

    /// Drops pure calls none of whose outputs is read or handed back.
    fn remove_dead(&mut self) {
        let mut live = self.results();
        let mut keep = vec![false; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate().rev() {
            if !node.op().is_pure() || node.outputs.iter().any(|v| live.contains(v)) {
                keep[i] = true;
                live.extend(node.inputs.iter().map(|p| p.value));
            }
        }
        let before = self.nodes.len();
        let mut flags = keep.into_iter();
        self.nodes.retain(|_| flags.next().unwrap_or(true));
        self.removed_dead = before - self.nodes.len();
        self.renumber_sources();
    }

    /// Points each node-made value at its node's new position.
    pub(super) fn renumber_sources(&mut self) {
        for (node, n) in self.nodes.iter().enumerate() {
            for (index, &v) in n.outputs.iter().enumerate() {
                self.values[v].source = Source::Node { node, index };
            }
        }
    }

    /// Makes the operands on captured memory once.
    fn prebuild(&mut self) {
        for node in &mut self.nodes {
            node.prebuilt = node
                .inputs
                .iter()
                .map(|p| match &self.values[p.value].source {
                    Source::Captured(s) => Some(Tensor::from_parts(s.clone(), p.layout.clone())),
                    _ => None,
                })
                .collect();
        }
    }

    /// Frees each value made by a node after its last reader (or at once when nothing reads it).
    fn plan_frees(&mut self) {
        let results = self.results();
        let mut last: HashMap<ValueId, usize> = HashMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            for &v in &node.outputs {
                last.entry(v).or_insert(i);
            }
            for p in &node.inputs {
                last.insert(p.value, i);
            }
        }
        self.frees = vec![vec![]; self.nodes.len()];
        for (v, i) in last {
            if matches!(self.values[v].source, Source::Node { .. }) && !results.contains(&v) {
                self.frees[i].push(v);
            }
        }
    }
}
