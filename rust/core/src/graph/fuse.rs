//! Element-wise fusion: a run of element-wise calls on the CPU whose results share one shape,
//! each after the first reading an earlier one's result, becomes one `Op::Fused` call that
//! makes one pass over memory. Only results read after the run (or handed back) are written
//! out. Pure calls between a run's calls that do not read the run (a scalar's cast, another
//! branch) move before it; nothing moves across a call that writes memory.
use super::{Graph, Node, Port, ValueId};
use crate::device::Device;
use crate::layout::Layout;
use crate::op::{Fused, FusedOperand, Op};
use std::collections::HashMap;

impl Graph {
    fn fusible(&self, node: &Node) -> bool {
        node.outputs.len() == 1 && Fused::can_fuse(&node.op()) && {
            let v = &self.values[node.outputs[0]];
            v.device == Device::Cpu && v.shape.iter().product::<usize>() > 0
        }
    }

    /// Whether `node` extends `run`: same result shape, and reads a result of the run through
    /// its plain layout.
    fn extends(&self, run: &[Node], node: &Node) -> bool {
        let Some(first) = run.first() else { return false };
        let shape = &self.values[first.outputs[0]].shape;
        if !self.fusible(node) || &self.values[node.outputs[0]].shape != shape {
            return false;
        }
        let made = |v: ValueId| run.iter().any(|n| n.outputs[0] == v);
        let plain = Layout::contiguous(shape);
        node.inputs.iter().any(|p| made(p.value)) && node.inputs.iter().all(|p| !made(p.value) || p.layout == plain)
    }

    pub(super) fn fuse(&mut self) {
        let mut reads: HashMap<ValueId, usize> = HashMap::new();
        for p in self.nodes.iter().flat_map(|n| &n.inputs) {
            *reads.entry(p.value).or_default() += 1;
        }
        let results = self.results();
        let mut fused = Vec::with_capacity(self.nodes.len());
        let mut run: Vec<Node> = vec![];
        for node in std::mem::take(&mut self.nodes) {
            if self.extends(&run, &node) {
                run.push(node);
                continue;
            }
            let reads_run = node.inputs.iter().any(|p| run.iter().any(|n| n.outputs[0] == p.value));
            if !run.is_empty() && node.op().is_pure() && !reads_run {
                fused.push(node);
                continue;
            }
            self.close_run(std::mem::take(&mut run), &reads, &results, &mut fused);
            if self.fusible(&node) {
                run.push(node);
            } else {
                fused.push(node);
            }
        }
        self.close_run(run, &reads, &results, &mut fused);
        self.nodes = fused;
        self.renumber_sources();
    }

    fn close_run(&mut self, run: Vec<Node>, reads: &HashMap<ValueId, usize>, results: &std::collections::HashSet<ValueId>, out: &mut Vec<Node>) {
        if run.len() < 2 {
            out.extend(run);
            return;
        }
        let step_of: HashMap<ValueId, usize> = run.iter().enumerate().map(|(s, n)| (n.outputs[0], s)).collect();
        let mut inputs: Vec<Port> = vec![];
        let mut inner_reads: HashMap<ValueId, usize> = HashMap::new();
        let mut steps = Vec::with_capacity(run.len());
        for n in &run {
            let operands = n
                .inputs
                .iter()
                .map(|p| match step_of.get(&p.value) {
                    Some(&s) => {
                        *inner_reads.entry(p.value).or_default() += 1;
                        FusedOperand::Step(s)
                    }
                    None => FusedOperand::Input(inputs.iter().position(|q| q == p).unwrap_or_else(|| {
                        inputs.push(p.clone());
                        inputs.len() - 1
                    })),
                })
                .collect();
            steps.push((n.op().detached().expect("element-wise ops borrow nothing"), operands));
        }
        let leaves = |v: &ValueId| results.contains(v) || reads.get(v).copied().unwrap_or(0) > inner_reads.get(v).copied().unwrap_or(0);
        let outputs: Vec<usize> = run.iter().enumerate().filter(|(_, n)| leaves(&n.outputs[0])).map(|(s, _)| s).collect();
        let values: Vec<ValueId> = outputs.iter().map(|&s| run[s].outputs[0]).collect();
        let f = Fused {
            dtypes: run.iter().map(|n| self.values[n.outputs[0]].dtype).collect(),
            shape: self.values[run[0].outputs[0]].shape.clone(),
            steps,
            outputs,
        };
        self.fused_groups += 1;
        self.fused_calls += run.len();
        out.push(Node::new(&Op::Fused(&f), inputs, values));
    }
}
