use crate::files::SourceFile;
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// Where a problem is: a span in a file the user wrote.
#[derive(Debug, Clone)]
pub struct Location {
    pub file: Arc<SourceFile>,
    pub span: Range<usize>,
}

/// One problem with the user's input, rendered like a compiler error:
/// file:line:col, the offending line, and the key it concerns.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Lowercase, fits after "failed to …"-style context; names the key.
    pub message: String,
    /// Dotted key path in the recipe, e.g. `matrix.juju[1]`.
    pub key: Option<String>,
    pub location: Option<Location>,
    pub help: Vec<String>,
    /// Worth saying, but no reason to refuse the input.
    pub warning: bool,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            key: None,
            location: None,
            help: Vec::new(),
            warning: false,
        }
    }

    pub fn at(file: &Arc<SourceFile>, span: Range<usize>, message: impl Into<String>) -> Self {
        let span = file.clamp(span);
        Self {
            location: Some(Location {
                file: file.clone(),
                span,
            }),
            ..Self::new(message)
        }
    }

    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// A warning rather than an error.
    pub fn warning(mut self) -> Self {
        self.warning = true;
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    /// `file:line:col`, when the problem has a location.
    pub fn position(&self) -> Option<String> {
        let loc = self.location.as_ref()?;
        let (line, col) = loc.file.line_col(loc.span.start);
        Some(format!("{}:{line}:{col}", loc.file.path))
    }

    pub fn render(&self, renderer: &Renderer) -> String {
        let label = self.key.as_deref().map(|k| format!("key `{k}`"));
        let level = if self.warning {
            Level::WARNING
        } else {
            Level::ERROR
        };
        let mut group = Group::with_title(level.primary_title(&self.message));
        // A recipe line can hold a secret: the snippet shows it scrubbed,
        // with the span moved to match.
        let scrubbed = self.location.as_ref().map(|loc| {
            crate::output::Scrubber::global().scrub_with_span(&loc.file.text, loc.span.clone())
        });
        if let (Some(loc), Some((text, span))) = (&self.location, &scrubbed) {
            let mut annotation = AnnotationKind::Primary.span(span.clone());
            if let Some(label) = &label {
                annotation = annotation.label(label);
            }
            group = group.element(
                Snippet::source(text.as_str())
                    .path(loc.file.path.as_str())
                    .fold(true)
                    .annotation(annotation),
            );
        } else if let Some(label) = &label {
            group = group.element(Level::NOTE.message(label));
        }
        for help in &self.help {
            group = group.element(Level::HELP.message(help));
        }
        renderer.render(&[group])
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&Renderer::plain()))
    }
}

/// Every problem found in one pass over the input (not just the first).
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// `Err(self)` when anything was found, else `Ok(value)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    pub fn render(&self, renderer: &Renderer) -> String {
        let mut out = String::new();
        for d in &self.0 {
            out.push_str(&d.render(renderer));
            out.push_str("\n\n");
        }
        let n = self.0.len();
        out.push_str(&format!(
            "{n} problem{} found",
            if n == 1 { "" } else { "s" }
        ));
        out
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&Renderer::plain()))
    }
}

impl std::error::Error for Diagnostics {}
