use super::{BackendSteps, PlannedStep, Resource, Step, StepKind, StepShape};
use crate::model::{BaseId, CellId, Recipe, TargetId};
use petgraph::algo::{kosaraju_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use std::collections::{BTreeMap, BTreeSet};

/// The DAG of steps for a selection of cells. Built once and frozen: there is
/// no way to change it after [`Plan::new`], and its order is computed once so
/// that execution, dry-run output and graph output all walk the same sequence.
#[derive(Debug)]
pub struct Plan {
    graph: DiGraph<PlannedStep, ()>,
    order: Vec<NodeIndex>,
    /// The selected cells, sorted by image name.
    cells: Vec<CellId>,
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
    pub cell: CellId,
    /// Fetch, render and the backend's steps; else upload a cached snapshot.
    pub boot: bool,
    /// Targets to upload to.
    pub targets: Vec<TargetId>,
    /// Targets to prune after the manifest is recorded (those that hold the
    /// cell's current image once the uploads are done).
    pub prune: Vec<TargetId>,
}

impl CellWork {
    /// A full build to every target.
    pub fn build_all(recipe: &Recipe, cell: CellId) -> Self {
        CellWork {
            cell,
            boot: true,
            targets: recipe.target_ids().collect(),
            prune: recipe.target_ids().collect(),
        }
    }
}

impl Plan {
    /// Plan every step for `cells`, as if
    /// every cell were built and uploaded to every target.
    pub fn new(recipe: &Recipe, backend: &BackendSteps, cells: &[CellId]) -> Plan {
        let work: Vec<CellWork> = cells
            .iter()
            .map(|&c| CellWork::build_all(recipe, c))
            .collect();
        Plan::for_work(recipe, backend, &work)
    }

    /// One fetch (then the backend's prepare step, if it has one) per
    /// distinct base of the cells that boot; per booting cell render, the
    /// backend's provision step (after render and the base), build (after
    /// the base), export and, with `[verify]`, verify; per target upload;
    /// then record (after every upload of the cell) and prune per target. A cell with nothing to
    /// boot, upload or prune has no steps.
    pub fn for_work(recipe: &Recipe, backend: &BackendSteps, work: &[CellWork]) -> Plan {
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
        let selected: Vec<CellId> = work.iter().map(|w| w.cell).collect();

        // By name, so the order does not depend on the order written.
        let bases: BTreeSet<(&str, BaseId)> = work
            .iter()
            .filter(|w| w.boot)
            .map(|w| {
                let base = recipe.base_of(w.cell);
                (recipe.base_name(base), base)
            })
            .collect();
        // The step a booting cell waits for: its base, ready for the backend.
        let mut ready_base = BTreeMap::new();
        for (name, base) in bases {
            let fetch = builder.add(PlannedStep {
                step: Step::Fetch { base },
                name: "fetch",
                id: format!("fetch:{name}"),
                holds: Some(Resource::Fetch),
            });
            let ready = match backend.prepare {
                Some(shape) => {
                    let prepare = builder.add(planned(Step::Prepare { base }, shape, name));
                    builder.edge(fetch, prepare);
                    prepare
                }
                None => fetch,
            };
            ready_base.insert(base, ready);
        }
        for w in &work {
            let ci = w.cell;
            let cell = &recipe.cells[ci];
            let name = &cell.image_name;
            // The step whose artifact targets get (export, or verify).
            let published = if w.boot {
                let base = ready_base[&recipe.base_of(ci)];
                let render = builder.add(PlannedStep {
                    step: Step::Render { cell: ci },
                    name: "render",
                    id: format!("render:{name}"),
                    holds: None,
                });
                let build = builder.add(planned(Step::Build { cell: ci }, backend.build, name));
                match backend.provision {
                    Some(shape) => {
                        let provision =
                            builder.add(planned(Step::Provision { cell: ci }, shape, name));
                        builder.edge(base, provision);
                        builder.edge(render, provision);
                        builder.edge(provision, build);
                    }
                    None => builder.edge(render, build),
                }
                builder.edge(base, build);
                let export = builder.add(planned(Step::Export { cell: ci }, backend.export, name));
                builder.edge(build, export);
                // Targets get what passed verify, never what only built.
                if recipe.verify.is_some() {
                    let verify =
                        builder.add(planned(Step::Verify { cell: ci }, backend.verify, name));
                    builder.edge(export, verify);
                    Some(verify)
                } else {
                    Some(export)
                }
            } else {
                None
            };
            let target_name = |ti: TargetId| recipe.targets[ti].name.as_str();
            let uploads: Vec<NodeIndex> = w
                .targets
                .iter()
                .map(|&ti| {
                    let upload = builder.add(PlannedStep {
                        step: Step::Upload {
                            cell: ci,
                            target: ti,
                        },
                        name: "upload",
                        id: format!("upload:{name}@{}", target_name(ti)),
                        holds: Some(Resource::Upload(ti)),
                    });
                    if let Some(published) = published {
                        builder.edge(published, upload);
                    }
                    upload
                })
                .collect();
            let record = builder.add(PlannedStep {
                step: Step::Record { cell: ci },
                name: "record",
                id: format!("record:{name}"),
                holds: None,
            });
            for &upload in &uploads {
                builder.edge(upload, record);
            }
            if let Some(published) = published
                && uploads.is_empty()
            {
                builder.edge(published, record);
            }
            for &ti in &w.prune {
                let prune = builder.add(PlannedStep {
                    step: Step::Prune {
                        cell: ci,
                        target: ti,
                    },
                    name: "prune",
                    id: format!("prune:{name}@{}", target_name(ti)),
                    holds: None,
                });
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

    pub fn step(&self, node: NodeIndex) -> &PlannedStep {
        &self.graph[node]
    }

    /// Indexes of the selected cells in `recipe.cells`, sorted by image name.
    pub fn cells(&self) -> &[CellId] {
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
    pub fn walk(&self) -> impl Iterator<Item = (NodeIndex, &PlannedStep, Vec<&PlannedStep>)> {
        self.order.iter().map(|&n| {
            let needs = self.needs(n).into_iter().map(|d| &self.graph[d]).collect();
            (n, &self.graph[n], needs)
        })
    }

    /// Count of steps of a kind.
    pub fn count(&self, kind: StepKind) -> usize {
        self.graph
            .node_weights()
            .filter(|s| s.step.kind() == kind)
            .count()
    }
}

/// A backend step as planned for the cell or base called `subject`.
fn planned(step: Step, shape: StepShape, subject: &str) -> PlannedStep {
    PlannedStep {
        step,
        name: shape.name,
        id: format!("{}:{subject}", shape.name),
        holds: shape.holds,
    }
}

/// Mutable while the plan is being put together; `freeze` checks it and
/// turns it into a [`Plan`].
#[derive(Default)]
struct Builder {
    graph: DiGraph<PlannedStep, ()>,
}

impl Builder {
    fn add(&mut self, step: PlannedStep) -> NodeIndex {
        self.graph.add_node(step)
    }

    // `add_edge`, not `update_edge`: the latter scans the source's edges for a
    // duplicate, which makes a base shared by n cells cost O(n²).
    fn edge(&mut self, from: NodeIndex, to: NodeIndex) {
        self.graph.add_edge(from, to, ());
    }

    fn freeze(self, cells: Vec<CellId>) -> Result<Plan, CycleError> {
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
fn deterministic_order(graph: &DiGraph<PlannedStep, ()>) -> Result<Vec<NodeIndex>, CycleError> {
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
fn breaking_edge(graph: &DiGraph<PlannedStep, ()>, node: NodeIndex) -> CycleError {
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

    fn step(id: &str) -> PlannedStep {
        PlannedStep {
            step: Step::Render { cell: CellId(0) },
            name: "render",
            id: id.into(),
            holds: None,
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
