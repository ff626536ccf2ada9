use super::load;
use crate::cli::PlanArgs;
use crate::error::{Error, Result};
use crate::plan::{Plan, report};
use std::io::Write;

pub fn plan(args: &PlanArgs) -> Result<()> {
    let (recipe, cells) = load(&args.selection)?;
    let plan = Plan::new(&recipe, &cells);
    if args.json {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer_pretty(&mut out, &report::json(&recipe, &plan))
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
            .and_then(|()| out.flush())
            .map_err(|e| Error::Failed(format!("failed to write the plan: {e}")))?;
    } else if args.dot {
        print!("{}", report::dot(&recipe, &plan));
    } else {
        print!("{}", report::text(&recipe, &plan));
    }
    Ok(())
}
