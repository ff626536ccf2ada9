//! `pipeline` builds cloud VM images from a declarative TOML recipe.
//!
//! Data flows one way: [`recipe`] (raw TOML) → [`model`] (validated) →
//! cells → [`plan`] (a frozen DAG of steps) → [`executor`] → [`backends`]
//! (where a cell is built) → [`targets`] (where images are kept).

// The flow, in order.
pub mod backends;
pub mod executor;
pub mod freshness;
pub mod loader;
pub mod model;
pub mod plan;
pub mod recipe;
pub mod targets;
// What the layers above use to reach the outside world.
pub mod bases;
pub mod guest;
pub mod host;
pub mod http;
pub mod openstack;
// Shared by every layer.
pub mod files;
pub mod memory_budget;
pub mod output;
pub mod state;
pub mod step;
// The command line and its verbs.
pub mod cli;
mod commands;
pub mod schedule;

// The unit tests count memory as the binary does (see src/main.rs).
#[cfg(test)]
#[global_allocator]
static ALLOC: memory_budget::BudgetAlloc = memory_budget::BudgetAlloc;

use annotate_snippets::Renderer;
use clap::Parser;
use cli::{Cli, Command};
use std::io::IsTerminal;

/// Run the CLI; returns the process exit code.
pub fn main() -> i32 {
    output::Scrubber::install_panic_hook();
    // Before anything can quote one (a recipe line, an error body).
    loader::register_secrets();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help, version and usage errors too: a usage error quotes the
        // arguments, and an argument can hold a secret.
        Err(e) => {
            let text = e.render().ansi().to_string();
            if e.use_stderr() {
                output::Scrubber::global().stderr(&text);
            } else {
                // `--help | head` is fine.
                let _ = output::Scrubber::global().try_stdout(&text);
            }
            return e.exit_code();
        }
    };
    let result = match &cli.command {
        Command::Init(args) => commands::init(args),
        Command::Validate(selection) => commands::validate(selection),
        Command::Plan(args) => commands::plan(args),
        Command::Run(args) => commands::run(args),
        Command::Latest(args) => commands::latest(args),
        Command::Prune(args) => commands::prune(args),
        Command::Schedule(args) => commands::schedule(args),
        Command::Render(args) => commands::render(args),
        Command::Schema => commands::schema(),
    };
    // Output that could not be written (a full disk; not a reader that has
    // gone) fails a command that otherwise succeeded.
    let result = result.and_then(|()| match output::Scrubber::global().stdout_failure() {
        Some(e) => Err(cli::Error::Failed(format!(
            "failed to write to standard output: {e}"
        ))),
        None => Ok(()),
    });
    match result {
        Ok(()) => cli::exit_code::OK,
        Err(error) => {
            report(&error);
            match error.signal() {
                Some(signal) => cli::exit_code::end_by(signal),
                None => error.exit_code(),
            }
        }
    }
}

fn report(error: &cli::Error) {
    let renderer = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    match error {
        cli::Error::Invalid(diagnostics) => errln!("{}", diagnostics.render(&renderer)),
        other => errln!("error: {other}"),
    }
}
