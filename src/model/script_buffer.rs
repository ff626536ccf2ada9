use std::io::{self, Write};

/// What a render writes into: refused past `limit` bytes, so that a template
/// that writes without end fails instead of filling memory.
#[derive(Debug)]
pub struct ScriptBuffer {
    pub bytes: Vec<u8>,
    limit: usize,
    /// Whether a write went past the limit.
    pub overflowed: bool,
}

impl ScriptBuffer {
    pub fn new(limit: usize) -> Self {
        ScriptBuffer {
            bytes: Vec::new(),
            limit,
            overflowed: false,
        }
    }
}

impl Write for ScriptBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > self.limit {
            self.overflowed = true;
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "the script is too large",
            ));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_write_past_the_limit() {
        let mut b = ScriptBuffer::new(4);
        b.write_all(b"abc").unwrap();
        assert!(b.write_all(b"de").is_err());
        assert!(b.overflowed);
        assert_eq!(b.bytes, b"abc");
    }
}
