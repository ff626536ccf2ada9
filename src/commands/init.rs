use super::load;
use crate::backends::{self, Backend, WithBackend};
use crate::bases::{self, FetchedBase};
use crate::cli::InitArgs;
use crate::cli::{Error, Result};
use crate::executor::owner_of;
use crate::output::{Check, CheckStatus};
use crate::plan::report::table;
use crate::state::Layout;
use crate::step::CancelToken;
use crate::targets::StoreNeed;
use std::collections::BTreeSet;

/// Prepare what a first run needs and check what would make it fail late:
/// the host or build cloud, the bases (fetched and verified now), every
/// target. Idempotent: a second init reports everything `ok`.
pub fn init(args: &InitArgs) -> Result<()> {
    let (recipe, cells) = load(&args.selection)?;
    let secrets = crate::loader::secrets().map_err(|e| Error::Usage(e.to_string()))?;
    let problems = recipe.check_templates(&secrets.names());
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    let mut checks = Vec::new();
    if let Err(e) = backends::check_secrets(&recipe, &secrets) {
        checks.push(Check::problem("secrets", e.to_string()));
    }
    let layout = Layout::from_env();
    let owner = owner_of(&recipe);

    // The bases: fetched and verified into the cache now.
    let names: BTreeSet<&str> = cells.iter().map(|&c| recipe.cells[c].base()).collect();
    let mut fetched: Vec<(String, FetchedBase)> = Vec::new();
    let cancel = CancelToken::new();
    let cache_dir = layout.bases();
    let proxy = (!recipe.services.proxy.is_empty()).then_some(recipe.services.proxy.as_str());
    for name in names {
        let base = &recipe.bases[name];
        let item = format!("base {name}");
        let opts = bases::FetchOptions {
            cache_dir: &cache_dir,
            proxy,
            cancel: &cancel,
            log: &|_| {},
            progress: &|_, _| {},
        };
        let cached = bases::expected_sha256(base, &opts)
            .map(|sha| cache_dir.join(format!("{sha}.img")).exists())
            .unwrap_or(false);
        if !cached {
            crate::errln!("fetching base {name} from {}", base.source);
        }
        match bases::fetch(base, &opts) {
            Ok(f) => {
                let status = if cached {
                    CheckStatus::Ok
                } else {
                    CheckStatus::Created
                };
                checks.push(Check::new(
                    item,
                    status,
                    format!("sha256 {} verified, cached at {}", f.sha256, f.path),
                ));
                fetched.push((name.to_owned(), f));
            }
            Err(e) => checks.push(Check::problem(item, e.message)),
        }
    }

    // The host, or the build cloud.
    let options = backends::Options {
        jobs: args.jobs.map(usize::from),
        layout: &layout,
        owner: &owner,
        run_id: "init",
    };
    match backends::open(&recipe, &options, Prepare { bases: &fetched }) {
        Ok(found) => checks.extend(found),
        Err(e) => checks.push(Check::problem("build backend", e.to_string())),
    }

    // Every target.
    let image_bytes = fetched
        .iter()
        .filter_map(|(_, f)| std::fs::metadata(&f.path).ok().map(|m| m.len()))
        .max()
        .unwrap_or(0);
    for target in &recipe.targets {
        let need = StoreNeed {
            owner: owner.clone(),
            images: cells
                .iter()
                .map(|&c| recipe.cells[c].image_name.clone())
                .collect(),
            keep: target.keep,
            image_bytes,
        };
        match crate::targets::open(target) {
            Ok(store) => checks.extend(store.init(&need)),
            Err(e) => checks.push(Check::problem(
                format!("target {}", target.name),
                e.to_string(),
            )),
        }
    }

    let problems = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Problem)
        .count();
    if args.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&checks).expect("JSON serializes")
        );
    } else {
        let mut rows = vec![vec![
            "STATUS".to_owned(),
            "ITEM".to_owned(),
            "DETAIL".to_owned(),
        ]];
        rows.extend(checks.iter().map(|c| {
            vec![
                c.status.as_str().to_owned(),
                c.item.clone(),
                c.detail.clone(),
            ]
        }));
        crate::out!("{}", table(&rows, ""));
    }
    if problems > 0 {
        return Err(Error::Failed(format!(
            "{} is not ready: {problems} problem{} (listed above)",
            recipe.file.path,
            if problems == 1 { "" } else { "s" }
        )));
    }
    let made = checks
        .iter()
        .filter(|c| c.status != CheckStatus::Ok)
        .count();
    crate::errln!(
        "{} is ready{}",
        recipe.file.path,
        if made == 0 {
            ": nothing to do".to_owned()
        } else {
            format!(
                " ({made} item{} prepared now)",
                if made == 1 { "" } else { "s" }
            )
        }
    );
    Ok(())
}

/// The backend's part of init, once it is open.
struct Prepare<'a> {
    bases: &'a [(String, FetchedBase)],
}

impl WithBackend for Prepare<'_> {
    type Output = Vec<Check>;

    fn with<B: Backend>(self, backend: &B) -> Vec<Check> {
        let bases: Vec<(&str, &FetchedBase)> =
            self.bases.iter().map(|(n, f)| (n.as_str(), f)).collect();
        backend.init(&bases)
    }
}
