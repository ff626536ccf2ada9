use crate::plan::{Plan, Resource, StepKind};
use petgraph::graph::NodeIndex;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// Which queue a ready step waits in: the resource it still has to be
/// granted, or none (it may start at once).
pub type Lane = Option<Resource>;

/// The steps of a plan that wait for others, and the ready ones, in one
/// queue per [`Lane`] so that a step blocked on a busy resource costs
/// nothing while others start. In each queue later kinds come first
/// (finish a started cell before starting another), then plan order.
pub struct DependencyQueue {
    /// Needs not yet done, per node.
    waiting_on: Vec<usize>,
    /// Position of each node in the plan's order.
    position: Vec<usize>,
    ready: BTreeMap<Lane, BTreeSet<(Reverse<StepKind>, usize)>>,
}

impl DependencyQueue {
    /// The plan's steps; those that need nothing are ready, and returned.
    pub fn new(plan: &Plan) -> (Self, Vec<NodeIndex>) {
        let n = plan.len();
        let mut position = vec![0; n];
        for (i, node) in plan.order().iter().enumerate() {
            position[node.index()] = i;
        }
        let waiting_on: Vec<usize> = (0..n)
            .map(|i| plan.needs(NodeIndex::new(i)).len())
            .collect();
        let ready = plan
            .order()
            .iter()
            .copied()
            .filter(|n| waiting_on[n.index()] == 0)
            .collect();
        (
            Self {
                waiting_on,
                position,
                ready: BTreeMap::new(),
            },
            ready,
        )
    }

    /// `node` may start once `lane` allows.
    pub fn push(&mut self, plan: &Plan, node: NodeIndex, lane: Lane) {
        let kind = plan.step(node).step.kind();
        self.ready
            .entry(lane)
            .or_default()
            .insert((Reverse(kind), self.position[node.index()]));
    }

    /// The best ready step of `lane`.
    pub fn pop(&mut self, plan: &Plan, lane: Lane) -> Option<NodeIndex> {
        let (_, position) = self.ready.get_mut(&lane)?.pop_first()?;
        Some(plan.order()[position])
    }

    /// The lanes that have ready steps.
    pub fn lanes(&self) -> Vec<Lane> {
        self.ready
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(l, _)| *l)
            .collect()
    }

    /// `node` is done: its dependents that now need nothing more.
    pub fn done(&mut self, plan: &Plan, node: NodeIndex) -> Vec<NodeIndex> {
        plan.dependents(node)
            .into_iter()
            .filter(|next| {
                let left = &mut self.waiting_on[next.index()];
                *left -= 1;
                *left == 0
            })
            .collect()
    }

    /// Ready steps in every lane.
    pub fn len(&self) -> usize {
        self.ready.values().map(BTreeSet::len).sum()
    }
}
