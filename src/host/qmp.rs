//! A QEMU Machine Protocol client, just enough to ask a VM whether its guest
//! still runs. QEMU pauses a guest on a KVM internal error or a full disk and
//! keeps the process alive, so waiting for the process to exit is not enough.
//!
//! Written here rather than taken from a crate: the QMP crates on crates.io
//! are async (tokio) or generate the whole QAPI schema, and this needs one
//! handshake and one command over a blocking socket.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// A negotiated QMP connection.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connect to a QMP socket, read the greeting and leave negotiation mode.
    pub fn connect(path: &Path, timeout: Duration) -> std::io::Result<Qmp> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let writer = stream.try_clone()?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            return Err(invalid(format!(
                "expected the QMP greeting, got {greeting}"
            )));
        }
        qmp.execute("qmp_capabilities")?;
        Ok(qmp)
    }

    /// The run state of the guest: `running`, `paused`, `internal-error`,
    /// `io-error`, `guest-panicked`, `shutdown`, …
    pub fn status(&mut self) -> std::io::Result<String> {
        let answer = self.execute("query-status")?;
        answer["status"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| invalid(format!("query-status answered {answer}")))
    }

    /// Run a command without arguments; its `return` value. Events that
    /// arrive in between are skipped.
    fn execute(&mut self, command: &str) -> std::io::Result<Value> {
        let mut line = json!({ "execute": command }).to_string();
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        loop {
            let message = self.read_message()?;
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = message.get("error") {
                return Err(invalid(format!("{command} failed: {error}")));
            }
        }
    }

    fn read_message(&mut self) -> std::io::Result<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "QEMU closed the QMP connection",
            ));
        }
        serde_json::from_str(&line).map_err(|e| invalid(format!("invalid QMP message: {e}")))
    }
}

fn invalid(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A scripted QMP server: greeting, then the given answers in order.
    fn serve(dir: &Path, answers: Vec<&'static str>) -> std::path::PathBuf {
        let path = dir.join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            writeln!(
                writer,
                r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#
            )
            .unwrap();
            for answer in answers {
                let mut request = String::new();
                reader.read_line(&mut request).unwrap();
                writeln!(writer, "{answer}").unwrap();
            }
        });
        path
    }

    #[test]
    fn negotiates_and_reads_the_status_past_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = serve(
            dir.path(),
            vec![
                r#"{"return": {}}"#,
                "{\"event\": \"STOP\", \"timestamp\": {}}\n{\"return\": {\"status\": \"internal-error\", \"running\": false}}",
            ],
        );
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).unwrap();
        assert_eq!(qmp.status().unwrap(), "internal-error");
    }

    #[test]
    fn an_error_answer_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = serve(
            dir.path(),
            vec![r#"{"error": {"class": "GenericError", "desc": "no"}}"#],
        );
        let err = Qmp::connect(&path, Duration::from_secs(5))
            .err()
            .expect("negotiation fails");
        assert!(err.to_string().contains("qmp_capabilities failed"), "{err}");
    }
}
