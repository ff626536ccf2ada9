use super::status::{status, warnings, work_for};
use super::{load, open_stores};
use crate::cli::PlanArgs;
use crate::cli::{Error, Result};
use crate::executor::owner_of;
use crate::output::ScrubbingWriter;
use crate::plan::Plan;
use crate::plan::report::{self, CellStatus};
use crate::state::Layout;
use crate::step::CancelToken;
use std::io::Write;

pub fn plan(args: &PlanArgs) -> Result<()> {
    let (recipe, cells) = load(&args.selection)?;
    // Offline by default: as if every cell were built. With --status, what a
    // run would really do (reads checksums and targets, writes nothing).
    let decisions = if args.status {
        let secrets = crate::loader::secrets().map_err(|e| Error::Usage(e.to_string()))?;
        // As run does: every template renders before anything is asked of
        // a target, and a failure reads like validate's.
        let problems = recipe.check_templates(&secrets.names());
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        let stores = open_stores(&recipe)?;
        let (_, decisions) = status(
            &recipe,
            &cells,
            &stores,
            &secrets,
            &Layout::from_env(),
            &owner_of(&recipe),
            args.force,
            &CancelToken::new(),
        )?;
        for line in warnings(&decisions) {
            crate::errln!("{line}");
        }
        Some(decisions)
    } else {
        None
    };
    let backend = recipe.build.backend.steps();
    let plan = match &decisions {
        Some(decisions) => Plan::for_work(&recipe, backend, &work_for(&recipe, decisions)),
        None => Plan::new(&recipe, backend, &cells),
    };
    // What each cell's decision says, for the report.
    let statuses: Option<Vec<CellStatus>> = decisions.as_ref().map(|decisions| {
        decisions
            .iter()
            .map(|d| CellStatus {
                cell: d.cell,
                action: d.action.as_str(),
                reason: &d.reason,
                input_key: &d.key.key,
            })
            .collect()
    });
    let decisions = statuses.as_deref();
    // Straight to stdout as it is made: a large plan needs no copy of its text.
    // Scrubbed line by line on its way.
    let mut out = ScrubbingWriter::new(std::io::BufWriter::new(std::io::stdout().lock()));
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report::json(&recipe, &plan, decisions))
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else if args.dot {
        report::dot(&mut out, &recipe, &plan)
    } else {
        report::text(&mut out, &recipe, &plan, decisions)
    }
    .and_then(|()| out.flush())
    .or_else(|e| match e.kind() {
        // `pipeline plan | head`: the reader has what it wanted.
        std::io::ErrorKind::BrokenPipe => Ok(()),
        _ => Err(Error::Failed(format!("failed to write the plan: {e}"))),
    })
}
