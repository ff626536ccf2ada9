//! A writer that passes what it writes through the process's
//! [`Scrubber`], line by line, for output that is streamed rather than
//! formatted whole (`plan --json` of a large matrix).

use crate::output::Scrubber;
use std::io::{self, Write};

/// Holds back the current line until its end (a value or a URL cut in two
/// by a write would slip through), then writes it scrubbed. Memory is one
/// line.
pub struct ScrubbingWriter<W: Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: Write> ScrubbingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            line: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> io::Result<()> {
        let text = String::from_utf8_lossy(&self.line[..upto]);
        let scrubbed = Scrubber::global().scrub(&text).into_owned();
        self.inner.write_all(scrubbed.as_bytes())?;
        self.line.drain(..upto);
        Ok(())
    }
}

impl<W: Write> Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        if let Some(last) = self.line.iter().rposition(|&b| b == b'\n') {
            self.emit(last + 1)?;
        }
        Ok(buf.len())
    }

    /// Writes the unfinished line too: a flush is where the output ends.
    fn flush(&mut self) -> io::Result<()> {
        let all = self.line.len();
        self.emit(all)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for ScrubbingWriter<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_split_across_writes_is_still_scrubbed() {
        let mut out = Vec::new();
        {
            let mut w = ScrubbingWriter::new(&mut out);
            w.write_all(b"{\"url\": \"https://us").unwrap();
            w.write_all(b"er:pw@host/x\"}\nnext").unwrap();
            w.flush().unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"url\": \"https://host/x\"}\nnext"
        );
    }
}
