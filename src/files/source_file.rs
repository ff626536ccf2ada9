use crate::files::{MAX_TEXT_BYTES, RegularFile};
use camino::{Utf8Path, Utf8PathBuf};
use std::ops::Range;

/// A file the user wrote (a recipe or a template), kept whole so that
/// diagnostics can point into it.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user should see it (relative when they gave it so).
    pub path: Utf8PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<Utf8PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    /// Read a file the user named: a regular file of at most
    /// [`MAX_TEXT_BYTES`](crate::files::MAX_TEXT_BYTES).
    pub fn read(path: &Utf8Path) -> std::io::Result<Self> {
        let text = RegularFile::read_text(path.as_std_path(), MAX_TEXT_BYTES)?;
        Ok(Self::new(path, text))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// Clamp a span so that it always lies inside the text and on char boundaries.
    pub fn clamp(&self, span: Range<usize>) -> Range<usize> {
        let mut start = span.start.min(self.text.len());
        let mut end = span.end.clamp(start, self.text.len());
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        start..end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let file = SourceFile::new("r.toml", "a = 1\nbé = 2\n");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(6), (2, 1));
        assert_eq!(file.line_col(9), (2, 3));
    }
}
