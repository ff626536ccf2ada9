use crate::guest::{CheckLine, Report};
use crate::step::{StepError, StepResult};
use serde_json::{Value, json};
use std::time::Duration;

/// What a verify boot showed: pipeline's own checks of a fresh instance
/// and the recipe's verify script all passed.
#[derive(Debug, Clone)]
pub struct Verified {
    pub elapsed: Duration,
    /// pipeline's checks, as the guest reported them.
    pub checks: Vec<String>,
}

impl Verified {
    /// The verdict in a verify boot's final result lines. `evidence`
    /// says what the console showed.
    pub fn judge(
        report: &Report,
        elapsed: Duration,
        evidence: &dyn Fn() -> String,
    ) -> StepResult<Verified> {
        let result = report.result();
        let checks = report.checks();
        let failed: Vec<&CheckLine> = checks.iter().filter(|c| !c.ok).collect();
        let script = result.script.unwrap_or(-1);
        if failed.is_empty() && script == 0 && result.checks == Some(0) {
            return Ok(Verified {
                elapsed,
                checks: checks.into_iter().map(|c| c.text).collect(),
            });
        }
        let mut why = Vec::new();
        if !failed.is_empty() {
            let lines: Vec<String> = failed.iter().map(|c| format!("  {}", c.text)).collect();
            why.push(format!(
                "{} of pipeline's checks failed:\n{}",
                failed.len(),
                lines.join("\n")
            ));
        } else if result.checks != Some(0) {
            why.push("pipeline's checks did not all report".to_owned());
        }
        if script != 0 {
            why.push(format!("the verify script exited with {script}"));
        }
        let evidence = evidence();
        // What the script said failed ends the message, after the console:
        // that is what a reader looks for first.
        let said: Vec<&str> = evidence
            .lines()
            .map(str::trim)
            .filter(|l| script != 0 && l.contains("FAILED"))
            .collect();
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(
                "\nthe verify script's failed checks:\n  {}",
                said.join("\n  ")
            )
        };
        Err(StepError::permanent(format!(
            "the image failed verification, so no target gets it: {}\n{evidence}{said}",
            why.join("\n"),
        )))
    }

    /// What the manifest records.
    pub fn record(&self) -> Value {
        json!({
            "result": "passed",
            "seconds": (self.elapsed.as_secs_f64() * 10.0).round() / 10.0,
            "checks": self.checks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::Purpose;

    fn judge(lines: &str) -> StepResult<Verified> {
        let mut report = Report::new("n", Purpose::Verify);
        report.feed(lines.as_bytes());
        assert!(report.is_final());
        Verified::judge(&report, Duration::from_secs(3), &|| "console".into())
    }

    #[test]
    fn passes_only_when_every_check_and_the_script_pass() {
        let ok = judge(
            "PIPELINE_CHECK n ok a\nPIPELINE_RESULT n checks=0\nPIPELINE_RESULT n script=0\n",
        )
        .unwrap();
        assert_eq!(ok.checks, ["a"]);
        assert_eq!(ok.record()["seconds"], 3.0);
        let err = judge(
            "PIPELINE_CHECK n fail disk too small\nPIPELINE_RESULT n checks=1\nPIPELINE_RESULT n script=3\n",
        )
        .unwrap_err();
        assert_eq!(
            err.message,
            "the image failed verification, so no target gets it: 1 of pipeline's checks failed:\n  disk too small\nthe verify script exited with 3\nconsole"
        );
        let mut report = Report::new("n", Purpose::Verify);
        report.feed(b"PIPELINE_RESULT n checks=0\nPIPELINE_RESULT n script=1\n");
        let console = "last console lines:\nchecking a\nFAILED: a is missing\nchecking b\n1 of 2 checks FAILED:";
        let err = Verified::judge(&report, Duration::from_secs(3), &|| console.into()).unwrap_err();
        assert!(
            err.message.ends_with(
                "checking b\n1 of 2 checks FAILED:\nthe verify script's failed checks:\n  FAILED: a is missing\n  1 of 2 checks FAILED:"
            ),
            "{}",
            err.message
        );
        let err = judge("PIPELINE_RESULT n script=0\n").unwrap_err();
        assert!(
            err.message.contains("did not all report"),
            "{}",
            err.message
        );
    }
}
