/// Why the KVM probe (see `kvm_probe`) did not pass: `at` is where the
/// guest got to, `said` QEMU's first line of output, if any.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("failed to create a temp dir: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("failed to write the probe disk: {0}")]
    Disk(#[source] std::io::Error),
    /// QEMU did not start, or could not be waited for.
    #[error("{message}")]
    Qemu { message: String },
    #[error("the probe guest took a CPU exception {at}")]
    Exception { at: &'static str },
    #[error("the probe exited with {} {at}{}", exited(*.code), colon_line(.said))]
    Exited {
        code: Option<i32>,
        at: &'static str,
        said: Option<String>,
    },
    #[error("QEMU stopped the probe guest ({state}) {at}{}", colon_line(.said))]
    Stopped {
        state: String,
        at: &'static str,
        said: Option<String>,
    },
    #[error("the probe guest did not finish within {secs}s; it hung {at}{}", colon_line(.said))]
    Hung {
        secs: u64,
        at: &'static str,
        said: Option<String>,
    },
}

fn exited(code: Option<i32>) -> String {
    code.map_or("a signal".to_owned(), |c| format!("status {c}"))
}

fn colon_line(line: &Option<String>) -> String {
    line.as_ref().map_or_else(String::new, |l| format!(": {l}"))
}
