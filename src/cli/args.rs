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
  pipeline init recipes/demo.toml
  pipeline run recipes/demo.toml
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
    /// Prepare and check everything a first run needs, before it fails late
    #[command(after_help = "\
Checks, and prepares where it can, what a first `run` needs, so that a
scheduled run never finds a missing firmware or a wrong password at 3 a.m.:
the host (QEMU for the recipe's arch, qemu-img, UEFI firmware for arm64, the
accelerator, free disk in the cache and state directories, memory for the
VMs at once) or, with `backend = \"openstack\"`, the build cloud
(credentials, flavor, network, quota, the bases staged as images); the
bases, fetched and verified into the cache now; every target (a directory
exists and is writable, a cloud's credentials work and its image quota has
room for keep + 1 revisions of every cell). Nothing else is created.

Every item is reported: ok, created (made now), changed, or problem (with
how to fix it). Running it again changes nothing and reports ok.

Exit codes: 0 ready, 1 a problem found (all of them are listed), 2 invalid
recipe.

Examples:
  pipeline init recipes/demo.toml
  pipeline init recipes/github-runner.toml --json | jq '.[] | select(.status == \"problem\")'")]
    Init(InitArgs),

    /// Check a recipe: parse it, validate every value and render every cell's template
    #[command(after_help = "\
Every problem found is printed, not only the first, each with its file,
line, column and key. Nothing is written to disk.

Exit codes: 0 valid, 2 invalid.

Examples:
  pipeline validate recipes/github-runner.toml
  PIPELINE_SECRET_TOKEN=placeholder pipeline validate recipes/github-runner.toml --only base=noble")]
    Validate(Selection),

    /// Show the expanded matrix and the DAG of steps, without running anything
    #[command(after_help = "\
The output is sorted and deterministic, so it can be diffed in review.
Without --status the plan is made offline, as if every cell were built;
with --status it shows what `run` would do with each cell, and why.

Examples:
  pipeline plan recipes/github-runner.toml
  pipeline plan recipes/demo.toml --status
  pipeline plan recipes/github-runner.toml --json | jq '.cells[].image_name'
  pipeline plan recipes/github-runner.toml --only juju=3.1/stable --dot | dot -Tsvg > plan.svg")]
    Plan(PlanArgs),

    /// Build every selected cell and upload it to every target, then prune
    #[command(after_help = "\
Each cell boots its base in QEMU (KVM when a probe guest proves it works,
else TCG; PIPELINE_ACCEL=kvm|tcg overrides), runs the provisioning script,
and is snapshotted to a compressed qcow2, uploaded to every target and
pruned to the target's `keep`. Logs of every step, every VM console and
QEMU's own output go to a run directory, printed at the start.

Only what changed is built: a cell whose input key (base checksum, rendered
script, build settings, secrets) matches the newest image on every target is
skipped; one missing on some targets is uploaded there, from a snapshot
cached by an earlier run if there is one. --force rebuilds regardless.
Two runs of one recipe never overlap: the second exits with code 3, or waits
with --wait. Two recipe files never share a name (its file stem, or
`name = \"…\"`), which marks their images: the first run or prune of a name
records its recipe file, and another file with that name is refused.

Every environment variable PIPELINE_SECRET_<NAME> reaches the provisioning
script's environment; its value is never printed or stored in the image.

Exit codes: 0 every cell built or up to date, 1 a cell failed or was not
built, 2 invalid recipe, 3 another run holds the lock. Interrupted, it cleans
up and ends by the signal: 130 (SIGINT) or 143 (SIGTERM) in a shell.

Examples:
  pipeline run recipes/demo.toml
  pipeline run recipes/github-runner.toml --only base=noble --jobs 2
  PIPELINE_SECRET_GITHUB_TOKEN=… pipeline run recipes/github-runner.toml --keep-going --json")]
    Run(RunArgs),

    /// Show the newest image of every cell on every target
    #[command(after_help = "\
An image counts only when this recipe owns it; a cell with none shows `-`.

Examples:
  pipeline latest recipes/demo.toml
  pipeline latest recipes/github-runner.toml --json | jq '.[0].images'")]
    Latest(LatestArgs),

    /// Delete old revisions beyond each target's `keep`
    #[command(after_help = "\
Only images this recipe owns are considered; the `keep` newest revisions of
each image name stay. `run` prunes after every upload; this verb is for
cleaning up by hand. Like `run`, it refuses a recipe whose name another
recipe file owns (exit code 2); --dry-run records nothing. It holds the
recipe's run lock (exit code 3 while a run holds it, or --wait; a dry run
takes none), and first removes what dead runs left (scratch folders, the
temp files of their uploads).

Examples:
  pipeline prune recipes/demo.toml --dry-run
  pipeline prune recipes/github-runner.toml --only base=jammy")]
    Prune(PruneArgs),

    /// Rerun a recipe every N hours from cron (or a systemd timer), idempotently
    #[command(after_help = "\
Installs /etc/cron.d/pipeline-<recipe name> (or a block in your crontab with
--user, or a systemd service and timer with --systemd) that runs
`pipeline run` on the recipe's absolute path and appends its output to a log
file. Running it again with the same settings changes nothing; it prints
`installed`, `changed` or `unchanged` and exits 0 either way. A run that finds
the previous one still going exits with code 3 (the lock) and is logged.

The runs keep their cache and state where this command finds them: the entry
sets PIPELINE_CACHE_DIR and PIPELINE_STATE_DIR to those directories (from
these variables, else XDG_CACHE_HOME and XDG_STATE_HOME, else ~/.cache and
~/.local/state), so they share the lock, bases, name record and KVM verdict
of the `init` run beside it, whatever cron's or systemd's environment is.
--systemd with the default --unit-dir also runs `systemctl daemon-reload` and
`systemctl enable --now pipeline-<name>.timer`; elsewhere it says to.

The entry is named from the recipe's name: `pipeline-<name>`, the name being
the file stem unless the recipe sets `name = \"…\"`. When that entry already
schedules another recipe (prod/runner.toml and staging/runner.toml), nothing
is written and the exit code is 2: give one of them its own name. --remove
works for a recipe that no longer loads (by the path its entry records, else
its file stem). After installing, run `pipeline init RECIPE` once: it checks
now what the scheduled runs need.

Secrets for scheduled runs: put `PIPELINE_SECRET_NAME=value` lines in a file
of mode 0600 owned by the user the runs run as (root; with --user, you) and
pass it with --env-file. Each run reads it itself (`pipeline run --env-file
FILE`), literally: no shell or systemd sees a `$`, quote or backtick in it.
A file that is missing, readable by others or owned by someone else, or a
line that is not NAME=value, is refused now rather than at 3 a.m.

Every value written into the entry is quoted for cron, sh or systemd. What a
format cannot carry is refused (exit code 2, nothing written): a newline or
other control character anywhere; for systemd, a quote or backslash in the
program's path, a space at either end of a path or a backslash at its end.

Exit codes: 0 installed, unchanged or removed; 2 invalid recipe or value, an
env file refused, or an entry of another recipe; 1 a file could not be written.

Examples:
  pipeline schedule recipes/github-runner.toml --every 6h
  pipeline schedule recipes/github-runner.toml --every 6h --env-file /etc/pipeline/runner.env
  pipeline schedule recipes/demo.toml --every 1d --user
  pipeline schedule recipes/github-runner.toml --remove")]
    Schedule(ScheduleArgs),

    /// Print the provisioning script the template renders for one cell
    #[command(after_help = "\
Select exactly one cell with --only. Secret values are never rendered: the
script reads them from its environment when it runs. With --verify, the
script of `[verify]` instead: what the cell's new instance runs before the
image is published.

Example:
  pipeline render recipes/github-runner.toml --only name=github-runner-noble-x64
  pipeline render recipes/github-runner.toml --only base=noble --only juju= --only microk8s= | shellcheck -
  pipeline render recipes/github-runner.toml --only name=github-runner-noble-x64 --verify")]
    Render(RenderArgs),

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
pub struct RenderArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Print the verify script (`[verify] template`) instead
    #[arg(long)]
    pub verify: bool,
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

    /// Check what each cell needs: resolve the bases' checksums and look at
    /// every target, then plan only that (build, upload only, or skip)
    #[arg(long)]
    pub status: bool,

    /// With --status: plan as `run --force` would
    #[arg(long, requires = "status")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// VMs at once [default: one per core, as memory allows]
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,

    /// After a failure, go on with every cell that does not depend on it
    #[arg(long)]
    pub keep_going: bool,

    /// Print the result as JSON: per cell, its images per target
    #[arg(long)]
    pub json: bool,

    /// Build every selected cell, even those whose image is up to date
    #[arg(long)]
    pub force: bool,

    /// If another run of this recipe is in progress, wait for it instead of exiting
    #[arg(long)]
    pub wait: bool,

    /// Read NAME=value lines (secrets: PIPELINE_SECRET_*) from FILE into the
    /// environment, literally: no quoting, no expansion
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// VMs at once to check memory and disk for [default: as `run` chooses]
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,

    /// Print every item as JSON: item, status, detail
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LatestArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Print JSON: per cell, the newest image id per target (null when none)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub selection: Selection,

    /// Show what would be deleted, delete nothing
    #[arg(long)]
    pub dry_run: bool,

    /// If a run of this recipe is in progress, wait for it instead of exiting
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The recipe file (TOML)
    pub recipe: Utf8PathBuf,

    /// How often: minutes dividing an hour (15m), hours dividing a day (6h), 1d or 7d
    #[arg(long, value_name = "INTERVAL", required_unless_present = "remove")]
    pub every: Option<String>,

    /// Install in your own crontab instead of /etc/cron.d
    #[arg(long, conflicts_with = "systemd")]
    pub user: bool,

    /// Install a systemd service and timer instead of a cron entry
    #[arg(long)]
    pub systemd: bool,

    /// Remove the schedule of this recipe
    #[arg(long)]
    pub remove: bool,

    /// Where cron entries go
    #[arg(long, value_name = "DIR", default_value = "/etc/cron.d")]
    pub cron_dir: Utf8PathBuf,

    /// Where systemd units go (with --systemd)
    #[arg(long, value_name = "DIR", default_value = "/etc/systemd/system")]
    pub unit_dir: Utf8PathBuf,

    /// Log file of the scheduled runs [default: /var/log/pipeline/pipeline-<name>.log;
    /// with --user, logs/pipeline-<name>.log in the state directory]
    #[arg(long, value_name = "FILE")]
    pub log: Option<Utf8PathBuf>,

    /// A file of NAME=value lines (secrets: PIPELINE_SECRET_*) that each run
    /// reads itself with `pipeline run --env-file`, literally; mode 0600, owned
    /// by root (with --user: by you)
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<Utf8PathBuf>,

    /// The pipeline executable the schedule runs [default: this one]
    #[arg(long, value_name = "PATH")]
    pub program: Option<Utf8PathBuf>,
}
