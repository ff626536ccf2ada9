//! What a run shows while it works: a live multi-line view on a terminal
//! (one line per cell and per base: current step, elapsed, bytes), plain
//! timestamped lines otherwise (CI). Everything also goes to `run.log`,
//! and all of it through the [`Scrubber`] first.

use super::Progress;
use crate::output::Scrubber;
use crate::plan::PlannedStep;
use camino::Utf8Path;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

pub struct Reporter {
    live: Option<Live>,
    log: Option<std::fs::File>,
    /// Last percentage printed per row in plain mode (quarters only).
    printed: HashMap<String, u64>,
}

struct Live {
    multi: MultiProgress,
    rows: HashMap<String, (ProgressBar, Instant)>,
}

impl Reporter {
    pub fn new(live: bool, run_log: &Utf8Path) -> Self {
        Self::drawn_to(live.then(|| ProgressDrawTarget::stderr_with_hz(4)), run_log)
    }

    /// Only to `run_log`: the live view is drawn nowhere (the scheduler's
    /// tests, whose stderr the test harness does not capture).
    #[doc(hidden)]
    pub fn log_only(run_log: &Utf8Path) -> Self {
        Self::drawn_to(Some(ProgressDrawTarget::hidden()), run_log)
    }

    fn drawn_to(live: Option<ProgressDrawTarget>, run_log: &Utf8Path) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run_log)
            .ok();
        let live = live.map(|target| Live {
            multi: MultiProgress::with_draw_target(target),
            rows: HashMap::new(),
        });
        Self {
            live,
            log,
            printed: HashMap::new(),
        }
    }

    /// A message for the user, above the live view.
    pub fn line(&mut self, message: &str) {
        let message = &*Scrubber::global().scrub(message);
        let stamped = format!("{} {message}", now());
        if let Some(log) = &mut self.log {
            let _ = writeln!(log, "{stamped}");
        }
        match &self.live {
            Some(live) => {
                let _ = live.multi.println(message);
            }
            None => stderr_line(&stamped),
        }
    }

    fn write_log(&mut self, message: &str) {
        if let Some(log) = &mut self.log {
            let _ = writeln!(log, "{} {}", now(), Scrubber::global().scrub(message));
        }
    }

    pub fn started(&mut self, step: &PlannedStep, row: &str) {
        let message = format!("{}: started", label(step));
        self.write_log(&message);
        match &mut self.live {
            Some(live) => {
                let (bar, _) = live.rows.entry(row.to_owned()).or_insert_with(|| {
                    let bar = live.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {prefix:.bold} {wide_msg} {elapsed:>4}",
                        )
                        .expect("valid template"),
                    );
                    bar.set_prefix(Scrubber::global().scrub(row).into_owned());
                    bar.enable_steady_tick(Duration::from_millis(250));
                    (bar, Instant::now())
                });
                bar.set_message(step_label(step));
            }
            None => stderr_line(&format!("{} {message}", now())),
        }
    }

    pub fn progress(&mut self, step: &PlannedStep, row: &str, progress: &Progress) {
        match progress {
            Progress::Bytes(done, total) => {
                if let Some(live) = &self.live {
                    if let Some((bar, _)) = live.rows.get(row) {
                        let amount = match total {
                            Some(t) if *t > 0 => format!("{} / {}", mib(*done), mib(*t)),
                            _ => mib(*done),
                        };
                        bar.set_message(format!("{}  {amount}", step_label(step)));
                    }
                } else if let Some(total) = total.filter(|t| *t > 0) {
                    // Plain mode: a line at each quarter, not a flood.
                    let quarter = done * 4 / total;
                    let key = step.id.clone();
                    if self.printed.get(&key).is_none_or(|q| *q < quarter) && quarter > 0 {
                        self.printed.insert(key, quarter);
                        self.line(&format!(
                            "{}: {} of {} ({}%)",
                            label(step),
                            mib(*done),
                            mib(total),
                            quarter * 25
                        ));
                    }
                }
            }
            Progress::Note(note) => self.line(&format!("{}: {note}", label(step))),
            // On a terminal, what the guest is doing now, cut to the width
            // by the template's `wide_msg`; cron logs stay quiet.
            Progress::Console(line) => {
                if let Some((bar, _)) = self.live.as_ref().and_then(|l| l.rows.get(row)) {
                    bar.set_message(format!("{}  │ {line}", step_label(step)));
                }
            }
            Progress::Retry { attempt, error } => self.line(&format!(
                "{}: attempt {attempt} failed, retrying: {error}",
                label(step)
            )),
        }
    }

    pub fn finished(
        &mut self,
        step: &PlannedStep,
        row: &str,
        elapsed: Duration,
        error: Option<&str>,
    ) {
        let took = if elapsed < Duration::from_secs(1) {
            format!("{}ms", elapsed.as_millis())
        } else {
            humantime::format_duration(Duration::from_secs(elapsed.as_secs())).to_string()
        };
        let message = match error {
            None => format!("{}: done in {took}", label(step)),
            Some(e) => format!("{}: failed after {took}: {e}", label(step)),
        };
        self.write_log(&message);
        match &mut self.live {
            Some(live) => {
                if error.is_some() {
                    let _ = live.multi.println(Scrubber::global().scrub(&message));
                }
                // A base's line goes when it is fetched; a cell's in `cell_done`.
                if step.step.cell().is_none()
                    && let Some((bar, _)) = live.rows.remove(row)
                {
                    bar.finish_and_clear();
                }
            }
            None => stderr_line(&format!("{} {message}", now())),
        }
    }

    /// A cell has no more steps to run.
    pub fn cell_done(&mut self, row: &str, summary: &str) {
        self.write_log(&format!("{row}: {summary}"));
        if let Some(live) = &mut self.live
            && let Some((bar, _)) = live.rows.remove(row)
        {
            bar.finish_and_clear();
            let _ = live
                .multi
                .println(Scrubber::global().scrub(&format!("{row}: {summary}")));
        }
    }

    /// Remove the live view (before the result table is printed).
    pub fn clear(&mut self) {
        if let Some(live) = &mut self.live {
            for (_, (bar, _)) in live.rows.drain() {
                bar.finish_and_clear();
            }
            let _ = live.multi.clear();
        }
    }
}

fn step_label(step: &PlannedStep) -> String {
    step.name.to_owned()
}

/// `boot demo-bookworm-x64`, `upload demo-bookworm-x64@local`.
fn label(step: &PlannedStep) -> String {
    step.id.replacen(':', " ", 1)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn now() -> String {
    jiff::ZonedDateTime::now().strftime("%H:%M:%S").to_string()
}

/// A line on stderr, scrubbed; a closed stderr (`| head`) must not stop a
/// build.
fn stderr_line(line: &str) {
    Scrubber::global().stderr(&format!("{line}\n"));
}
