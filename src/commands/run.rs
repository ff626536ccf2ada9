use super::run_summary::RunSummary;
use super::status::{snapshot_cache, status, warnings, work_for};
use super::{load, open_stores};
use crate::backends::{self, Backend, WithBackend};
use crate::cli::RunArgs;
use crate::cli::{Error, Result};
use crate::executor::{self, Message, Reporter, RunContext};
use crate::files::TempPath;
use crate::files::digest::sha256_bytes;
use crate::freshness::Decision;
use crate::host::capacity;
use crate::model::{CellId, Recipe, Secrets};
use crate::plan::{Plan, Step, StepKind};
use crate::state::run_lock;
use crate::state::work_lease::{self, WorkLease};
use crate::state::{Layout, ensure_dir};
use crate::step::CancelToken;
use crate::targets::Store;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::mpsc;

pub fn run(args: &RunArgs) -> Result<()> {
    if let Some(path) = &args.env_file {
        for (name, value) in
            crate::loader::env_file(path).map_err(|e| Error::Usage(e.to_string()))?
        {
            // SAFETY: no other thread runs yet.
            unsafe { std::env::set_var(name, value) };
        }
        crate::loader::register_secrets();
    }
    let (recipe, cells) = load(&args.selection)?;
    let layout = Layout::from_env();
    // Before anything reads a store by the owner mark the name makes.
    crate::state::name_claim::claim(&layout, &recipe, true)?;
    let secrets = crate::loader::secrets().map_err(|e| Error::Usage(e.to_string()))?;
    // Every template renders before anything starts.
    let problems = recipe.check_templates(&secrets.names());
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    backends::check_secrets(&recipe, &secrets).map_err(|e| Error::Usage(e.to_string()))?;
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
    backends::open(&recipe, &options, run).map_err(|e| Error::Usage(e.to_string()))?
}

/// A run, waiting for its backend.
struct Run<'a> {
    args: &'a RunArgs,
    recipe: &'a Recipe,
    cells: Vec<CellId>,
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
    let _lock = run_lock::take(layout, recipe, args.wait)?;

    let cancel = CancelToken::new();
    let (base_digests, decisions) = status(
        recipe, &cells, &stores, &secrets, layout, &owner, args.force, &cancel,
    )?;
    let plan = Plan::for_work(recipe, backend.steps(), &work_for(recipe, &decisions));
    check_room(recipe, backend, &stores, layout, &plan, &base_digests)?;

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
    announce(&mut reporter, recipe, &decisions);

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
    let report = drive(&ctx, &plan, args.keep_going, &mut reporter, &mut signals);
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

    let summary = RunSummary::new(recipe, &decisions, &report, interrupted);
    summary.print(args.json);
    summary.conclude(&run_dir, &ctx.cancel)
}

/// Room on local disks for what the plan makes (the builds' overlays and
/// snapshots in the cache, new revisions in each directory store), checked
/// before anything boots: a run must not fill a disk halfway through. Sizes
/// are estimated from the largest base already in the cache (a first run,
/// before its fetch, has none to go by: then only the margin is checked).
fn check_room<B: Backend>(
    recipe: &Recipe,
    backend: &B,
    stores: &[Box<dyn Store>],
    layout: &Layout,
    plan: &Plan,
    base_digests: &BTreeMap<String, String>,
) -> Result<()> {
    let largest = base_digests
        .values()
        .filter_map(|sha| std::fs::metadata(layout.bases().join(format!("{sha}.img"))).ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0);
    let mut short = Vec::new();
    if let Some((dir, need)) = backend.scratch_need(plan.count(StepKind::Build), largest)
        && let Some(free) = capacity::free_disk(&dir)
        && free < need
    {
        short.push(format!(
            "the cache: {} free in {dir}, the builds need about {} (overlays and snapshots); free some, or set PIPELINE_CACHE_DIR elsewhere",
            capacity::gib(free),
            capacity::gib(need)
        ));
    }
    for (t, store) in recipe.target_ids().zip(stores) {
        let uploads = plan
            .order()
            .iter()
            .filter(|n| matches!(plan.step(**n).step, Step::Upload { target, .. } if target == t))
            .count();
        if uploads > 0
            && let Some(problem) = store.room_for(uploads, largest)
        {
            short.push(problem);
        }
    }
    if short.is_empty() {
        return Ok(());
    }
    Err(Error::Failed(format!(
        "not enough disk space for this run, nothing was started:\n  {}",
        short.join("\n  ")
    )))
}

/// What the run will do with each cell, and why; what the stores warned of.
fn announce(reporter: &mut Reporter, recipe: &Recipe, decisions: &[Decision]) {
    for line in warnings(decisions) {
        reporter.line(&line);
    }
    for d in decisions {
        let name = &recipe.cells[d.cell].image_name;
        reporter.line(&format!("{} {name}: {}", d.action.as_str(), d.reason));
    }
}

/// Run the plan's steps to their end, with SIGINT and SIGTERM turned into
/// an interrupt of the scheduler.
fn drive<B: Backend>(
    ctx: &RunContext<B>,
    plan: &Plan,
    keep_going: bool,
    reporter: &mut Reporter,
    signals: &mut signal_hook::iterator::Signals,
) -> executor::RunReport {
    if plan.is_empty() {
        return executor::RunReport {
            cells: Vec::new(),
            interrupted: false,
            stopped_early: false,
        };
    }
    let (tx, rx) = mpsc::channel();
    let options = executor::Options {
        fetches: 2,
        keep_going,
    };
    let handle = signals.handle();
    std::thread::scope(|scope| {
        // The token keeps which signal came, to end by it.
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
        let report = executor::run_with(ctx, plan, &options, reporter, rx, tx, &executor::perform);
        handle.close();
        report
    })
}

/// SIGINT and SIGTERM, caught from now on.
fn interrupts() -> Result<signal_hook::iterator::Signals> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| Error::Failed(format!("failed to install signal handlers: {e}")))
}
