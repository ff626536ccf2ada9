//! Everything `pipeline plan` prints. The text, JSON and Graphviz forms all
//! come from [`Plan::walk`], so they can never disagree with each other or
//! with the order the executor uses.

use super::{Plan, PlannedStep};
use crate::model::{Arch, Cell, TargetKind};
use crate::model::{CellId, Recipe};
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::{self, Write};

/// What `plan --status` adds to a cell: what a run would do with it
/// (`build`, `upload`, `skip`), why, and its input key.
#[derive(Debug, Clone, Copy)]
pub struct CellStatus<'a> {
    pub cell: CellId,
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
    step.step.base().map(|b| recipe.base_name(b))
}

/// Human-readable plan: the cells as a table, then the steps in order with
/// what each waits for. Written as it goes: a plan of 100,000 cells starts
/// printing at once, and no copy of the whole text is held.
pub fn text(
    out: &mut dyn Write,
    recipe: &Recipe,
    plan: &Plan,
    decisions: Option<&[CellStatus]>,
) -> io::Result<()> {
    let axes: Vec<&str> = recipe.matrix.axis_names().collect();
    // With decisions, every selected cell is listed (skipped ones have no
    // steps); the header counts what is listed, and what a run would do.
    let listed = listed_cells(recipe, plan, decisions);
    let bases: BTreeSet<&str> = listed.iter().map(|&c| recipe.cells[c].base()).collect();
    let actions = decisions.map_or_else(String::new, |d| {
        let counts: Vec<String> = ["build", "upload", "skip"]
            .into_iter()
            .map(|action| (action, d.iter().filter(|d| d.action == action).count()))
            .filter(|&(_, n)| n > 0)
            .map(|(action, n)| format!("{n} {action}"))
            .collect();
        format!(" ({})", counts.join(", "))
    });
    writeln!(
        out,
        "plan for {}: {} cell{}{actions}, {} base{}, {} target{}, {} steps",
        recipe.file.path,
        listed.len(),
        plural(listed.len()),
        bases.len(),
        plural(bases.len()),
        recipe.targets.len(),
        plural(recipe.targets.len()),
        plan.len()
    )?;

    let mut header = vec!["IMAGE NAME".to_owned(), "ARCH".to_owned()];
    header.extend(axes.iter().map(|a| a.to_uppercase()));
    if decisions.is_some() {
        header.push("ACTION".to_owned());
    }
    let by_cell = by_cell(recipe, decisions);
    let row = |ci: CellId| {
        let cell = &recipe.cells[ci];
        let mut row = vec![cell.image_name.clone(), recipe.image.arch.to_string()];
        row.extend(cell.values().map(|(_, v)| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.to_owned()
            }
        }));
        if let Some(d) = by_cell[ci.index()] {
            row.push(d.action.to_owned());
        }
        row
    };
    // Two passes over the cells, one for the widths and one to print, so
    // that no table of every row is built.
    let mut widths = Widths::default();
    widths.fit(&header);
    for &ci in &listed {
        widths.fit(&row(ci));
    }
    out.write_all(b"\ncells:\n")?;
    widths.write(out, &header, "  ")?;
    for &ci in &listed {
        widths.write(out, &row(ci), "  ")?;
    }
    if decisions.is_some() {
        out.write_all(b"\nwhy:\n")?;
        for &ci in &listed {
            if let Some(d) = by_cell[ci.index()] {
                writeln!(
                    out,
                    "  {} {}: {}",
                    d.action, recipe.cells[ci].image_name, d.reason
                )?;
            }
        }
    }

    out.write_all(b"\ntargets:\n")?;
    for target in &recipe.targets {
        let place = match &target.kind {
            crate::model::TargetKind::Directory { path } => format!("directory {path}"),
            crate::model::TargetKind::Openstack { cloud, visibility } => {
                format!("openstack cloud {cloud} ({})", visibility.as_str())
            }
        };
        writeln!(out, "  {}: {place}, keep {}", target.name, target.keep)?;
    }

    out.write_all(b"\nsteps:\n")?;
    let width = plan.walk().map(|(_, s, _)| s.id.len()).max().unwrap_or(0);
    for (_, step, needs) in plan.walk() {
        if needs.is_empty() {
            writeln!(out, "  {}", step.id)?;
        } else {
            let needs: Vec<&str> = needs.iter().map(|s| s.id.as_str()).collect();
            writeln!(out, "  {:width$}  after {}", step.id, needs.join(", "))?;
        }
    }
    Ok(())
}

/// Each cell's decision, by cell index: looked up once per row, so not by
/// a search of every decision.
fn by_cell<'d>(
    recipe: &Recipe,
    decisions: Option<&'d [CellStatus<'d>]>,
) -> Vec<Option<&'d CellStatus<'d>>> {
    let mut by_cell = vec![None; recipe.cells.len()];
    for d in decisions.into_iter().flatten() {
        by_cell[d.cell.index()] = Some(d);
    }
    by_cell
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
    let by_cell = by_cell(recipe, decisions);
    JsonPlan {
        recipe: recipe.file.path.as_str(),
        cells: listed
            .iter()
            .map(|&ci| {
                let cell = &recipe.cells[ci];
                let d = by_cell[ci.index()];
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

/// Graphviz `dot` source: one node per step, one edge per dependency,
/// written as it goes.
pub fn dot(out: &mut dyn Write, recipe: &Recipe, plan: &Plan) -> io::Result<()> {
    writeln!(out, "digraph plan {{")?;
    writeln!(out, "  label={};", quote(recipe.file.path.as_str()))?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(out, "  node [shape=box, fontname=\"monospace\"];")?;
    for (_, step, needs) in plan.walk() {
        let subject = step_base(recipe, step)
            .or(step_cell(recipe, step))
            .unwrap_or_default();
        let label = match step.step.target() {
            Some(t) => format!("{}\n{subject}\n→ {}", step.name, recipe.targets[t].name),
            None => format!("{}\n{subject}", step.name),
        };
        writeln!(out, "  {} [label={}];", quote(&step.id), quote(&label))?;
        for need in needs {
            writeln!(out, "  {} -> {};", quote(&need.id), quote(&step.id))?;
        }
    }
    out.write_all(b"}\n")
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
fn listed_cells(recipe: &Recipe, plan: &Plan, decisions: Option<&[CellStatus]>) -> Vec<CellId> {
    match decisions {
        Some(d) => {
            let mut cells: Vec<CellId> = d.iter().map(|d| d.cell).collect();
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
    let mut widths = Widths::default();
    for row in rows {
        widths.fit(row);
    }
    let mut out = Vec::new();
    for row in rows {
        // Writing into a Vec cannot fail.
        let _ = widths.write(&mut out, row, indent);
    }
    String::from_utf8(out).expect("rows are strings")
}

/// The width of each column of a table, in characters.
#[derive(Default)]
struct Widths(Vec<usize>);

impl Widths {
    fn fit(&mut self, row: &[String]) {
        for (c, cell) in row.iter().enumerate() {
            let n = cell.chars().count();
            match self.0.get_mut(c) {
                Some(w) => *w = (*w).max(n),
                None => self.0.push(n),
            }
        }
    }

    fn write(&self, out: &mut dyn Write, row: &[String], indent: &str) -> io::Result<()> {
        out.write_all(indent.as_bytes())?;
        for (c, cell) in row.iter().enumerate() {
            out.write_all(cell.as_bytes())?;
            if c + 1 < row.len() {
                let pad = self.0[c] - cell.chars().count();
                write!(out, "{:pad$}", "", pad = pad + 2)?;
            }
        }
        out.write_all(b"\n")
    }
}
