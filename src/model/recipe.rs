use super::{
    Base, BaseId, Build, Cell, CellId, Image, Matrix, Services, Target, TargetId, Template, Verify,
};
use crate::files::SourceFile;
use crate::output::{Diagnostic, Diagnostics};
use camino::Utf8PathBuf;
use indexmap::IndexMap;
use std::sync::Arc;

/// A validated recipe: every value checked, paths resolved, the matrix
/// expanded into cells (sorted by image name, names unique).
#[derive(Debug)]
pub struct Recipe {
    pub file: Arc<SourceFile>,
    /// Absolute directory of the recipe; relative paths resolve against it.
    pub dir: Utf8PathBuf,
    /// The recipe's `name`, else its file stem, e.g. `github-runner`: the
    /// owner mark of its images, its schedule entry, its runs' state.
    pub name: String,
    pub image: Image,
    pub bases: IndexMap<String, Base>,
    pub matrix: Matrix,
    pub build: Build,
    pub services: Services,
    pub vars: IndexMap<String, serde_json::Value>,
    pub targets: Vec<Target>,
    /// `[verify]`: when present, every built image boots once more first.
    pub verify: Option<Verify>,
    pub cells: Vec<Cell>,
    /// What `validate` says of the recipe without refusing it.
    pub warnings: Vec<Diagnostic>,
}

impl Recipe {
    pub fn cell(&self, image_name: &str) -> Option<&Cell> {
        self.cells.iter().find(|c| c.image_name == image_name)
    }

    pub fn cell_ids(&self) -> impl Iterator<Item = CellId> + use<> {
        (0..self.cells.len()).map(CellId)
    }

    pub fn target_ids(&self) -> impl Iterator<Item = TargetId> + use<> {
        (0..self.targets.len()).map(TargetId)
    }

    /// The base a cell is built from (the validator admits only cells whose
    /// `base` names one of the recipe's).
    pub fn base_of(&self, cell: CellId) -> BaseId {
        let name = self.cells[cell].base();
        BaseId(
            self.bases
                .get_index_of(name)
                .expect("a validated recipe's cells name its bases"),
        )
    }

    pub fn base_name(&self, base: BaseId) -> &str {
        self.bases.get_index(base.0).map_or("", |(n, _)| n.as_str())
    }

    /// The names of [`Recipe::template_context`]'s variables.
    pub fn variable_names(&self, cell: &Cell) -> Vec<String> {
        let mut names: Vec<String> = ["image_name", "prefix", "arch", "disk_size"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        names.extend(cell.values().map(|(axis, _)| axis.to_owned()));
        names.extend(
            ["cell", "vars", "services", "secret_names"]
                .into_iter()
                .map(str::to_owned),
        );
        names
    }

    /// The variables every cell defines: all a template may read.
    fn variables_of_every_cell(&self) -> Vec<String> {
        let mut cells = self.cells.iter();
        let Some(first) = cells.next() else {
            return Vec::new();
        };
        let mut names = self.variable_names(first);
        for cell in cells {
            let these = self.variable_names(cell);
            names.retain(|n| these.contains(n));
        }
        names
    }

    /// Template variables of one cell (see the README for the list).
    pub fn template_context(&self, cell: &Cell, secret_names: &[String]) -> tera::Context {
        let mut ctx = tera::Context::new();
        ctx.insert("image_name", &cell.image_name);
        ctx.insert("prefix", &self.image.prefix);
        ctx.insert("arch", self.image.arch.as_str());
        ctx.insert("disk_size", &self.image.disk_size_text);
        for (axis, value) in cell.values() {
            ctx.insert(axis.to_owned(), value);
        }
        ctx.insert("cell", cell);
        ctx.insert("vars", &self.vars);
        ctx.insert("services", &self.services);
        ctx.insert("secret_names", secret_names);
        debug_assert!(
            self.variable_names(cell)
                .iter()
                .all(|n| ctx.contains_key(n))
        );
        ctx
    }

    /// The cell's provisioning script.
    pub fn render(&self, cell: &Cell, secret_names: &[String]) -> Result<String, Diagnostic> {
        self.render_script(&self.image.template, cell, secret_names)
    }

    /// The cell's verify script, when the recipe has `[verify]`.
    pub fn render_verify(
        &self,
        cell: &Cell,
        secret_names: &[String],
    ) -> Option<Result<String, Diagnostic>> {
        let verify = self.verify.as_ref()?;
        Some(self.render_script(&verify.template, cell, secret_names))
    }

    fn render_script(
        &self,
        template: &Template,
        cell: &Cell,
        secret_names: &[String],
    ) -> Result<String, Diagnostic> {
        let script = template
            .render(self.template_context(cell, secret_names))
            .map_err(|d| Diagnostic {
                message: format!("{} (cell {})", d.message, cell.describe()),
                ..d
            })?;
        if !script.starts_with("#!") {
            return Err(Diagnostic::at(
                &template.file,
                0..0,
                format!(
                    "the template must render a script starting with `#!` (cell {})",
                    cell.describe()
                ),
            )
            .key(template.key)
            .help("start the template with a shebang line such as `#!/bin/bash`"));
        }
        Ok(script)
    }

    /// What [`Template::check`] finds in both templates, and whether each
    /// passed (the verify template, when there is one).
    pub fn check_names(&self) -> (Diagnostics, bool, bool) {
        let defined = self.variables_of_every_cell();
        let defined: Vec<&str> = defined.iter().map(String::as_str).collect();
        // The variables whose keys every cell has alike (`vars` is the
        // user's own, and a missing key of it fails the render).
        let keys = |v: serde_json::Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let fields = [
            (
                "cell",
                self.matrix.axis_names().map(str::to_owned).collect(),
            ),
            (
                "services",
                keys(serde_json::to_value(&self.services).expect("services serialize")),
            ),
        ];
        let mut problems = self.image.template.check(&defined, &fields);
        let image_ok = problems.is_empty();
        let verify_ok = match &self.verify {
            Some(v) => {
                let p = v.template.check(&defined, &fields);
                let ok = p.is_empty();
                problems.extend(p);
                ok
            }
            None => false,
        };
        (problems, image_ok, verify_ok)
    }

    /// Check every name and call of the templates, then render every
    /// cell's (those that passed); identical problems are reported once.
    /// A render past its time or memory limit ends the check: the next
    /// cells would most likely do the same, each at that cost.
    pub fn check_templates(&self, secret_names: &[String]) -> Diagnostics {
        let (mut problems, image_ok, verify_ok) = self.check_names();
        let mut found: IndexMap<(Option<String>, String), (Diagnostic, usize)> = IndexMap::new();
        for cell in &self.cells {
            let abandoned = |t: &Template| t.abandoned();
            if abandoned(&self.image.template)
                || self.verify.as_ref().is_some_and(|v| abandoned(&v.template))
            {
                break;
            }
            let provision = image_ok.then(|| self.render(cell, secret_names).err());
            let verify =
                verify_ok.then(|| self.render_verify(cell, secret_names).and_then(Result::err));
            for d in provision.flatten().into_iter().chain(verify.flatten()) {
                let message = d
                    .message
                    .rsplit_once(" (cell ")
                    .map_or(d.message.clone(), |(m, _)| m.to_owned());
                found
                    .entry((d.position(), message))
                    .and_modify(|(_, n)| *n += 1)
                    .or_insert((d, 1));
            }
        }
        problems.extend(Diagnostics(
            found
                .into_values()
                .map(|(d, n)| {
                    if n > 1 {
                        d.help(format!("the same problem occurs in {n} cells"))
                    } else {
                        d
                    }
                })
                .collect(),
        ));
        problems
    }
}
