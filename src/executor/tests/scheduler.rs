use super::{Event, Rules, Script};
use crate::executor::fake::{FakeBackend, FakeRecipe, FakeWorld, STEPS, decision};
use crate::executor::{
    CellOutcome, Job, Message, Options, Reporter, RunContext, RunReport, run_with,
};
use crate::freshness::Action;
use crate::model::{CellId, Recipe};
use crate::plan::{CellWork, Plan};
use camino::Utf8PathBuf;
use petgraph::graph::NodeIndex;
use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

const NOT_STARTED: &str =
    "not started: the run stopped after a failure (use --keep-going to build it anyway)";

/// What a run on the fake backend did.
struct Ran {
    report: RunReport,
    script: Script,
    /// Image names, by cell index.
    names: Vec<String>,
    discards: usize,
    releases: usize,
}

impl Ran {
    fn outcome(&self, cell: usize) -> &CellOutcome {
        let (_, outcome) = self
            .report
            .cells
            .iter()
            .find(|(c, _)| *c == CellId(cell))
            .expect("the cell was planned");
        outcome
    }

    /// The id of step `kind` of cell `cell`: `boot:<image name>`.
    fn id(&self, kind: &str, cell: usize) -> String {
        format!("{kind}:{}", self.names[cell])
    }

    fn count(&self, pred: impl Fn(&CellOutcome) -> bool) -> usize {
        self.report.cells.iter().filter(|(_, o)| pred(o)).count()
    }
}

fn build(recipe: &Recipe) -> Action {
    Action::Build {
        targets: recipe.target_ids().collect(),
    }
}

/// Run `cells` cells doing `action` through the real scheduler, with the
/// jobs performed by `script`.
fn run(cells: usize, action: fn(&Recipe) -> Action, keep_going: bool, rules: Rules) -> Ran {
    let script = Script::new(rules);
    let fake = FakeRecipe::cells(cells);
    let recipe = &fake.recipe;
    let scratch = tempfile::tempdir().unwrap();
    let root = Utf8PathBuf::from_path_buf(scratch.path().to_owned()).unwrap();
    let world = FakeWorld::new(recipe, &STEPS, &root);
    // As `run` plans them from its decisions.
    let work: Vec<CellWork> = recipe
        .cell_ids()
        .map(|cell| {
            let a = action(recipe);
            CellWork {
                cell,
                boot: matches!(a, Action::Build { .. }),
                targets: a.targets().to_vec(),
                prune: recipe.target_ids().collect(),
            }
        })
        .collect();
    let plan = Plan::for_work(recipe, &STEPS, &work);
    let decisions = recipe
        .cell_ids()
        .map(|c| (c, decision(c, action(recipe))))
        .collect();
    let ctx = world.context(recipe, decisions);
    let mut reporter = Reporter::log_only(&ctx.run_dir.join("run.log"));
    let options = Options {
        fetches: 2,
        keep_going,
    };
    let perform = |ctx: &RunContext<FakeBackend>,
                   node: NodeIndex,
                   job: Job<FakeBackend>,
                   tx: &mpsc::Sender<Message<FakeBackend>>| {
        script.perform(ctx, &plan, node, job, tx)
    };
    let (tx, rx) = mpsc::channel();
    let report = run_with(&ctx, &plan, &options, &mut reporter, rx, tx, &perform);
    Ran {
        report,
        names: recipe.cells.iter().map(|c| c.image_name.clone()).collect(),
        discards: world.backend.discards(),
        releases: world.backend.releases(),
        script,
    }
}

fn failed_at(outcome: &CellOutcome) -> Option<&str> {
    match outcome {
        CellOutcome::Failed { step, .. } => Some(step),
        _ => None,
    }
}

fn skipped_for(outcome: &CellOutcome) -> Option<&str> {
    match outcome {
        CellOutcome::Skipped { reason } => Some(reason),
        _ => None,
    }
}

fn built_to(outcome: &CellOutcome) -> Option<Vec<&str>> {
    match outcome {
        CellOutcome::Built { images } => Some(images.iter().map(|i| i.target.as_str()).collect()),
        _ => None,
    }
}

#[test]
fn after_a_failure_no_new_cell_starts_and_the_one_holding_a_machine_finishes() {
    // Two boots run at once (two machines); the first to go on fails.
    let ran = run(
        6,
        build,
        false,
        Rules {
            fail_first: Some("boot"),
            gate: Some(("boot", 2)),
            ..Rules::default()
        },
    );
    let failed: Vec<&str> = ran
        .report
        .cells
        .iter()
        .filter_map(|(_, o)| failed_at(o))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].starts_with("boot:"), "{failed:?}");
    assert_eq!(
        ran.count(|o| built_to(o) == Some(vec!["local", "cloud"])),
        1,
        "the other cell with a machine is built"
    );
    assert_eq!(ran.count(|o| skipped_for(o) == Some(NOT_STARTED)), 4);
    assert!(ran.report.stopped_early);
    assert!(!ran.report.interrupted);
    let seeds = ran
        .script
        .started()
        .iter()
        .filter(|id| id.starts_with("seed:"))
        .count();
    assert_eq!(seeds, 2, "no machine was granted after the failure");
}

#[test]
fn keep_going_builds_the_other_cells() {
    let ran = run(
        4,
        build,
        true,
        Rules {
            fail: Some(|s| s.name == "boot" && s.step.cell() == Some(CellId(1))),
            ..Rules::default()
        },
    );
    assert_eq!(failed_at(ran.outcome(1)), Some(ran.id("boot", 1).as_str()));
    for cell in [0, 2, 3] {
        assert_eq!(
            built_to(ran.outcome(cell)),
            Some(vec!["local", "cloud"]),
            "cell {cell}"
        );
    }
    assert!(!ran.report.stopped_early);
}

/// Both machines boot until the interrupt; the first boot sends it.
fn interrupted(ends_well: bool) -> Ran {
    run(
        6,
        build,
        false,
        Rules {
            gate: Some(("boot", 2)),
            interrupt_at: Some("boot"),
            block: Some("boot"),
            block_ends_well: ends_well,
            ..Rules::default()
        },
    )
}

#[test]
fn an_interrupt_cancels_the_running_steps_and_starts_nothing_new() {
    let ran = interrupted(false);
    assert!(ran.report.interrupted);
    assert!(!ran.report.stopped_early);
    assert_eq!(ran.count(|o| skipped_for(o) == Some("interrupted")), 6);
    let log = ran.script.log();
    let at = log
        .iter()
        .position(|e| *e == Event::Interrupt)
        .expect("an interrupt");
    let boots: Vec<&Event> = log[at..]
        .iter()
        .filter(|e| matches!(e, Event::Finish(id) if id.starts_with("boot:")))
        .collect();
    assert_eq!(boots.len(), 2, "both running boots returned: {log:?}");
    // Renders hold nothing and may still be starting as the interrupt
    // arrives; nothing that needs a machine starts after it.
    let late: Vec<&Event> = log[at..]
        .iter()
        .filter(|e| matches!(e, Event::Start(id) if !id.starts_with("render:") && !id.starts_with("fetch:")))
        .collect();
    assert_eq!(late, Vec::<&Event>::new());
    assert_eq!((ran.discards, ran.releases), (0, 0));
}

#[test]
fn machines_built_but_never_exported_are_discarded() {
    // The boots end well just as the interrupt comes: no export follows.
    let ran = interrupted(true);
    assert!(ran.report.interrupted);
    assert!(
        !ran.script
            .started()
            .iter()
            .any(|id| id.starts_with("snapshot:"))
    );
    assert_eq!((ran.discards, ran.releases), (2, 0));
}

#[test]
fn a_cell_keeps_its_machine_from_seed_to_snapshot_and_two_at_most_are_held() {
    let ran = run(
        8,
        build,
        false,
        Rules {
            machine_time: Duration::from_millis(2),
            ..Rules::default()
        },
    );
    assert_eq!(ran.count(|o| built_to(o).is_some()), 8);
    let cell_of = |id: &str| id.split_once(':').map(|(_, name)| name.to_owned());
    let mut holders: BTreeSet<String> = BTreeSet::new();
    for event in ran.script.log() {
        match &event {
            Event::Start(id) if id.starts_with("seed:") => {
                let cell = cell_of(id).unwrap();
                assert!(
                    holders.len() < FakeBackend::MACHINES,
                    "{event:?} while {holders:?} hold machines"
                );
                assert!(holders.insert(cell));
            }
            Event::Start(id) if id.starts_with("boot:") || id.starts_with("snapshot:") => {
                let cell = cell_of(id).unwrap();
                assert!(
                    holders.contains(&cell),
                    "{event:?}: its cell lost its machine"
                );
            }
            Event::Finish(id) if id.starts_with("snapshot:") => {
                holders.remove(&cell_of(id).unwrap());
            }
            _ => {}
        }
    }
    assert!(holders.is_empty());
}

#[test]
fn a_failed_upload_lets_the_other_target_upload_and_records_nothing() {
    let ran = run(
        2,
        build,
        true,
        Rules {
            fail: Some(|s| {
                s.id.starts_with("upload:")
                    && s.id.ends_with("@cloud")
                    && s.step.cell() == Some(CellId(0))
            }),
            ..Rules::default()
        },
    );
    let upload = |target: &str| format!("{}@{target}", ran.id("upload", 0));
    assert_eq!(failed_at(ran.outcome(0)), Some(upload("cloud").as_str()));
    assert!(ran.script.log().contains(&Event::Finish(upload("local"))));
    assert!(!ran.script.started().contains(&ran.id("record", 0)));
    assert_eq!(built_to(ran.outcome(1)), Some(vec!["local", "cloud"]));
    // Each artifact once: the failed cell's at the end of the run, the
    // built one's by its record step.
    assert_eq!((ran.discards, ran.releases), (0, 2));
}

#[test]
fn a_failed_export_gives_its_machine_back_once_and_uploads_nothing() {
    let ran = run(
        1,
        build,
        false,
        Rules {
            fail: Some(|s| s.name == "snapshot"),
            ..Rules::default()
        },
    );
    assert_eq!(
        failed_at(ran.outcome(0)),
        Some(ran.id("snapshot", 0).as_str())
    );
    assert!(
        !ran.script
            .started()
            .iter()
            .any(|id| id.starts_with("upload:"))
    );
    // The export owned the machine: the scheduler does not discard it again.
    assert_eq!((ran.discards, ran.releases), (1, 0));
}

#[test]
fn a_cached_snapshot_is_uploaded_without_booting() {
    let upload = |recipe: &Recipe| Action::Upload {
        targets: recipe.target_ids().collect(),
    };
    let ran = run(2, upload, false, Rules::default());
    let started = ran.script.started();
    let kinds: BTreeSet<&str> = started
        .iter()
        .filter_map(|id| id.split(':').next())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["prune", "record", "upload"]));
    assert_eq!(
        ran.script.cached_uploads().len(),
        4,
        "every upload gets the cached snapshot"
    );
    for cell in [0, 1] {
        assert_eq!(built_to(ran.outcome(cell)), Some(vec!["local", "cloud"]));
    }
    assert_eq!((ran.discards, ran.releases), (0, 0));
}
