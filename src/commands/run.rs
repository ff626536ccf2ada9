use super::{load, open_stores, result_table};
use crate::cancel::CancelToken;
use crate::cli::RunArgs;
use crate::digest::sha256_bytes;
use crate::error::{Error, Result};
use crate::executor::{self, CellOutcome, Message, Reporter, RunContext};
use crate::host::{accel, capacity};
use crate::layout::{Layout, ensure_dir};
use crate::model::Secrets;
use crate::plan::{Plan, StepKind};
use serde_json::json;
use std::io::IsTerminal;
use std::sync::mpsc;

pub fn run(args: &RunArgs) -> Result<()> {
    let (recipe, cells) = load(&args.selection)?;
    let secrets = Secrets::from_env().map_err(Error::Usage)?;
    // Every template renders before anything starts.
    let problems = recipe.check_templates(&secrets.names());
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let stores = open_stores(&recipe)?;
    let plan = Plan::new(&recipe, &cells);

    let layout = Layout::from_env();
    let run_id = format!(
        "{}-{}",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let run_dir = layout.run_dir(&recipe.name, &run_id);
    let work_dir = layout.work(&run_id);
    for dir in [&run_dir, &work_dir] {
        ensure_dir(dir).map_err(|e| Error::Failed(e.to_string()))?;
    }
    // Overlays, seeds and snapshots of this run go when it ends, however it
    // ends; logs stay in the run directory.
    let _work_guard = RemoveOnDrop(work_dir.clone());
    let live = std::io::stderr().is_terminal() && std::env::var_os("PIPELINE_PLAIN").is_none();
    let mut reporter = Reporter::new(live, &run_dir.join("run.log"));
    reporter.line(&format!("run directory: {run_dir}"));

    let boots = plan.count(StepKind::Boot);
    let accel = if boots > 0 {
        accel::choose(recipe.image.arch)
    } else {
        accel::AccelChoice {
            accel: accel::Accel::Tcg,
            warning: None,
        }
    };
    if let Some(warning) = &accel.warning {
        reporter.line(&format!("warning: {warning}"));
    }
    let jobs = args.jobs.map(usize::from).unwrap_or_else(|| {
        capacity::default_jobs(
            capacity::cores(),
            capacity::available_memory(),
            recipe.build.memory,
        )
    });
    let shown_jobs = jobs.min(plan.cells().len().max(1));
    reporter.line(&format!(
        "building {} cell{} with up to {shown_jobs} VM{} at a time ({}, {} vCPU, {} MiB each)",
        plan.cells().len(),
        if plan.cells().len() == 1 { "" } else { "s" },
        if shown_jobs == 1 { "" } else { "s" },
        accel.accel.as_str(),
        recipe.build.cpus,
        recipe.build.memory >> 20
    ));

    let ctx = RunContext {
        recipe: &recipe,
        secrets: &secrets,
        layout: &layout,
        run_dir: run_dir.clone(),
        work_dir: work_dir.clone(),
        stores,
        cancel: CancelToken::new(),
        recipe_hash: sha256_bytes(recipe.file.text.as_bytes()),
        owner: executor::owner_of(&recipe),
        accel,
    };
    let (tx, rx) = mpsc::channel();
    let signals = watch_signals(tx.clone())?;
    let options = executor::Options {
        jobs,
        fetches: 2,
        keep_going: args.keep_going,
    };
    let report = executor::run(&ctx, &plan, &options, &mut reporter, rx, tx);
    signals.close();
    reporter.clear();

    if args.json {
        let cells: Vec<serde_json::Value> = report
            .cells
            .iter()
            .map(|(c, outcome)| {
                let cell = &recipe.cells[*c];
                let mut v = json!({
                    "image_name": cell.image_name,
                    "base": cell.base(),
                    "arch": recipe.image.arch,
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
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&cells).expect("JSON serializes")
        );
    } else {
        let rows: Vec<(usize, String, String)> = report
            .cells
            .iter()
            .filter_map(|(c, o)| match o {
                CellOutcome::Built { images } => Some(
                    images
                        .iter()
                        .map(|i| (*c, i.target.clone(), i.id.clone()))
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect();
        if !rows.is_empty() {
            print!("{}", result_table(&recipe, &rows));
        }
    }

    let built = report
        .cells
        .iter()
        .filter(|(_, o)| matches!(o, CellOutcome::Built { .. }))
        .count();
    let total = report.cells.len();
    let mut problems = String::new();
    for (c, outcome) in &report.cells {
        let name = &recipe.cells[*c].image_name;
        match outcome {
            CellOutcome::Built { .. } => {}
            CellOutcome::Failed { step, error } => {
                problems.push_str(&format!("  {name}: failed at {step}: {}\n", indent(error)))
            }
            CellOutcome::Skipped { reason } => {
                problems.push_str(&format!("  {name}: skipped: {reason}\n"))
            }
        }
    }
    eprintln!("logs: {run_dir}");
    if report.interrupted {
        eprintln!(
            "interrupted: {built} of {total} cells built; every VM was stopped and partial files removed"
        );
        return Err(Error::Interrupted);
    }
    if built == total {
        eprintln!(
            "built {built} of {total} cell{}",
            if total == 1 { "" } else { "s" }
        );
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "{} of {total} cells were not built:\n{}",
            total - built,
            problems.trim_end()
        )))
    }
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n      ")
}

/// SIGINT and SIGTERM become `Message::Interrupt` for the scheduler.
fn watch_signals(tx: mpsc::Sender<Message>) -> Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::Failed(format!("failed to install signal handlers: {e}")))?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if tx.send(Message::Interrupt).is_err() {
                break;
            }
        }
    });
    Ok(handle)
}

struct RemoveOnDrop(camino::Utf8PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
