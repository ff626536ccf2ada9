//! Everything `pipeline plan` prints. The text, JSON and Graphviz forms all
//! come from [`Plan::walk`], so they can never disagree with each other or
//! with the order the executor uses.

use super::{Plan, PlannedStep, StepKind};
use crate::model::Recipe;
use crate::model::{Arch, Cell, TargetKind};
use serde::Serialize;
use std::fmt::Write;

/// What `plan --status` adds to a cell: what a run would do with it
/// (`build`, `upload`, `skip`), why, and its input key.
#[derive(Debug, Clone, Copy)]
pub struct CellStatus<'a> {
    pub cell: usize,
    pub action: &'static str,
    pub reason: &'a str,
    pub input_key: &'a str,
}

fn step_cell<'r>(recipe: &'r Recipe, step: &PlannedStep) -> Option<&'r str> {
    step.step
        .cell()
        .map(|c| recipe.cells[c].image_name.as_str())
}

fn step_base<'r>(recipe: &'r Recipe, step: &PlannedStep) -> Option<&'r str> {
    step.step
        .base()
        .and_then(|b| recipe.bases.get_index(b))
        .map(|(name, _)| name.as_str())
}

/// Human-readable plan: the cells as a table, then the steps in order with
/// what each waits for.
pub fn text(recipe: &Recipe, plan: &Plan, decisions: Option<&[CellStatus]>) -> String {
    let mut out = String::new();
    let axes: Vec<&str> = recipe.matrix.axis_names().collect();
    let bases = plan.count(StepKind::Fetch);
    let _ = writeln!(
        out,
        "plan for {}: {} cell{}, {} base{}, {} target{}, {} steps",
        recipe.file.path,
        plan.cells().len(),
        plural(plan.cells().len()),
        bases,
        plural(bases),
        recipe.targets.len(),
        plural(recipe.targets.len()),
        plan.len()
    );

    let mut header = vec!["IMAGE NAME".to_owned(), "ARCH".to_owned()];
    header.extend(axes.iter().map(|a| a.to_uppercase()));
    if decisions.is_some() {
        header.push("ACTION".to_owned());
    }
    let mut rows = vec![header];
    // With decisions, every selected cell is listed (skipped ones have no steps).
    let listed = listed_cells(recipe, plan, decisions);
    for &ci in &listed {
        let cell = &recipe.cells[ci];
        let mut row = vec![cell.image_name.clone(), recipe.image.arch.to_string()];
        row.extend(cell.values().map(|(_, v)| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.to_owned()
            }
        }));
        if let Some(d) = decisions.and_then(|d| d.iter().find(|d| d.cell == ci)) {
            row.push(d.action.to_owned());
        }
        rows.push(row);
    }
    out.push_str("\ncells:\n");
    out.push_str(&table(&rows, "  "));
    if let Some(decisions) = decisions {
        out.push_str("\nwhy:\n");
        for &ci in &listed {
            if let Some(d) = decisions.iter().find(|d| d.cell == ci) {
                let _ = writeln!(
                    out,
                    "  {} {}: {}",
                    d.action, recipe.cells[ci].image_name, d.reason
                );
            }
        }
    }

    out.push_str("\ntargets:\n");
    for target in &recipe.targets {
        let place = match &target.kind {
            crate::model::TargetKind::Directory { path } => format!("directory {path}"),
            crate::model::TargetKind::Openstack { cloud, visibility } => {
                format!("openstack cloud {cloud} ({})", visibility.as_str())
            }
        };
        let _ = writeln!(out, "  {}: {place}, keep {}", target.name, target.keep);
    }

    out.push_str("\nsteps:\n");
    let width = plan.walk().map(|(_, s, _)| s.id.len()).max().unwrap_or(0);
    for (_, step, needs) in plan.walk() {
        if needs.is_empty() {
            let _ = writeln!(out, "  {}", step.id);
        } else {
            let needs: Vec<&str> = needs.iter().map(|s| s.id.as_str()).collect();
            let _ = writeln!(out, "  {:width$}  after {}", step.id, needs.join(", "));
        }
    }
    out
}

/// Machine-readable plan. Borrowed and serialized straight to the writer:
/// a 100,000-cell plan must not need a JSON tree in memory.
#[derive(Serialize)]
pub struct JsonPlan<'a> {
    recipe: &'a str,
    cells: Vec<JsonCell<'a>>,
    targets: Vec<JsonTarget<'a>>,
    steps: Vec<JsonStep<'a>>,
}

#[derive(Serialize)]
struct JsonCell<'a> {
    image_name: &'a str,
    arch: Arch,
    base: &'a str,
    values: &'a Cell,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_key: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonTarget<'a> {
    name: &'a str,
    #[serde(flatten)]
    kind: &'a TargetKind,
    keep: u32,
}

#[derive(Serialize)]
struct JsonStep<'a> {
    id: &'a str,
    /// What the step is called (`seed`, `boot`: the backend's names).
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    base: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cell: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    needs: Vec<&'a str>,
}

pub fn json<'a>(
    recipe: &'a Recipe,
    plan: &'a Plan,
    decisions: Option<&'a [CellStatus<'a>]>,
) -> JsonPlan<'a> {
    let listed = listed_cells(recipe, plan, decisions);
    JsonPlan {
        recipe: recipe.file.path.as_str(),
        cells: listed
            .iter()
            .map(|&ci| {
                let cell = &recipe.cells[ci];
                let d = decisions.and_then(|d| d.iter().find(|d| d.cell == ci));
                JsonCell {
                    image_name: &cell.image_name,
                    arch: recipe.image.arch,
                    base: cell.base(),
                    values: cell,
                    action: d.map(|d| d.action),
                    reason: d.map(|d| d.reason),
                    input_key: d.map(|d| d.input_key),
                }
            })
            .collect(),
        targets: recipe
            .targets
            .iter()
            .map(|t| JsonTarget {
                name: &t.name,
                kind: &t.kind,
                keep: t.keep,
            })
            .collect(),
        steps: plan
            .walk()
            .map(|(_, step, needs)| JsonStep {
                id: &step.id,
                kind: step.name,
                base: step_base(recipe, step),
                cell: step_cell(recipe, step),
                target: step.step.target().map(|t| recipe.targets[t].name.as_str()),
                needs: needs.iter().map(|s| s.id.as_str()).collect(),
            })
            .collect(),
    }
}

/// Graphviz `dot` source: one node per step, one edge per dependency.
pub fn dot(recipe: &Recipe, plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph plan {{");
    let _ = writeln!(out, "  label={};", quote(recipe.file.path.as_str()));
    let _ = writeln!(out, "  rankdir=LR;");
    let _ = writeln!(out, "  node [shape=box, fontname=\"monospace\"];");
    for (_, step, needs) in plan.walk() {
        let subject = step_base(recipe, step)
            .or(step_cell(recipe, step))
            .unwrap_or_default();
        let label = match step.step.target() {
            Some(t) => format!("{}\n{subject}\n→ {}", step.name, recipe.targets[t].name),
            None => format!("{}\n{subject}", step.name),
        };
        let _ = writeln!(out, "  {} [label={}];", quote(&step.id), quote(&label));
        for need in needs {
            let _ = writeln!(out, "  {} -> {};", quote(&need.id), quote(&step.id));
        }
    }
    out.push_str("}\n");
    out
}

fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// The cells to show: the planned ones, or with decisions every selected
/// cell (up-to-date ones have no steps), sorted by image name.
fn listed_cells(recipe: &Recipe, plan: &Plan, decisions: Option<&[CellStatus]>) -> Vec<usize> {
    match decisions {
        Some(d) => {
            let mut cells: Vec<usize> = d.iter().map(|d| d.cell).collect();
            cells.sort_by(|a, b| {
                recipe.cells[*a]
                    .image_name
                    .cmp(&recipe.cells[*b].image_name)
            });
            cells
        }
        None => plan.cells().to_vec(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Left-aligned columns separated by two spaces; the last column unpadded.
pub fn table(rows: &[Vec<String>], indent: &str) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        out.push_str(indent);
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                out.push_str(cell);
            } else {
                let pad = widths[c] - cell.chars().count();
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
    }
    out
}
