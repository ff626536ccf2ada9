use super::{Step, StepKind};
use crate::model::Recipe;
use petgraph::algo::{kosaraju_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use std::collections::{BTreeMap, BTreeSet};

/// The DAG of steps for a selection of cells. Built once and frozen: there is
/// no way to change it after [`Plan::new`], and its order is computed once so
/// that execution, dry-run output and graph output all walk the same sequence.
#[derive(Debug)]
pub struct Plan {
    graph: DiGraph<Step, ()>,
    order: Vec<NodeIndex>,
    /// Indexes into `recipe.cells` of the selected cells, sorted by image name.
    cells: Vec<usize>,
}

/// A cycle in a graph of steps, reported with an edge that breaks it.
#[derive(Debug, thiserror::Error)]
#[error("the plan has a cycle: removing the edge `{from}` → `{to}` would break it")]
pub struct CycleError {
    pub from: String,
    pub to: String,
}

/// What to plan for one cell: boot it (or reuse a cached snapshot) and
/// which targets to upload to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellWork {
    /// Index into `recipe.cells`.
    pub cell: usize,
    /// Fetch, render, seed, boot and snapshot; else upload a cached snapshot.
    pub boot: bool,
    /// Targets to upload to (indexes into `recipe.targets`).
    pub targets: Vec<usize>,
    /// Targets to prune after the manifest is recorded (those that hold the
    /// cell's current image once the uploads are done).
    pub prune: Vec<usize>,
}

impl CellWork {
    /// A full build to every target.
    pub fn build_all(recipe: &Recipe, cell: usize) -> Self {
        CellWork {
            cell,
            boot: true,
            targets: (0..recipe.targets.len()).collect(),
            prune: (0..recipe.targets.len()).collect(),
        }
    }
}

impl Plan {
    /// Plan every step for `cells` (indexes into `recipe.cells`), as if
    /// every cell were built and uploaded to every target.
    pub fn new(recipe: &Recipe, cells: &[usize]) -> Plan {
        let work: Vec<CellWork> = cells
            .iter()
            .map(|&c| CellWork::build_all(recipe, c))
            .collect();
        Plan::for_work(recipe, &work)
    }

    /// One fetch per distinct base of the cells that boot; per booting cell
    /// render → seed → boot (after the fetch) → snapshot; per target upload;
    /// then record (after every upload of the cell) → prune per target.
    /// A cell with nothing to boot, upload or prune has no steps.
    pub fn for_work(recipe: &Recipe, work: &[CellWork]) -> Plan {
        let mut builder = Builder::default();
        let mut work: Vec<&CellWork> = work
            .iter()
            .filter(|w| w.boot || !w.targets.is_empty() || !w.prune.is_empty())
            .collect();
        work.sort_by(|a, b| {
            recipe.cells[a.cell]
                .image_name
                .cmp(&recipe.cells[b.cell].image_name)
        });
        work.dedup_by_key(|w| w.cell);
        let selected: Vec<usize> = work.iter().map(|w| w.cell).collect();

        let bases: BTreeSet<&str> = work
            .iter()
            .filter(|w| w.boot)
            .map(|w| recipe.cells[w.cell].base())
            .collect();
        let mut fetch = BTreeMap::new();
        for base in bases {
            let node = builder.add(Step {
                kind: StepKind::Fetch,
                base: Some(base.to_owned()),
                cell: None,
                target: None,
                id: format!("fetch:{base}"),
            });
            fetch.insert(base, node);
        }
        for w in &work {
            let ci = w.cell;
            let cell = &recipe.cells[ci];
            let name = &cell.image_name;
            let step = |kind: StepKind| Step {
                kind,
                base: None,
                cell: Some(ci),
                target: None,
                id: format!("{kind}:{name}"),
            };
            let snapshot = if w.boot {
                let render = builder.add(step(StepKind::Render));
                let seed = builder.add(step(StepKind::Seed));
                let boot = builder.add(step(StepKind::Boot));
                let snapshot = builder.add(step(StepKind::Snapshot));
                builder.edge(render, seed);
                builder.edge(seed, boot);
                builder.edge(fetch[cell.base()], boot);
                builder.edge(boot, snapshot);
                Some(snapshot)
            } else {
                None
            };
            let per_target = |kind: StepKind, ti: usize| Step {
                kind,
                base: None,
                cell: Some(ci),
                target: Some(ti),
                id: format!("{kind}:{name}@{}", recipe.targets[ti].name),
            };
            let uploads: Vec<NodeIndex> = w
                .targets
                .iter()
                .map(|&ti| {
                    let upload = builder.add(per_target(StepKind::Upload, ti));
                    if let Some(snapshot) = snapshot {
                        builder.edge(snapshot, upload);
                    }
                    upload
                })
                .collect();
            let record = builder.add(step(StepKind::Record));
            for &upload in &uploads {
                builder.edge(upload, record);
            }
            if let Some(snapshot) = snapshot
                && uploads.is_empty()
            {
                builder.edge(snapshot, record);
            }
            for &ti in &w.prune {
                let prune = builder.add(per_target(StepKind::Prune, ti));
                builder.edge(record, prune);
            }
        }
        builder
            .freeze(selected)
            .expect("a plan built from a recipe has no cycle")
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn step(&self, node: NodeIndex) -> &Step {
        &self.graph[node]
    }

    /// Indexes of the selected cells in `recipe.cells`, sorted by image name.
    pub fn cells(&self) -> &[usize] {
        &self.cells
    }

    /// Every step in execution order (a deterministic topological order).
    pub fn order(&self) -> &[NodeIndex] {
        &self.order
    }

    /// Steps that must finish before `node` starts, in order.
    pub fn needs(&self, node: NodeIndex) -> Vec<NodeIndex> {
        let mut needs: Vec<NodeIndex> = self
            .graph
            .neighbors_directed(node, petgraph::Direction::Incoming)
            .collect();
        needs.sort();
        needs
    }

    /// Steps that wait for `node`.
    pub fn dependents(&self, node: NodeIndex) -> Vec<NodeIndex> {
        let mut next: Vec<NodeIndex> = self
            .graph
            .neighbors_directed(node, petgraph::Direction::Outgoing)
            .collect();
        next.sort();
        next
    }

    /// The one walk that every output (text, JSON, Graphviz) and the
    /// executor's ordering come from: each step with the steps it needs.
    pub fn walk(&self) -> impl Iterator<Item = (NodeIndex, &Step, Vec<&Step>)> {
        self.order.iter().map(|&n| {
            let needs = self.needs(n).into_iter().map(|d| &self.graph[d]).collect();
            (n, &self.graph[n], needs)
        })
    }

    /// Count of steps of a kind.
    pub fn count(&self, kind: StepKind) -> usize {
        self.graph.node_weights().filter(|s| s.kind == kind).count()
    }
}

/// Mutable while the plan is being put together; `freeze` checks it and
/// turns it into a [`Plan`].
#[derive(Default)]
struct Builder {
    graph: DiGraph<Step, ()>,
}

impl Builder {
    fn add(&mut self, step: Step) -> NodeIndex {
        self.graph.add_node(step)
    }

    // `add_edge`, not `update_edge`: the latter scans the source's edges for a
    // duplicate, which makes a base shared by n cells cost O(n²).
    fn edge(&mut self, from: NodeIndex, to: NodeIndex) {
        self.graph.add_edge(from, to, ());
    }

    fn freeze(self, cells: Vec<usize>) -> Result<Plan, CycleError> {
        let order = deterministic_order(&self.graph)?;
        Ok(Plan {
            graph: self.graph,
            order,
            cells,
        })
    }
}

/// Kahn's algorithm, always taking the ready step added first, so the order
/// does not depend on hashing or on petgraph internals.
fn deterministic_order(graph: &DiGraph<Step, ()>) -> Result<Vec<NodeIndex>, CycleError> {
    if let Err(cycle) = toposort(graph, None) {
        return Err(breaking_edge(graph, cycle.node_id()));
    }
    let mut indegree: Vec<usize> = graph
        .node_indices()
        .map(|n| {
            graph
                .neighbors_directed(n, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: BTreeSet<NodeIndex> = graph
        .node_indices()
        .filter(|n| indegree[n.index()] == 0)
        .collect();
    let mut order = Vec::with_capacity(graph.node_count());
    while let Some(node) = ready.pop_first() {
        order.push(node);
        for next in graph.neighbors_directed(node, petgraph::Direction::Outgoing) {
            indegree[next.index()] -= 1;
            if indegree[next.index()] == 0 {
                ready.insert(next);
            }
        }
    }
    Ok(order)
}

/// An edge inside the cycle through `node`: the one pointing back to the
/// earliest-added step of the cycle, which is the edge to remove.
fn breaking_edge(graph: &DiGraph<Step, ()>, node: NodeIndex) -> CycleError {
    let scc = kosaraju_scc(graph)
        .into_iter()
        .find(|c| c.contains(&node))
        .unwrap_or_else(|| vec![node]);
    let first = *scc.iter().min().expect("a cycle has a node");
    let edge = graph
        .edges_directed(first, petgraph::Direction::Incoming)
        .find(|e| scc.contains(&e.source()))
        .expect("a node on a cycle has an incoming edge from the cycle");
    CycleError {
        from: graph[edge.source()].id.clone(),
        to: graph[edge.target()].id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str) -> Step {
        Step {
            kind: StepKind::Render,
            base: None,
            cell: None,
            target: None,
            id: id.into(),
        }
    }

    #[test]
    fn a_cycle_is_reported_with_the_edge_that_breaks_it() {
        let mut b = Builder::default();
        let a = b.add(step("a"));
        let x = b.add(step("x"));
        let y = b.add(step("y"));
        b.edge(a, x);
        b.edge(x, y);
        b.edge(y, a);
        let err = b.freeze(vec![]).unwrap_err();
        assert_eq!((err.from.as_str(), err.to.as_str()), ("y", "a"));
    }

    #[test]
    fn order_is_insertion_order_among_ready_steps() {
        let mut b = Builder::default();
        let a = b.add(step("a"));
        let c = b.add(step("c"));
        let d = b.add(step("d"));
        b.edge(c, a);
        b.edge(a, d);
        let plan = b.freeze(vec![]).unwrap();
        let ids: Vec<&str> = plan
            .order()
            .iter()
            .map(|&n| plan.step(n).id.as_str())
            .collect();
        assert_eq!(ids, ["c", "a", "d"]);
    }
}
