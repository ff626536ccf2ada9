use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand};

const ABOUT: &str = "Build cloud VM images from a declarative TOML recipe";

const LONG_ABOUT: &str = "\
Build cloud VM images from a declarative TOML recipe.

A recipe names base images, a provisioning script template and a matrix of
variants (for example bases × juju channels × microk8s channels). pipeline
expands the matrix into cells, plans a DAG of steps (fetch and verify each
base once; per cell render, seed, boot, snapshot; per target upload and
prune) and runs them in parallel.";

const EXAMPLES: &str = "\
Examples:
  pipeline validate recipes/github-runner.toml
  pipeline plan recipes/github-runner.toml --only base=noble
  pipeline plan recipes/github-runner.toml --dot | dot -Tsvg > plan.svg
  pipeline schema > recipe.schema.json";

#[derive(Debug, Parser)]
#[command(name = "pipeline", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a recipe: parse it, validate every value and render every cell's template
    #[command(after_help = "\
Every problem found is printed, not only the first, each with its file,
line, column and key. Nothing is written to disk.

Exit codes: 0 valid, 2 invalid.

Examples:
  pipeline validate recipes/github-runner.toml
  PIPELINE_SECRET_TOKEN=x pipeline validate recipes/github-runner.toml --only base=noble")]
    Validate(Selection),

    /// Show the expanded matrix and the DAG of steps, without running anything
    #[command(after_help = "\
The output is sorted and deterministic, so it can be diffed in review.

Examples:
  pipeline plan recipes/github-runner.toml
  pipeline plan recipes/github-runner.toml --json | jq '.cells[].image_name'
  pipeline plan recipes/github-runner.toml --only juju=3.1/stable --dot | dot -Tsvg > plan.svg")]
    Plan(PlanArgs),

    /// Print the provisioning script the template renders for one cell
    #[command(after_help = "\
Select exactly one cell with --only. Secret values are never rendered: the
script reads them from its environment when it runs.

Example:
  pipeline render recipes/github-runner.toml --only name=github-runner-noble-x64
  pipeline render recipes/github-runner.toml --only base=noble --only juju= --only microk8s= | shellcheck -")]
    Render(Selection),

    /// Print the JSON Schema of recipes (for editors: taplo, Even Better TOML)
    #[command(after_help = "\
Recipes can point at it with a first line such as
  #:schema ./recipe.schema.json

Example:
  pipeline schema > recipes/recipe.schema.json")]
    Schema,
}

/// A recipe and the cells to work on.
#[derive(Debug, Args)]
pub struct Selection {
    /// The recipe file (TOML)
    pub recipe: Utf8PathBuf,

    /// Only cells whose axis KEY has VALUE (`name` matches the image name).
    /// Repeat for more: values of one key are alternatives, different keys must all match.
    #[arg(long = "only", value_name = "KEY=VALUE")]
    pub only: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Print the plan as JSON
    #[arg(long, conflicts_with = "dot")]
    pub json: bool,

    /// Print the plan as Graphviz dot
    #[arg(long)]
    pub dot: bool,
}
