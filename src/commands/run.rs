use super::status::{snapshot_cache, status, warnings, work_for};
use super::{load, open_stores, result_table};
use crate::backends::{self, Backend, WithBackend};
use crate::cli::RunArgs;
use crate::cli::{Error, Result};
use crate::executor::{self, CellOutcome, Message, Reporter, RunContext};
use crate::files::TempPath;
use crate::files::digest::sha256_bytes;
use crate::freshness::Action;
use crate::model::{Recipe, Secrets};
use crate::plan::{Plan, StepKind};
use crate::state::run_lock::{self, LockError};
use crate::state::work_lease::{self, WorkLease};
use crate::state::{Layout, ensure_dir};
use crate::step::CancelToken;
use serde_json::json;
use std::io::IsTerminal;
use std::sync::mpsc;

pub fn run(args: &RunArgs) -> Result<()> {
    if let Some(path) = &args.env_file {
        for (name, value) in crate::loader::env_file(path).map_err(Error::Usage)? {
            // SAFETY: no other thread runs yet.
            unsafe { std::env::set_var(name, value) };
        }
        crate::loader::register_secrets();
    }
    let (recipe, cells) = load(&args.selection)?;
    let layout = Layout::from_env();
    // Before anything reads a store by the owner mark the name makes.
    crate::state::name_claim::claim(&layout, &recipe, true)?;
    let secrets = crate::loader::secrets().map_err(Error::Usage)?;
    // Every template renders before anything starts.
    let problems = recipe.check_templates(&secrets.names());
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    backends::check_secrets(&recipe, &secrets).map_err(Error::Usage)?;
    let owner = executor::owner_of(&recipe);
    let run_id = format!(
        "{}-{}",
        jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S%.3fZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    );
    let options = backends::Options {
        jobs: args.jobs.map(usize::from),
        layout: &layout,
        owner: &owner,
        run_id: &run_id,
    };
    let run = Run {
        args,
        recipe: &recipe,
        cells,
        secrets,
        layout: &layout,
        owner: owner.clone(),
        run_id: run_id.clone(),
    };
    backends::open(&recipe, &options, run).map_err(Error::Usage)?
}

/// A run, waiting for its backend.
struct Run<'a> {
    args: &'a RunArgs,
    recipe: &'a Recipe,
    cells: Vec<usize>,
    secrets: Secrets,
    layout: &'a Layout,
    owner: String,
    run_id: String,
}

impl WithBackend for Run<'_> {
    type Output = Result<()>;

    fn with<B: Backend>(self, backend: &B) -> Result<()> {
        execute(self, backend)
    }
}

fn execute<B: Backend>(run: Run, backend: &B) -> Result<()> {
    let Run {
        args,
        recipe,
        cells,
        secrets,
        layout,
        owner,
        run_id,
    } = run;
    let recipe: &Recipe = recipe;
    let stores = open_stores(recipe)?;
    let _lock = run_lock::acquire(layout, recipe, args.wait, |holder| {
        crate::errln!("waiting for another run of {} ({holder})", recipe.file.path);
    })
    .map_err(|e| match e {
        LockError::Busy { path, holder } => Error::Locked(format!(
            "another run of {} is in progress ({holder}); use --wait to wait for it (lock: {path})",
            recipe.file.path
        )),
        LockError::Io(e) => Error::Failed(e),
    })?;

    let cancel = CancelToken::new();
    let (base_digests, decisions) = status(
        recipe, &cells, &stores, &secrets, layout, &owner, args.force, &cancel,
    )?;
    let plan = Plan::for_work(recipe, backend.steps(), &work_for(recipe, &decisions));

    // Caught from here on, where the run starts making things (scratch
    // files, VMs, uploads) that must go before pipeline ends by the signal.
    // Until now there is nothing to remove, and the default action ends
    // pipeline at once, even while it waits for the lock or a checksum.
    // (Unregistered, a handler would leave the signal ignored: these stay
    // until `execute` returns.)
    let mut signals = interrupts()?;
    let run_dir = layout.run_dir(&recipe.name, &run_id);
    let work_dir = layout.work(&run_id);
    // Before the folder exists, and dropped after it is removed.
    let _lease = WorkLease::take(layout, &run_id).map_err(|e| Error::Failed(e.to_string()))?;
    for dir in [&run_dir, &work_dir] {
        ensure_dir(dir).map_err(|e| Error::Failed(e.to_string()))?;
    }
    // Overlays and seeds of this run go when it ends, however it ends; logs
    // stay in the run directory.
    let _work_guard = TempPath::new(work_dir.clone());
    let live = std::io::stderr().is_terminal() && std::env::var_os("PIPELINE_PLAIN").is_none();
    let mut reporter = Reporter::new(live, &run_dir.join("run.log"));
    reporter.line(&format!("run directory: {run_dir}"));
    for line in work_lease::clean_abandoned(layout) {
        reporter.line(&line);
    }
    for line in warnings(&decisions) {
        reporter.line(&line);
    }
    for d in &decisions {
        let name = &recipe.cells[d.cell].image_name;
        reporter.line(&format!("{} {name}: {}", d.action.as_str(), d.reason));
    }

    let builds = plan.count(StepKind::Build);
    for line in backend.start(builds, &base_digests) {
        reporter.line(&line);
    }

    let ctx = RunContext {
        recipe,
        secrets: &secrets,
        layout,
        backend,
        run_dir: run_dir.clone(),
        work_dir: work_dir.clone(),
        stores: &stores,
        cancel,
        recipe_hash: sha256_bytes(recipe.file.text.as_bytes()),
        owner,
        run_id,
        decisions: decisions.iter().map(|d| (d.cell, d.clone())).collect(),
        base_digests,
        snapshots: snapshot_cache(layout),
    };
    let report = if plan.is_empty() {
        executor::RunReport {
            cells: Vec::new(),
            interrupted: false,
            stopped_early: false,
        }
    } else {
        let (tx, rx) = mpsc::channel();
        let options = executor::Options {
            fetches: 2,
            keep_going: args.keep_going,
        };
        let handle = signals.handle();
        let signals = &mut signals;
        std::thread::scope(|scope| {
            // SIGINT and SIGTERM become `Message::Interrupt` for the
            // scheduler; the token keeps which one, to end by it.
            let interrupt = tx.clone();
            let cancel = ctx.cancel.clone();
            scope.spawn(move || {
                for signal in signals.forever() {
                    cancel.interrupt(signal);
                    if interrupt.send(Message::Interrupt).is_err() {
                        break;
                    }
                }
            });
            let report = executor::run(&ctx, &plan, &options, &mut reporter, rx, tx);
            handle.close();
            report
        })
    };
    // A signal that came when the scheduler was done (or had nothing to
    // do) interrupts the run all the same: the handlers stay until
    // `execute` returns, so that no SIGTERM is lost in between.
    let mut interrupted = || {
        for signal in signals.pending() {
            ctx.cancel.interrupt(signal);
        }
        report.interrupted || ctx.cancel.signal().is_some()
    };
    // What a store could not clean up during the run.
    for store in &stores {
        for line in store.finish(interrupted()) {
            reporter.line(&line);
        }
    }
    let interrupted = interrupted();
    reporter.clear();

    // Every selected cell in the result: the ones that ran, and the skipped
    // ones with the images they already have.
    let mut outcomes: Vec<(usize, CellOutcome)> = Vec::new();
    for d in &decisions {
        match report.cells.iter().find(|(c, _)| *c == d.cell) {
            Some((_, outcome)) => {
                let mut outcome = outcome.clone();
                if let CellOutcome::Built { images } = &mut outcome {
                    for (t, rev) in &d.present {
                        if images.iter().any(|i| i.target == recipe.targets[*t].name) {
                            continue;
                        }
                        images.push(executor::TargetImage {
                            target: recipe.targets[*t].name.clone(),
                            id: rev.id.clone(),
                            revision: Some(rev.clone()),
                        });
                    }
                    images.sort_by_key(|i| recipe.targets.iter().position(|t| t.name == i.target));
                }
                outcomes.push((d.cell, outcome));
            }
            None => outcomes.push((
                d.cell,
                CellOutcome::UpToDate {
                    images: d
                        .present
                        .iter()
                        .map(|(t, rev)| executor::TargetImage {
                            target: recipe.targets[*t].name.clone(),
                            id: rev.id.clone(),
                            revision: Some(rev.clone()),
                        })
                        .collect(),
                },
            )),
        }
    }
    outcomes.sort_by(|a, b| {
        recipe.cells[a.0]
            .image_name
            .cmp(&recipe.cells[b.0].image_name)
    });

    if args.json {
        let cells: Vec<serde_json::Value> = outcomes
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
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&cells).expect("JSON serializes")
        );
    } else {
        let rows: Vec<(usize, String, String)> = outcomes
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
            crate::out!("{}", result_table(recipe, &rows));
        }
    }

    let count = |f: fn(&CellOutcome) -> bool| outcomes.iter().filter(|(_, o)| f(o)).count();
    let built = count(|o| matches!(o, CellOutcome::Built { .. }));
    let fresh = count(|o| matches!(o, CellOutcome::UpToDate { .. }));
    let uploaded_only = outcomes
        .iter()
        .filter(|(c, o)| {
            matches!(o, CellOutcome::Built { .. })
                && decisions
                    .iter()
                    .any(|d| d.cell == *c && matches!(d.action, Action::Upload { .. }))
        })
        .count();
    let total = outcomes.len();
    let mut problems = String::new();
    for (c, outcome) in &outcomes {
        let name = &recipe.cells[*c].image_name;
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
    crate::errln!("logs: {run_dir}");
    if interrupted {
        crate::errln!(
            "interrupted: {built} of {total} cells built; every VM was stopped and partial files removed"
        );
        return Err(Error::interrupted(&ctx.cancel));
    }
    if built + fresh == total {
        if built == 0 {
            crate::errln!(
                "nothing to do: {fresh} cell{} up to date",
                if fresh == 1 { "" } else { "s" }
            );
        } else {
            crate::errln!(
                "{} built, {uploaded_only} uploaded from a cached snapshot, {fresh} up to date",
                built - uploaded_only
            );
        }
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "{} of {total} cells were not built:\n{}",
            total - built - fresh,
            problems.trim_end()
        )))
    }
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n      ")
}

/// SIGINT and SIGTERM, caught from now on.
fn interrupts() -> Result<signal_hook::iterator::Signals> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::Failed(format!("failed to install signal handlers: {e}")))
}
