use super::result_table;
use crate::cli::{Error, Result};
use crate::executor::{CellOutcome, RunReport, TargetImage};
use crate::freshness::{Action, Decision};
use crate::model::{CellId, Recipe};
use crate::step::CancelToken;
use camino::Utf8Path;
use serde_json::json;

/// How a run ended, for every selected cell: the ones that ran, and the
/// ones that had nothing to do, with the images each target holds.
pub struct RunSummary<'a> {
    recipe: &'a Recipe,
    /// By image name.
    outcomes: Vec<(CellId, CellOutcome)>,
    /// Cells that booted nothing: uploaded a cached snapshot...
    uploaded_only: usize,
    /// ...or only recorded the manifest of what an earlier run uploaded.
    recorded_only: usize,
    interrupted: bool,
}

impl<'a> RunSummary<'a> {
    pub fn new(
        recipe: &'a Recipe,
        decisions: &[Decision],
        report: &RunReport,
        interrupted: bool,
    ) -> Self {
        let held = |d: &Decision| -> Vec<TargetImage> {
            d.present
                .iter()
                .map(|(t, rev)| TargetImage {
                    target: recipe.targets[*t].name.clone(),
                    id: rev.id.clone(),
                    revision: Some(rev.clone()),
                })
                .collect()
        };
        let mut outcomes: Vec<(CellId, CellOutcome)> = decisions
            .iter()
            .map(|d| {
                let Some((_, outcome)) = report.cells.iter().find(|(c, _)| *c == d.cell) else {
                    return (d.cell, CellOutcome::UpToDate { images: held(d) });
                };
                let mut outcome = outcome.clone();
                if let CellOutcome::Built { images } = &mut outcome {
                    for image in held(d) {
                        if !images.iter().any(|i| i.target == image.target) {
                            images.push(image);
                        }
                    }
                    images.sort_by_key(|i| recipe.targets.iter().position(|t| t.name == i.target));
                }
                (d.cell, outcome)
            })
            .collect();
        outcomes.sort_by(|a, b| {
            recipe.cells[a.0]
                .image_name
                .cmp(&recipe.cells[b.0].image_name)
        });
        let built_by = |upload: fn(&Action) -> bool| {
            outcomes
                .iter()
                .filter(|(c, o)| {
                    matches!(o, CellOutcome::Built { .. })
                        && decisions.iter().any(|d| d.cell == *c && upload(&d.action))
                })
                .count()
        };
        let uploaded_only =
            built_by(|a| matches!(a, Action::Upload { targets } if !targets.is_empty()));
        let recorded_only =
            built_by(|a| matches!(a, Action::Upload { targets } if targets.is_empty()));
        Self {
            recipe,
            outcomes,
            uploaded_only,
            recorded_only,
            interrupted,
        }
    }

    /// The cells and their images: a JSON list, or a table.
    pub fn print(&self, json: bool) {
        if json {
            crate::outln!(
                "{}",
                serde_json::to_string_pretty(&self.json()).expect("JSON serializes")
            );
            return;
        }
        let rows: Vec<(CellId, String, String)> = self
            .outcomes
            .iter()
            .flat_map(|(c, o)| match o {
                CellOutcome::Built { images } | CellOutcome::UpToDate { images } => images
                    .iter()
                    .map(|i| (*c, i.target.clone(), i.id.clone()))
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect();
        if !rows.is_empty() {
            crate::out!("{}", result_table(self.recipe, &rows));
        }
    }

    fn json(&self) -> Vec<serde_json::Value> {
        self.outcomes
            .iter()
            .map(|(c, outcome)| {
                let cell = &self.recipe.cells[*c];
                let mut v = json!({
                    "image_name": cell.image_name,
                    "base": cell.base(),
                    "arch": self.recipe.image.arch,
                    "values": cell,
                });
                let o = serde_json::to_value(outcome).expect("outcome serializes");
                if let serde_json::Value::Object(map) = o {
                    for (k, val) in map {
                        v[k] = val;
                    }
                }
                if v.get("images").is_none() {
                    v["images"] = json!([]);
                }
                v
            })
            .collect()
    }

    /// The last lines of the run, and its result: an interrupt, every cell
    /// built or up to date, or the cells that were not, and why.
    pub fn conclude(&self, run_dir: &Utf8Path, cancel: &CancelToken) -> Result<()> {
        let count =
            |f: fn(&CellOutcome) -> bool| self.outcomes.iter().filter(|(_, o)| f(o)).count();
        let built = count(|o| matches!(o, CellOutcome::Built { .. }));
        let fresh = count(|o| matches!(o, CellOutcome::UpToDate { .. }));
        let total = self.outcomes.len();
        crate::errln!("logs: {run_dir}");
        if self.interrupted {
            crate::errln!(
                "interrupted: {built} of {total} cells built, {fresh} up to date; every VM was stopped and partial files removed"
            );
            return Err(Error::interrupted(cancel));
        }
        if built + fresh < total {
            return Err(Error::Failed(format!(
                "{} of {total} cells were not built ({built} built, {fresh} up to date):\n{}",
                total - built - fresh,
                self.problems().trim_end()
            )));
        }
        if built == 0 {
            crate::errln!(
                "nothing to do: {fresh} cell{} up to date",
                if fresh == 1 { "" } else { "s" }
            );
        } else {
            let booted = built - self.uploaded_only - self.recorded_only;
            let recorded = match self.recorded_only {
                0 => String::new(),
                n => format!("{n} recorded (uploaded by an earlier run), "),
            };
            crate::errln!(
                "{booted} built, {} uploaded from a cached snapshot, {recorded}{fresh} up to date",
                self.uploaded_only
            );
        }
        Ok(())
    }

    fn problems(&self) -> String {
        let mut problems = String::new();
        for (c, outcome) in &self.outcomes {
            let name = &self.recipe.cells[*c].image_name;
            match outcome {
                CellOutcome::Built { .. } | CellOutcome::UpToDate { .. } => {}
                CellOutcome::Failed { step, error } => {
                    problems.push_str(&format!("  {name}: failed at {step}: {}\n", indent(error)))
                }
                CellOutcome::Skipped { reason } => {
                    problems.push_str(&format!("  {name}: skipped: {reason}\n"))
                }
            }
        }
        problems
    }
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n      ")
}
