//! Turning a raw recipe into a [`Recipe`]: every value checked, paths
//! resolved, the matrix expanded, every problem collected. Pure: what it
//! needs from files (the template) the loader read for it.

use super::channel::{CHANNEL_AXES, check_channel};
use super::{
    Arch, Axis, Base, Build, Cell, Checksum, Combination, Compression, DEFAULT_MAX_CELLS, Image,
    MAX_CELLS_CEILING, Matrix, Recipe, Resource, Services, Target, TargetKind, Template, Verify,
    Visibility,
};
use crate::backends::BuildBackend;
use crate::files::SourceFile;
use crate::output::{Diagnostic, Diagnostics};
use crate::recipe::{self, RawCombination, RawRecipe, RawTargetKind, Spanned};
use camino::Utf8PathBuf;
use indexmap::IndexMap;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// The longest image name: Glance's limit for a name, and a file system's
/// for one component of a path (a directory target keeps an image in a
/// directory of its name).
const MAX_IMAGE_NAME: usize = 255;

/// The shortest duration a recipe may give: less is a typo (`1ns` for `1h`).
const MIN_DURATION: Duration = Duration::from_secs(1);

/// The longest timeout: a build or verify VM still running after a week
/// has hung.
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest `rebuild_after`, its own bound: a monthly or quarterly
/// rebuild is a fair choice where a week is not enough, but an image left a
/// year without its updates is one no rebuild age should allow.
const MAX_REBUILD_AFTER: Duration = Duration::from_secs(365 * 24 * 3600);

/// Template variables that an axis may not shadow (the schema says so too).
use crate::recipe::rules::RESERVED_AXES as RESERVED;

/// What a recipe is made of, as the loader read it.
pub struct RecipeInput {
    pub file: Arc<SourceFile>,
    /// The recipe's directory, absolute: relative paths resolve against it.
    pub dir: Utf8PathBuf,
    pub raw: RawRecipe,
    /// The template `image.template` names, or why it could not be read.
    pub template: Result<Arc<SourceFile>, std::io::Error>,
    /// The template `verify.template` names (when there is one), or why it
    /// could not be read.
    pub verify_template: Option<Result<Arc<SourceFile>, std::io::Error>>,
    /// Directory targets' paths as written → where they really are (links
    /// followed as far as the path exists), so that two spellings of one
    /// directory are seen as one.
    pub real_paths: HashMap<String, Utf8PathBuf>,
}

/// Validate a recipe, reporting every problem found.
pub fn validate(input: RecipeInput) -> Result<Recipe, Diagnostics> {
    let RecipeInput {
        file,
        dir,
        raw,
        template,
        verify_template,
        real_paths,
    } = input;
    Validator {
        file,
        dir,
        template: Some(template),
        verify_template,
        real_paths,
        problems: Diagnostics::default(),
    }
    .recipe(raw)
}

/// Collects every problem while turning raw values into model values.
struct Validator {
    file: Arc<SourceFile>,
    dir: Utf8PathBuf,
    /// Taken by the one check that needs it.
    template: Option<Result<Arc<SourceFile>, std::io::Error>>,
    verify_template: Option<Result<Arc<SourceFile>, std::io::Error>>,
    real_paths: HashMap<String, Utf8PathBuf>,
    problems: Diagnostics,
}

impl Validator {
    fn error(&mut self, span: Range<usize>, key: impl Into<String>, message: impl Into<String>) {
        let d = Diagnostic::at(&self.file, span, message).key(key);
        self.problems.push(d);
    }

    fn error_with_help(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let d = Diagnostic::at(&self.file, span, message)
            .key(key)
            .help(help);
        self.problems.push(d);
    }

    fn recipe(mut self, raw: RawRecipe) -> Result<Recipe, Diagnostics> {
        let name = self.name(&raw);
        let image = self.image(&raw);
        let bases = self.bases(&raw);
        let defined: Vec<String> = raw.bases.keys().map(|k| k.value.clone()).collect();
        let matrix = self.matrix(&raw, &defined);
        let build = self.build(&raw);
        let services = self.services(&raw);
        let targets = self.targets(&raw);
        let verify = self.verify(&raw);
        let (Some(image), Some(matrix)) = (image, matrix) else {
            return Err(self.problems);
        };
        let cells = self.cells(&raw, &image, &matrix, build.max_cells);
        let warnings = unread_axes(&self.file, &raw, &image, verify.as_ref());
        let recipe = Recipe {
            file: self.file.clone(),
            dir: self.dir.clone(),
            name,
            image,
            bases,
            matrix,
            build,
            services,
            vars: raw.vars,
            targets,
            verify,
            cells,
            warnings,
        };
        self.problems.into_result(recipe)
    }

    /// `name`, else the file stem: existing stores and schedule entries
    /// know a recipe by its stem, so that stays the default.
    fn name(&mut self, raw: &RawRecipe) -> String {
        let stem = self.file.path.file_stem().unwrap_or("recipe").to_owned();
        let Some(name) = &raw.name else {
            return stem;
        };
        if !is_name(&name.value) {
            self.error(
                name.span.clone(),
                "name",
                format!(
                    "invalid recipe name `{}`: use letters, digits, `.`, `_` and `-`",
                    name.value
                ),
            );
            return stem;
        }
        name.value.clone()
    }

    fn image(&mut self, raw: &RawRecipe) -> Option<Image> {
        let image = &raw.image.value;
        let prefix = &image.prefix;
        if !is_name(&prefix.value) {
            self.error(
                prefix.span.clone(),
                "image.prefix",
                format!(
                    "invalid image prefix `{}`: use letters, digits, `.`, `_` and `-`",
                    prefix.value
                ),
            );
        }
        let disk_size = image
            .disk_size
            .as_ref()
            .and_then(|size| self.size(size, "image.disk_size", 1 << 30));
        let file = self.template.take();
        let template = self.template(file, &image.template, "image.template")?;
        Some(Image {
            prefix: prefix.value.clone(),
            arch: image.arch.as_ref().map_or(Arch::X64, |a| a.value.into()),
            template,
            disk_size,
            disk_size_text: image
                .disk_size
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
        })
    }

    /// `file` is what the loader read for the template at `path`.
    fn template(
        &mut self,
        file: Option<Result<Arc<SourceFile>, std::io::Error>>,
        path: &Spanned<String>,
        key: &'static str,
    ) -> Option<Template> {
        let file = match file {
            Some(Ok(file)) => file,
            Some(Err(why)) => {
                self.error(
                    path.span.clone(),
                    key,
                    format!(
                        "failed to read template `{}`: {}",
                        path.value,
                        crate::files::io_message(&why)
                    ),
                );
                return None;
            }
            None => return None,
        };
        match Template::parse(file, key) {
            Ok(t) => Some(t),
            Err(d) => {
                self.problems.extend(d);
                None
            }
        }
    }

    fn verify(&mut self, raw: &RawRecipe) -> Option<Verify> {
        let verify = &raw.verify.as_ref()?.value;
        let timeout = verify
            .timeout
            .as_ref()
            .and_then(|t| self.duration(t, "verify.timeout", MAX_TIMEOUT))
            .unwrap_or(Verify::DEFAULT_TIMEOUT);
        let file = self.verify_template.take();
        let template = self.template(file, &verify.template, "verify.template")?;
        Some(Verify { template, timeout })
    }

    fn size(&mut self, size: &Spanned<String>, key: &str, min: u64) -> Option<u64> {
        let parsed = parse_size::Config::new()
            .with_binary()
            .parse_size(&size.value);
        match parsed {
            Ok(bytes) if bytes >= min => Some(bytes),
            Ok(_) => {
                self.error(
                    size.span.clone(),
                    key,
                    format!(
                        "size `{}` is too small: at least {} is needed",
                        size.value,
                        human_bytes(min)
                    ),
                );
                None
            }
            Err(e) => {
                self.error(
                    size.span.clone(),
                    key,
                    format!(
                        "invalid size `{}`: {e}; write it like `20G` (binary units)",
                        size.value
                    ),
                );
                None
            }
        }
    }

    /// A duration of at least [`MIN_DURATION`] and at most `max`.
    fn duration(&mut self, d: &Spanned<String>, key: &str, max: Duration) -> Option<Duration> {
        match humantime::parse_duration(&d.value) {
            Ok(v) if !v.is_zero() && (MIN_DURATION..=max).contains(&v) => Some(v),
            Ok(v) if !v.is_zero() => {
                let name = key.rsplit('.').next().unwrap_or(key);
                let range = format!(
                    "{}..{}",
                    humantime::format_duration(MIN_DURATION),
                    short_days(max)
                );
                let help = match (v < MIN_DURATION, name) {
                    (true, _) => "less than a second is a typo of a unit, like `1ns` for `1h`",
                    (false, "rebuild_after") => {
                        "leave it out to rebuild only when an input changes"
                    }
                    (false, _) => "a VM still running after a week has hung",
                };
                self.error_with_help(
                    d.span.clone(),
                    key,
                    format!("{name} = {:?} is out of range {range}", d.value),
                    help,
                );
                None
            }
            Ok(_) => {
                self.error(d.span.clone(), key, "the duration must be more than zero");
                None
            }
            Err(e) => {
                self.error(
                    d.span.clone(),
                    key,
                    format!(
                        "invalid duration `{}`: {}; write it like `30m`, `2h` or `7d`",
                        d.value,
                        lowercase(&e.to_string())
                    ),
                );
                None
            }
        }
    }

    fn bases(&mut self, raw: &RawRecipe) -> IndexMap<String, Base> {
        let mut bases = IndexMap::new();
        for (name, base) in &raw.bases {
            let key = format!("bases.{}", name.value);
            if !is_name(&name.value) {
                self.error(
                    name.span.clone(),
                    &key,
                    format!(
                        "invalid base name `{}`: use letters, digits, `.`, `_` and `-`",
                        name.value
                    ),
                );
            }
            let b = &base.value;
            let source = match Resource::parse(&b.url.value, &self.dir) {
                Ok(r) => Some(r),
                Err(e) => {
                    self.error(
                        b.url.span.clone(),
                        format!("{key}.url"),
                        format!("invalid url: {e}"),
                    );
                    None
                }
            };
            let checksum = match (&b.sha256, &b.sha256sums) {
                (Some(sha), None) => {
                    let hex = sha.value.to_ascii_lowercase();
                    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                        Some(Checksum::Sha256(hex))
                    } else {
                        self.error(
                            sha.span.clone(),
                            format!("{key}.sha256"),
                            "invalid sha256: expected 64 hexadecimal digits",
                        );
                        None
                    }
                }
                (None, Some(sums)) => match Resource::parse(&sums.value, &self.dir) {
                    Ok(r) => Some(Checksum::Sums(r)),
                    Err(e) => {
                        self.error(
                            sums.span.clone(),
                            format!("{key}.sha256sums"),
                            format!("invalid sha256sums: {e}"),
                        );
                        None
                    }
                },
                (Some(sha), Some(_)) => {
                    self.error(
                        sha.span.clone(),
                        &key,
                        "both `sha256` and `sha256sums` are set: keep one",
                    );
                    None
                }
                (None, None) => {
                    self.error_with_help(
                        base.span.clone(),
                        &key,
                        format!("base `{}` has no checksum", name.value),
                        "every base is verified before use: set `sha256 = \"…\"` or `sha256sums = \"…/SHA256SUMS\"`",
                    );
                    None
                }
            };
            if let (Some(source), Some(checksum)) = (source, checksum) {
                bases.insert(
                    name.value.clone(),
                    Base {
                        name: name.value.clone(),
                        source,
                        checksum,
                        os_distro: b.os_distro.as_ref().map(|v| v.value.clone()),
                        os_version: b.os_version.as_ref().map(|v| v.value.clone()),
                    },
                );
            }
        }
        bases
    }

    fn matrix(&mut self, raw: &RawRecipe, bases: &[String]) -> Option<Matrix> {
        let m = &raw.matrix.value;
        let mut axes = Vec::new();
        let mut ok = true;
        for (name, values) in &m.axes {
            let key = format!("matrix.{}", name.value);
            if !is_axis_name(&name.value) {
                self.error(
                    name.span.clone(),
                    &key,
                    format!(
                        "invalid axis name `{}`: use lowercase letters, digits and `_`, starting with a letter",
                        name.value
                    ),
                );
                ok = false;
            } else if RESERVED.contains(&name.value.as_str()) {
                let help = if name.value == "arch" {
                    "set the architecture in `[image] arch`; write one recipe per architecture"
                } else {
                    "rename the axis"
                };
                self.error_with_help(
                    name.span.clone(),
                    &key,
                    format!("`{}` is reserved and cannot be a matrix axis", name.value),
                    help,
                );
                ok = false;
            }
            if values.value.is_empty() {
                self.error_with_help(
                    values.span.clone(),
                    &key,
                    format!("axis `{}` has no values", name.value),
                    "use [\"\"] for an axis that is never set, or remove it",
                );
                ok = false;
            }
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (i, value) in values.value.iter().enumerate() {
                let vkey = format!("{key}[{i}]");
                if seen.insert(&value.value, i).is_some() {
                    self.error(
                        value.span.clone(),
                        &vkey,
                        format!("`{}` appears twice in axis `{}`", value.value, name.value),
                    );
                    ok = false;
                }
                ok &= self.axis_value(&name.value, value, &vkey, bases);
            }
            axes.push(Axis {
                name: name.value.clone(),
                values: values.value.iter().map(|v| v.value.clone()).collect(),
            });
        }
        if !axes.iter().any(|a| a.name == "base") {
            self.error_with_help(
                raw.matrix.span.clone(),
                "matrix",
                "the matrix has no `base` axis",
                "add `base = [\"…\"]` naming entries of [bases]",
            );
            return None;
        }
        let include = self.combinations(&m.include, "include", &axes, bases, true);
        let exclude = self.combinations(&m.exclude, "exclude", &axes, bases, false);
        ok.then_some(Matrix {
            axes,
            include: include?,
            exclude: exclude?,
        })
    }

    /// Check one value of an axis; returns whether it is fine.
    fn axis_value(
        &mut self,
        axis: &str,
        value: &Spanned<String>,
        key: &str,
        bases: &[String],
    ) -> bool {
        let v = &value.value;
        if axis == "base" {
            if !bases.contains(v) {
                let known: Vec<&str> = bases.iter().map(String::as_str).collect();
                self.error_with_help(
                    value.span.clone(),
                    key,
                    format!("base `{v}` has no `[bases.{v}]` entry"),
                    if known.is_empty() {
                        "no bases are defined: add a `[bases.NAME]` table with `url` and a checksum"
                            .to_owned()
                    } else {
                        format!("defined bases: {}", known.join(", "))
                    },
                );
                return false;
            }
            return true;
        }
        if CHANNEL_AXES.contains(&axis) {
            if let Err(e) = check_channel(v) {
                self.error(
                    value.span.clone(),
                    key,
                    format!("invalid {axis} channel: {e}"),
                );
                return false;
            }
            return true;
        }
        if !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        {
            self.error(
                value.span.clone(),
                key,
                format!(
                    "invalid value `{v}` for axis `{axis}`: use letters, digits, `.`, `_`, `-` and `/` (values become part of image names)"
                ),
            );
            return false;
        }
        true
    }

    fn combinations(
        &mut self,
        raw: &[Spanned<RawCombination>],
        what: &str,
        axes: &[Axis],
        bases: &[String],
        is_include: bool,
    ) -> Option<Vec<Combination>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (i, entry) in raw.iter().enumerate() {
            let key = format!("matrix.{what}[{i}]");
            let mut combination = Combination::new();
            for (name, value) in &entry.value {
                let vkey = format!("{key}.{}", name.value);
                let Some(axis) = axes.iter().find(|a| a.name == name.value) else {
                    let names: Vec<&str> = axes.iter().map(|a| a.name.as_str()).collect();
                    let mut d = Diagnostic::at(
                        &self.file,
                        name.span.clone(),
                        format!("`{}` is not an axis of the matrix", name.value),
                    )
                    .key(&vkey);
                    if let Some(hint) =
                        recipe::suggest::did_you_mean(&name.value, names.iter().copied())
                    {
                        d = d.help(hint);
                    }
                    self.problems
                        .push(d.help(format!("axes: {}", names.join(", "))));
                    ok = false;
                    continue;
                };
                if is_include {
                    ok &= self.axis_value(&axis.name, value, &vkey, bases);
                } else if !axis.values.contains(&value.value) {
                    self.error_with_help(
                        value.span.clone(),
                        &vkey,
                        format!(
                            "`{}` is not a value of axis `{}`, so this exclude matches nothing",
                            value.value, axis.name
                        ),
                        format!("values: {:?}", axis.values),
                    );
                    ok = false;
                }
                combination.insert(name.value.clone(), value.value.clone());
            }
            if is_include && !combination.contains_key("base") {
                self.error(entry.span.clone(), &key, "an include entry needs a `base`");
                ok = false;
            }
            if combination.is_empty() && !is_include {
                self.error(
                    entry.span.clone(),
                    &key,
                    "an empty exclude drops every cell",
                );
                ok = false;
            }
            out.push(combination);
        }
        ok.then_some(out)
    }

    fn cells(
        &mut self,
        raw: &RawRecipe,
        image: &Image,
        matrix: &Matrix,
        max_cells: u64,
    ) -> Vec<Cell> {
        // Counted before expanding: a matrix of 10^12 cells would take all
        // the memory there is before a word was printed.
        let bound = matrix.size_bound();
        if bound.is_none_or(|n| n > max_cells) {
            let mut product: Vec<String> = matrix
                .axes
                .iter()
                .map(|a| a.values.len().to_string())
                .collect();
            if !matrix.include.is_empty() {
                product.push(format!("+ {} included", matrix.include.len()));
            }
            let count = bound.map_or("more cells than can be counted".to_owned(), |n| {
                format!("up to {n} cells")
            });
            let (span, key) = match &raw.build.max_cells {
                Some(m) => (m.span.clone(), "build.max_cells"),
                None => (raw.matrix.span.clone(), "matrix"),
            };
            self.error_with_help(
                span,
                key,
                format!(
                    "the matrix has {count} ({}), more than max_cells = {max_cells}",
                    product.join(" × ").replace(" × +", " +")
                ),
                format!(
                    "set `max_cells` in [build] (at most {MAX_CELLS_CEILING}) if so many images are meant, \
                     or split the matrix into several recipes; the count is taken before `exclude`"
                ),
            );
            return Vec::new();
        }
        let axes: Arc<[String]> = matrix.axes.iter().map(|a| a.name.clone()).collect();
        let mut cells: Vec<Cell> = matrix
            .expand()
            .into_iter()
            .map(|values| Cell::new(axes.clone(), values, &image.prefix, image.arch))
            .collect();
        if cells.is_empty() {
            self.error(
                raw.matrix.span.clone(),
                "matrix",
                "the matrix has no cells: every combination is excluded",
            );
        }
        self.name_lengths(raw, image, &cells);
        cells.sort_by(|a, b| a.image_name.cmp(&b.image_name));
        for pair in cells.windows(2) {
            let (first, second) = (&pair[0], &pair[1]);
            if first.image_name == second.image_name {
                let span =
                    collision_span(raw, first, second).unwrap_or_else(|| raw.matrix.span.clone());
                let key = self
                    .key_at(span.start)
                    .unwrap_or_else(|| "matrix".to_owned());
                self.error_with_help(
                    span,
                    key,
                    format!(
                        "two cells have the same image name `{}`: {} and {}",
                        first.image_name,
                        first.describe(),
                        second.describe()
                    ),
                    "image names must be unique (`/` becomes `-` in names); change an axis value so that the names differ",
                );
            }
        }
        cells
    }

    /// Image names become Glance names and directory names: both take at
    /// most [`MAX_IMAGE_NAME`] bytes. Reported once, for the first cell in
    /// matrix order, at its longest part (the prefix or a value).
    fn name_lengths(&mut self, raw: &RawRecipe, image: &Image, cells: &[Cell]) {
        let mut long = cells.iter().filter(|c| c.image_name.len() > MAX_IMAGE_NAME);
        let Some(first) = long.next() else {
            return;
        };
        let others = long.count();
        let longest = first
            .values()
            .max_by_key(|(_, v)| v.len())
            .filter(|(_, v)| v.len() > image.prefix.len())
            .and_then(|(axis, v)| value_span(raw, axis, v));
        let span = longest.unwrap_or_else(|| raw.image.value.prefix.span.clone());
        let key = self
            .key_at(span.start)
            .unwrap_or_else(|| "matrix".to_owned());
        let mut d = Diagnostic::at(
            &self.file,
            span,
            format!(
                "the image name of cell {} is {} bytes long, more than the {MAX_IMAGE_NAME} \
                 that Glance and file systems take",
                first.describe(),
                first.image_name.len()
            ),
        )
        .key(key)
        .help(format!(
            "`{}`: shorten the prefix or the axis values",
            first.image_name
        ));
        if others > 0 {
            d = d.help(if others == 1 {
                "1 more cell's name is too long too".to_owned()
            } else {
                format!("{others} more cells' names are too long too")
            });
        }
        self.problems.push(d);
    }

    fn build(&mut self, raw: &RawRecipe) -> Build {
        let b = &raw.build;
        let cpus = match &b.cpus {
            Some(c) if !(1..=64).contains(&c.value) => {
                self.error(
                    c.span.clone(),
                    "build.cpus",
                    format!("cpus = {} is out of range 1..64", c.value),
                );
                2
            }
            Some(c) => c.value as u32,
            None => 2,
        };
        let memory = b
            .memory
            .as_ref()
            .and_then(|m| self.size(m, "build.memory", 256 << 20))
            .unwrap_or(2 << 30);
        let timeout = b
            .timeout
            .as_ref()
            .and_then(|t| self.duration(t, "build.timeout", MAX_TIMEOUT))
            .unwrap_or(Duration::from_secs(30 * 60));
        let rebuild_after = b
            .rebuild_after
            .as_ref()
            .and_then(|t| self.duration(t, "build.rebuild_after", MAX_REBUILD_AFTER));
        let max_cells = match &b.max_cells {
            Some(m) if !(1..=MAX_CELLS_CEILING as i64).contains(&m.value) => {
                self.error(
                    m.span.clone(),
                    "build.max_cells",
                    format!(
                        "max_cells = {} is out of range 1..{MAX_CELLS_CEILING}",
                        m.value
                    ),
                );
                m.value.clamp(1, MAX_CELLS_CEILING as i64) as u64
            }
            Some(m) => m.value as u64,
            None => DEFAULT_MAX_CELLS,
        };
        // The parser named the backend and parsed its keys: the backend
        // checks them. (With an unknown backend the parse failed already.)
        let at = b.backend.as_ref().map_or(0..0, |b| b.span.clone());
        let backend = b
            .settings
            .validate(&self.file, at, &mut self.problems)
            .unwrap_or_else(|| BuildBackend::Qemu(Default::default()));
        Build {
            backend,
            cpus,
            memory,
            timeout,
            compression: b
                .compression
                .as_ref()
                .map_or(Compression::Zstd, |c| c.value.into()),
            rebuild_after,
            max_cells,
        }
    }

    fn services(&mut self, raw: &RawRecipe) -> Services {
        let s = &raw.services;
        let proxy = s
            .proxy
            .as_ref()
            .map(|p| p.value.clone())
            .unwrap_or_default();
        if let Some(p) = &s.proxy
            && !p.value.is_empty()
            && !(p.value.starts_with("http://") || p.value.starts_with("https://"))
        {
            self.error(
                p.span.clone(),
                "services.proxy",
                format!(
                    "invalid proxy `{}`: expected an http:// or https:// URL",
                    p.value
                ),
            );
        }
        Services {
            proxy,
            dockerhub_cache: s
                .dockerhub_cache
                .as_ref()
                .map(|p| p.value.clone())
                .unwrap_or_default(),
        }
    }

    fn targets(&mut self, raw: &RawRecipe) -> Vec<Target> {
        if raw.targets.is_empty() {
            self.problems.push(
                Diagnostic::at(&self.file, 0..0, "the recipe has no upload target")
                    .key("target")
                    .help("add one, for example:\n[[target]]\nname = \"local\"\nkind = \"directory\"\npath = \"images\"\nkeep = 5"),
            );
        }
        let mut targets = Vec::new();
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut places: HashMap<Place, usize> = HashMap::new();
        for (i, t) in raw.targets.iter().enumerate() {
            let key = format!("target[{i}]");
            let r = &t.value;
            if let Some(first) = names.insert(r.name.value.clone(), i) {
                let line = self
                    .file
                    .line_col(raw.targets[first].value.name.span.start)
                    .0;
                self.error_with_help(
                    r.name.span.clone(),
                    format!("{key}.name"),
                    format!("duplicate target name `{}`", r.name.value),
                    format!(
                        "target names must be unique; `{}` is first defined on line {line}",
                        r.name.value
                    ),
                );
            } else if !is_name(&r.name.value) {
                self.error(
                    r.name.span.clone(),
                    format!("{key}.name"),
                    format!(
                        "invalid target name `{}`: use letters, digits, `.`, `_` and `-`",
                        r.name.value
                    ),
                );
            }
            if !(2..=99).contains(&r.keep.value) {
                self.error_with_help(
                    r.keep.span.clone(),
                    format!("{key}.keep"),
                    format!("keep = {} is out of range 2..99", r.keep.value),
                    "keep at least 2 revisions, so that the previous image survives a bad build",
                );
            }
            let uploads = match &r.uploads {
                Some(u) if !(1..=16).contains(&u.value) => {
                    self.error(
                        u.span.clone(),
                        format!("{key}.uploads"),
                        format!("uploads = {} is out of range 1..16", u.value),
                    );
                    1
                }
                Some(u) => u.value as usize,
                None => 2,
            };
            let kind = match r.kind.value {
                RawTargetKind::Directory => {
                    self.forbid(&r.cloud, &key, "cloud", "directory");
                    self.forbid(&r.visibility, &key, "visibility", "directory");
                    match &r.path {
                        Some(p) if p.value.is_empty() => {
                            self.error(
                                p.span.clone(),
                                format!("{key}.path"),
                                "the path must not be empty",
                            );
                            None
                        }
                        Some(p) => {
                            let path = lexical(&self.dir.join(&p.value));
                            let real = self.real_paths.get(&p.value).unwrap_or(&path).clone();
                            self.shared(&mut places, Place::Directory(real), i, raw, &p.span);
                            Some(TargetKind::Directory { path })
                        }
                        None => {
                            self.error_with_help(
                                t.span.clone(),
                                &key,
                                format!("directory target `{}` has no `path`", r.name.value),
                                "add `path = \"images\"` (relative to the recipe)",
                            );
                            None
                        }
                    }
                }
                RawTargetKind::Openstack => {
                    self.forbid(&r.path, &key, "path", "openstack");
                    match &r.cloud {
                        Some(c) if c.value.is_empty() => {
                            self.error(
                                c.span.clone(),
                                format!("{key}.cloud"),
                                "the cloud name must not be empty",
                            );
                            None
                        }
                        Some(c) => {
                            let place = Place::Cloud(c.value.clone());
                            self.shared(&mut places, place, i, raw, &c.span);
                            Some(TargetKind::Openstack {
                                cloud: c.value.clone(),
                                visibility: r
                                    .visibility
                                    .as_ref()
                                    .map_or(Visibility::Private, |v| v.value.into()),
                            })
                        }
                        None => {
                            self.error_with_help(
                                t.span.clone(),
                                &key,
                                format!("openstack target `{}` has no `cloud`", r.name.value),
                                "add `cloud = \"NAME\"`, a cloud of your clouds.yaml",
                            );
                            None
                        }
                    }
                }
            };
            if let Some(kind) = kind {
                targets.push(Target {
                    name: r.name.value.clone(),
                    kind,
                    keep: r.keep.value.clamp(2, 99) as u32,
                    uploads,
                });
            }
        }
        targets
    }

    /// Two targets in one place would each prune the other's images as
    /// surplus revisions: the second one is refused.
    fn shared(
        &mut self,
        places: &mut HashMap<Place, usize>,
        place: Place,
        i: usize,
        raw: &RawRecipe,
        span: &Range<usize>,
    ) {
        let (what, field) = match &place {
            Place::Directory(path) => (format!("directory {path}"), "path"),
            Place::Cloud(cloud) => (format!("cloud `{cloud}`"), "cloud"),
        };
        let Some(&first) = places.get(&place) else {
            places.insert(place, i);
            return;
        };
        let name = |t: usize| raw.targets[t].value.name.value.clone();
        let line = self
            .file
            .line_col(raw.targets[first].value.name.span.start)
            .0;
        self.error_with_help(
            span.clone(),
            format!("target[{i}].{field}"),
            format!(
                "targets `{}` and `{}` keep their images in the same {what}",
                name(first),
                name(i)
            ),
            format!(
                "each would delete the other's images as old revisions; give each target a place \
                 of its own (`{}` is defined on line {line})",
                name(first)
            ),
        );
    }

    fn key_at(&self, offset: usize) -> Option<String> {
        let (doc, _) = toml::de::DeTable::parse_recoverable(&self.file.text);
        recipe::key_path_at(doc.get_ref(), offset)
    }

    fn forbid<T>(&mut self, field: &Option<Spanned<T>>, key: &str, name: &str, kind: &str) {
        if let Some(f) = field {
            self.error(
                f.span.clone(),
                format!("{key}.{name}"),
                format!("`{name}` does not apply to a {kind} target"),
            );
        }
    }
}

/// Where a target keeps its images, to find two targets in one place.
#[derive(PartialEq, Eq, Hash)]
enum Place {
    Directory(Utf8PathBuf),
    Cloud(String),
}

/// The span of the value that tells two same-named cells apart: the value
/// of the first axis where they differ, as written in the matrix.
fn collision_span(raw: &RawRecipe, a: &Cell, b: &Cell) -> Option<Range<usize>> {
    let (axis, value) = a
        .values()
        .zip(b.values())
        .find(|(x, y)| x.1 != y.1)
        .map(|(_, y)| y)?;
    value_span(raw, axis, value)
}

/// Where `value` of `axis` is written: among the axis' values, else in an
/// `include` entry.
fn value_span(raw: &RawRecipe, axis: &str, value: &str) -> Option<Range<usize>> {
    let m = &raw.matrix.value;
    m.axes
        .iter()
        .filter(|(name, _)| name.value == axis)
        .flat_map(|(_, values)| values.value.iter())
        .chain(
            m.include
                .iter()
                .flat_map(|c| c.value.iter())
                .filter(|(k, _)| k.value == axis)
                .map(|(_, v)| v),
        )
        .find(|v| v.value == value)
        .map(|v| v.span.clone())
}

/// `a/b/../c` as `a/c`: a path as people would write it (no file system
/// is asked, so a link in it is not followed).
fn lexical(path: &camino::Utf8Path) -> Utf8PathBuf {
    let mut out = Utf8PathBuf::new();
    for part in path.components() {
        match part {
            camino::Utf8Component::CurDir => {}
            camino::Utf8Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Names that end up in file names and image names.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn is_axis_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{}G", n >> 30)
    } else {
        format!("{}M", n >> 20)
    }
}

/// An axis that no template reads, next to a word one does (`flavour`
/// beside `flavor`): most likely one of them is a typo. Not an error: an
/// axis may be there only to name images apart.
fn unread_axes(
    file: &Arc<SourceFile>,
    raw: &RawRecipe,
    image: &Image,
    verify: Option<&Verify>,
) -> Vec<Diagnostic> {
    let templates: Vec<&Template> = std::iter::once(&image.template)
        .chain(verify.map(|v| &v.template))
        .collect();
    let words: Vec<&str> = templates.iter().flat_map(|t| t.words()).collect();
    let mut warnings = Vec::new();
    for (name, _) in &raw.matrix.value.axes {
        let axis = name.value.as_str();
        if axis == "base" || words.contains(&axis) {
            continue;
        }
        if let Some(near) = recipe::suggest::closest(axis, words.iter().copied()) {
            warnings.push(
                Diagnostic::at(
                    file,
                    name.span.clone(),
                    format!("no template reads axis `{axis}`"),
                )
                .key(format!("matrix.{axis}"))
                .warning()
                .help(format!(
                    "the templates read `{near}`: is one of them a typo?"
                )),
            );
        }
    }
    warnings
}

/// `7d`, `365d`: a bound in the unit a recipe writes it in.
fn short_days(d: Duration) -> String {
    format!("{}d", d.as_secs() / (24 * 3600))
}

fn lowercase(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}
