use crate::diagnostic::Diagnostic;
use crate::source_file::SourceFile;
use std::sync::Arc;
use tera::{Context, ErrorKind, Kwargs, State, Tera};

const NAME: &str = "template";

/// A script template of a recipe (Tera syntax): the provisioning script
/// (`image.template`) or the verify script (`verify.template`).
pub struct Template {
    pub file: Arc<SourceFile>,
    /// The recipe key that names it, for diagnostics.
    pub key: &'static str,
    tera: Tera,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("path", &self.file.path)
            .finish()
    }
}

impl Template {
    /// Parse the template named by the recipe key `key`; a syntax error
    /// points into the template file.
    pub fn parse(file: Arc<SourceFile>, key: &'static str) -> Result<Self, Diagnostic> {
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        tera.register_filter("shell_quote", shell_quote);
        match tera.add_raw_template(NAME, &file.text) {
            Ok(()) => Ok(Self { file, key, tera }),
            Err(error) => Err(template_diagnostic(&file, key, &error, "invalid template")),
        }
    }

    /// Render with a cell's context; an error points at the template line.
    pub fn render(&self, context: &Context) -> Result<String, Diagnostic> {
        self.tera.render(NAME, context).map_err(|error| {
            template_diagnostic(&self.file, self.key, &error, "failed to render template")
        })
    }
}

/// `{{ value | shell_quote }}`: a single shell word, quoted only when needed.
fn shell_quote(value: &str, _: Kwargs, _: &State) -> String {
    shlex::try_quote(value)
        .map(|q| q.into_owned())
        // Only a NUL byte makes quoting impossible; it cannot be in a script.
        .unwrap_or_else(|_| "''".to_owned())
}

fn template_diagnostic(
    file: &Arc<SourceFile>,
    key: &str,
    error: &tera::Error,
    what: &str,
) -> Diagnostic {
    let report = match error.kind() {
        ErrorKind::SyntaxError(report) | ErrorKind::RenderingError(report) => Some(report),
        _ => None,
    };
    let message = match report {
        Some(report) => report.message().to_owned(),
        None => error.to_string(),
    };
    let message = format!("{what}: {}", lowercase_first(message.trim_end_matches('.')));
    match report {
        Some(report) => Diagnostic::at(file, report.span().range.clone(), message),
        None => Diagnostic::at(file, 0..0, message),
    }
    .key(key)
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(text: &str) -> Result<Template, Diagnostic> {
        Template::parse(
            Arc::new(SourceFile::new("t.sh.tera", text)),
            "image.template",
        )
    }

    #[test]
    fn renders_and_quotes() {
        let t = template("#!/bin/sh\nx={{ v | shell_quote }}\n").unwrap();
        let mut ctx = Context::new();
        ctx.insert("v", "a b'c");
        assert_eq!(t.render(&ctx).unwrap(), "#!/bin/sh\nx=\"a b'c\"\n");
    }

    #[test]
    fn syntax_error_points_into_the_template() {
        let d = template("#!/bin/sh\necho {{ oops \n").unwrap_err();
        assert_eq!(d.position().unwrap().split(':').nth(1), Some("2"));
    }

    #[test]
    fn unknown_variable_points_at_its_line() {
        let t = template("#!/bin/sh\n\necho {{ missing }}\n").unwrap();
        let d = t.render(&Context::new()).unwrap_err();
        assert_eq!(d.position().unwrap(), "t.sh.tera:3:9");
    }
}
