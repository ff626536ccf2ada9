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

    pub fn base_ids(&self) -> impl Iterator<Item = BaseId> + use<> {
        (0..self.bases.len()).map(BaseId)
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

    /// Render every cell's template; identical problems are reported once.
    /// A render past its time or memory limit ends the check: the next
    /// cells would most likely do the same, each at that cost.
    pub fn check_templates(&self, secret_names: &[String]) -> Diagnostics {
        let mut found: IndexMap<(Option<String>, String), (Diagnostic, usize)> = IndexMap::new();
        for cell in &self.cells {
            let abandoned = |t: &Template| t.abandoned();
            if abandoned(&self.image.template)
                || self.verify.as_ref().is_some_and(|v| abandoned(&v.template))
            {
                break;
            }
            let verify = self.render_verify(cell, secret_names).and_then(Result::err);
            for d in self
                .render(cell, secret_names)
                .err()
                .into_iter()
                .chain(verify)
            {
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
        Diagnostics(
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
        )
    }
}
