use super::ScriptBuffer;
use super::template_scan::{Call, TemplateScan};
use super::tera_builtins::Callable;
use crate::files::SourceFile;
use crate::memory_budget::Budget;
use crate::output::{Diagnostic, Diagnostics};
use crate::recipe::suggest::did_you_mean;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tera::{Context, ErrorKind, Kwargs, State, Tera};

const NAME: &str = "template";

/// The largest script a template may render: far above a real provisioning
/// script (tens of KiB), far below what would strain memory.
pub const MAX_SCRIPT_BYTES: usize = 1 << 20;

/// The longest one cell's render may take. A real one takes milliseconds;
/// Tera has no limit of its own, so nested loops would run for ever.
pub const RENDER_TIME_LIMIT: Duration = Duration::from_secs(5);

/// The most memory one cell's render may take beyond its context: a value
/// doubled in a loop would otherwise take all there is, and then the
/// process aborts.
pub const RENDER_MEMORY_LIMIT: usize = 256 << 20;

/// A script template of a recipe (Tera syntax): the provisioning script
/// (`image.template`) or the verify script (`verify.template`).
pub struct Template {
    pub file: Arc<SourceFile>,
    /// The recipe key that names it, for diagnostics.
    pub key: &'static str,
    tera: Arc<Tera>,
    /// The variables it reads outside the loops and `set`s that define
    /// them, as Tera says.
    variables: Vec<String>,
    scan: TemplateScan,
    /// A render went past a limit and was left running or frozen, with the
    /// thread that renders: this template is not rendered again.
    abandoned: AtomicBool,
    worker: Mutex<Option<mpsc::Sender<Request>>>,
}

/// A cell's render for the worker: its context, its budget, where the
/// result goes.
type Request = (
    Context,
    Arc<Budget>,
    mpsc::Sender<(tera::TeraResult<()>, ScriptBuffer)>,
);

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("path", &self.file.path)
            .finish()
    }
}

impl Template {
    /// Parse the template; a syntax error points into the template file,
    /// and so do carriage returns: with them the guest would run
    /// `/bin/bash\r`.
    /// `key` is the recipe key that names it.
    pub fn parse(file: Arc<SourceFile>, key: &'static str) -> Result<Self, Diagnostics> {
        if let Some(at) = file.text.find('\r') {
            let lines = file.text.split('\n').filter(|l| l.contains('\r')).count();
            let lines = if lines == 1 {
                "1 line".to_owned()
            } else {
                format!("{lines} lines")
            };
            return Err(Diagnostic::at(
                &file,
                at..at + 1,
                format!(
                    "the template has Windows line endings (a carriage return on {lines}): \
                     the guest would run `/bin/bash\\r`"
                ),
            )
            .key(key)
            .help("save it with Unix line endings: `sed -i 's/\\r$//' FILE` or `dos2unix FILE`")
            .into());
        }
        let mut tera = Tera::new();
        tera.autoescape_on(Vec::<&str>::new());
        tera.register_filter("shell_quote", shell_quote);
        let scan = TemplateScan::of(&file.text);
        if let Err(error) = tera.add_raw_template(NAME, &file.text) {
            return Err(parse_error(&file, key, &scan, &error));
        }
        let mut variables: Vec<String> = tera
            .get_template_variables(NAME)
            .map(|v| v.into_iter().map(str::to_owned).collect())
            .unwrap_or_default();
        variables.sort_by_key(|v| {
            let at = scan.reads.iter().find(|(n, _)| n == v);
            (at.map_or(usize::MAX, |(_, s)| s.start), v.clone())
        });
        Ok(Self {
            file,
            key,
            tera: Arc::new(tera),
            variables,
            scan,
            abandoned: AtomicBool::new(false),
            worker: Mutex::new(None),
        })
    }

    /// Whether every name the template reads, on every branch, is in
    /// `defined` (the variables of every cell), and every filter, test and
    /// function is called with arguments it takes. A typo in an `if`
    /// would otherwise build the image without a word.
    /// `fields` are the variables whose keys are known (`cell`,
    /// `services`), with their keys: a `services.proxxy` is a typo too.
    pub fn check(&self, defined: &[&str], fields: &[(&str, Vec<String>)]) -> Diagnostics {
        let mut problems = Diagnostics::default();
        for (name, field, span) in &self.scan.fields {
            let Some((_, keys)) = fields.iter().find(|(n, _)| n == name) else {
                continue;
            };
            if !defined.contains(&name.as_str()) || keys.contains(field) {
                continue;
            }
            let mut d = Diagnostic::at(
                &self.file,
                span.clone(),
                format!("unknown key `{field}` of `{name}`"),
            )
            .key(self.key);
            if let Some(hint) = did_you_mean(field, keys.iter().map(String::as_str)) {
                d = d.help(hint);
            }
            problems.push(d.help(format!("`{name}` has {}", keys.join(", "))));
        }
        for name in &self.variables {
            if defined.contains(&name.as_str()) {
                continue;
            }
            let span = self
                .scan
                .reads
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0..0, |(_, s)| s.clone());
            let mut d = Diagnostic::at(&self.file, span, format!("unknown variable `{name}`"))
                .key(self.key);
            if let Some(hint) = did_you_mean(name, defined.iter().copied()) {
                d = d.help(hint);
            }
            let mut all = defined.to_vec();
            all.sort_unstable();
            problems.push(d.help(format!("the variables of every cell: {}", all.join(", "))));
        }
        for call in &self.scan.calls {
            let takes: Vec<String> = match call.kind.args(&call.name) {
                Some(args) => args.iter().map(|a| (*a).to_owned()).collect(),
                None => match self.component_args(call) {
                    Some(args) => args,
                    None => continue,
                },
            };
            let names: Vec<&str> = takes.iter().map(|a| a.trim_end_matches('!')).collect();
            let what = format!("{} `{}`", call.kind.as_str(), call.name);
            for (arg, span) in &call.args {
                if names.contains(&arg.as_str()) {
                    continue;
                }
                let mut d = Diagnostic::at(
                    &self.file,
                    span.clone(),
                    format!("unknown argument `{arg}` of {what}"),
                )
                .key(self.key);
                if let Some(hint) = did_you_mean(arg, names.iter().copied()) {
                    d = d.help(hint);
                }
                problems.push(d.help(takes_help(&what, &names)));
            }
            for required in takes.iter().filter_map(|a| a.strip_suffix('!')) {
                if !call.args.iter().any(|(a, _)| a == required) {
                    problems.push(
                        Diagnostic::at(
                            &self.file,
                            call.span.clone(),
                            format!("{what} needs the argument `{required}`"),
                        )
                        .key(self.key)
                        .help(match call.kind {
                            Callable::Component => {
                                format!("write it like `<{} {required}=… />`", call.name)
                            }
                            _ => format!("write it like `{}({required}=…)`", call.name),
                        }),
                    );
                }
            }
        }
        problems
    }

    /// The arguments a component call may give, as the builtins' are
    /// listed (a required one ends in `!`); `None` for another call, or a
    /// component that takes any (`...rest`).
    fn component_args(&self, call: &Call) -> Option<Vec<String>> {
        if call.kind != Callable::Component {
            return None;
        }
        let definition = self.tera.get_component_definition(&call.name)?;
        if definition.rest_param().is_some() {
            return None;
        }
        Some(
            definition
                .args()
                .iter()
                .filter(|a| !a.is_implicit())
                .map(|a| {
                    if a.is_required() {
                        format!("{}!", a.name())
                    } else {
                        a.name().to_owned()
                    }
                })
                .collect(),
        )
    }

    /// Every word the template reads, locals and attribute names included.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.scan.words.iter().map(String::as_str)
    }

    /// Render with a cell's context; an error points at the template line.
    /// The render runs on a thread of its own, bounded in output
    /// ([`MAX_SCRIPT_BYTES`]), time ([`RENDER_TIME_LIMIT`]) and memory
    /// ([`RENDER_MEMORY_LIMIT`]). Past the time or memory limit it cannot be
    /// stopped: it is left behind (running, or frozen at its next
    /// allocation) until pipeline exits, and the template is not rendered
    /// again.
    pub fn render(&self, context: Context) -> Result<String, Diagnostic> {
        if self.abandoned() {
            return Err(self.bound_error(
                "failed to render template: not tried, as an earlier render of it went past a limit",
                None,
            ));
        }
        let budget = Budget::new(RENDER_MEMORY_LIMIT);
        let (done, result) = mpsc::channel();
        let sent = self.worker().and_then(|w| {
            w.send((context, budget.clone(), done))
                .map_err(io::Error::other)
        });
        if let Err(e) = sent {
            return Err(self.bound_error(
                &format!("failed to render template: its thread did not start: {e}"),
                None,
            ));
        }
        let start = Instant::now();
        let (rendered, out) = loop {
            match result.recv_timeout(Duration::from_millis(10)) {
                Ok(finished) => break finished,
                Err(RecvTimeoutError::Timeout) if budget.exceeded() => {
                    self.abandoned.store(true, Ordering::Release);
                    return Err(self.bound_error(
                        &format!(
                            "failed to render template: it needed more than {} MiB of memory, \
                             the limit for one cell",
                            RENDER_MEMORY_LIMIT >> 20
                        ),
                        Some("a value that keeps growing, such as a string doubled in a loop?"),
                    ));
                }
                Err(RecvTimeoutError::Timeout) if start.elapsed() > RENDER_TIME_LIMIT => {
                    budget.stop();
                    self.abandoned.store(true, Ordering::Release);
                    return Err(self.bound_error(
                        &format!(
                            "failed to render template: still rendering after {}s, \
                             the limit for one cell",
                            RENDER_TIME_LIMIT.as_secs()
                        ),
                        Some("a loop that never ends, or nested loops that run far too often?"),
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // The thread panicked: the next render starts another.
                    *self.worker.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    return Err(
                        self.bound_error("failed to render template: the renderer crashed", None)
                    );
                }
            }
        };
        if out.overflowed {
            return Err(self.bound_error(
                &format!(
                    "failed to render template: the script is larger than {} MiB, the limit",
                    MAX_SCRIPT_BYTES >> 20
                ),
                None,
            ));
        }
        rendered.map_err(|error| {
            template_diagnostic(&self.file, self.key, &error, "failed to render template")
        })?;
        String::from_utf8(out.bytes).map_err(|_| {
            self.bound_error("failed to render template: the script is not UTF-8", None)
        })
    }

    /// The thread that renders this template, started at the first render.
    /// One for every cell, not one each: a thread costs more than most
    /// renders. It ends with the template (when its channel closes).
    fn worker(&self) -> io::Result<mpsc::Sender<Request>> {
        let mut worker = self.worker.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = worker.as_ref() {
            return Ok(w.clone());
        }
        let (requests, queue) = mpsc::channel::<Request>();
        let tera = self.tera.clone();
        std::thread::Builder::new()
            .name("render".to_owned())
            // As much stack as the main thread, where renders used to run.
            .stack_size(8 << 20)
            .spawn(move || {
                for (context, budget, done) in queue {
                    budget.run(|| {
                        let mut out = ScriptBuffer::new(MAX_SCRIPT_BYTES);
                        let rendered = tera.render_to(NAME, &context, &mut out);
                        let _ = done.send((rendered, out));
                    })
                }
            })?;
        *worker = Some(requests.clone());
        Ok(requests)
    }

    /// Whether a render went past its time or memory limit.
    pub fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Acquire)
    }

    /// A problem of the render as a whole: no line of the template to show.
    fn bound_error(&self, message: &str, help: Option<&str>) -> Diagnostic {
        let d = Diagnostic::at(&self.file, 0..0, message).key(self.key);
        match help {
            Some(help) => d.help(help),
            None => d,
        }
    }
}

/// `{{ value | shell_quote }}`: a single shell word, quoted only when needed.
fn shell_quote(value: &str, _: Kwargs, _: &State) -> String {
    shlex::try_quote(value)
        .map(|q| q.into_owned())
        // Only a NUL byte makes quoting impossible; it cannot be in a script.
        .unwrap_or_else(|_| "''".to_owned())
}

/// "`join` takes `sep`", for a help line.
fn takes_help(what: &str, names: &[&str]) -> String {
    if names.is_empty() {
        format!("{what} takes no arguments")
    } else {
        let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        format!("{what} takes {}", names.join(", "))
    }
}

/// Why Tera refused the template. Two of its errors are said better with
/// the scan: a template that ends inside a block points at the block's
/// opening tag, not at the end; an unknown filter, test or function is
/// named where it is called, with the near miss.
fn parse_error(
    file: &Arc<SourceFile>,
    key: &str,
    scan: &TemplateScan,
    error: &tera::Error,
) -> Diagnostics {
    let at_end = matches!(error.kind(), ErrorKind::SyntaxError(r)
        if r.message().to_lowercase().contains("end of input"));
    if at_end && let Some((word, span, closer)) = &scan.unclosed {
        return Diagnostic::at(
            file,
            span.clone(),
            format!("invalid template: this `{{% {word} %}}` is never closed"),
        )
        .key(key)
        .help(format!("the template ends before its `{closer}`"))
        .into();
    }
    if matches!(error.kind(), ErrorKind::Msg(_)) {
        let mut problems = Diagnostics::default();
        for call in &scan.calls {
            if call.kind.args(&call.name).is_some() {
                continue;
            }
            let what = call.kind.as_str();
            let mut d = Diagnostic::at(
                file,
                call.span.clone(),
                format!("invalid template: unknown {what} `{}`", call.name),
            )
            .key(key);
            // The near miss, or else every name there is.
            d = match did_you_mean(&call.name, call.kind.names()) {
                Some(hint) => d.help(hint),
                None => {
                    let names: Vec<&str> = call.kind.names().collect();
                    d.help(format!("{what}s: {}", names.join(", ")))
                }
            };
            problems.push(d);
        }
        if !problems.is_empty() {
            return problems;
        }
    }
    template_diagnostic(file, key, error, "invalid template").into()
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
        .map_err(|d| d.0.into_iter().next().expect("a problem"))
    }

    fn check(text: &str) -> Vec<(String, String)> {
        let t = template(text).unwrap();
        let fields = [("services", vec!["proxy".to_owned()])];
        t.check(&["image_name", "flavor", "vars", "services"], &fields)
            .0
            .into_iter()
            .map(|d| (d.position().unwrap(), d.message))
            .collect()
    }

    #[test]
    fn every_name_on_every_branch_must_be_defined() {
        assert_eq!(
            check("#!/bin/sh\n{% if flavour == \"full\" %}\n{{ image_name }}{% endif %}\n"),
            [(
                "t.sh.tera:2:7".to_owned(),
                "unknown variable `flavour`".to_owned()
            )]
        );
        assert_eq!(
            check("#!/bin/sh\n{{ flavour | shell_quote }}"),
            [(
                "t.sh.tera:2:4".to_owned(),
                "unknown variable `flavour`".to_owned()
            )]
        );
        assert!(check("{% for f in vars.list %}{{ f }}{% endfor %}{{ flavor }}").is_empty());
    }

    #[test]
    fn known_keys_are_checked() {
        assert_eq!(
            check("{{ services.proxy }}{% if services.proxxy %}{% endif %}{{ vars.anything }}"),
            [(
                "t.sh.tera:1:36".to_owned(),
                "unknown key `proxxy` of `services`".to_owned()
            )]
        );
    }

    #[test]
    fn arguments_are_checked() {
        assert_eq!(
            check("{{ image_name | shell_quote(x=1) }}{{ vars | default() }}"),
            [
                (
                    "t.sh.tera:1:29".to_owned(),
                    "unknown argument `x` of filter `shell_quote`".to_owned()
                ),
                (
                    "t.sh.tera:1:46".to_owned(),
                    "filter `default` needs the argument `value`".to_owned()
                ),
            ]
        );
    }

    /// The scan finds, where they are, exactly the names Tera says a
    /// template reads at the top level: on the shipped templates and on
    /// the constructs that define names.
    #[test]
    fn the_scan_agrees_with_tera_on_what_is_read() {
        let mut texts: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/templates"))
                .unwrap()
                .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect();
        assert!(texts.len() >= 2);
        texts.extend(
            [
                "{% for x, y in items | sort(attribute=k) %}{{ x }}{{ loop.index }}{{ z }}{% endfor %}{{ x }}",
                "{% set s = t %}{{ s }}{% set_global g = 1 %}{{ g }}{% set b %}{{ s }}{% endset %}{{ b }}",
                "{{ [q for q in qs if q > z] }}{{ m if n else o }}{{ not p }}{{ \"{{ s }}\" }}{{ a.b?.c[d] }}",
                "{# {{ c }} #}{% raw %}{{ r }}{% endraw %}{{- d -}}{%- if e -%}{% elif f %}{% else %}{% endif %}",
                "{% filter upper %}{{ u }}{% endfilter %}{% if 3 is not divisible_by(divisor=w) %}{% endif %}",
            ]
            .map(str::to_owned),
        );
        for text in texts {
            let t = template(&text).unwrap();
            let mut scanned: Vec<&str> = t.scan.reads.iter().map(|(n, _)| n.as_str()).collect();
            scanned.sort_unstable();
            scanned.dedup();
            let mut tera: Vec<&str> = t.variables.iter().map(String::as_str).collect();
            tera.sort_unstable();
            assert_eq!(scanned, tera, "{text}");
        }
    }

    #[test]
    fn component_calls_give_the_arguments_it_takes() {
        assert_eq!(
            check(
                "{% component Pkg(name, version=\"\") %}{{ name }}{{ version }}{% endcomponent Pkg %}\
                 {{ <Pkg name={image_name} vesion=\"1\" /> }}{{ <Pkg version=\"2\" /> }}"
            ),
            [
                (
                    "t.sh.tera:1:109".to_owned(),
                    "unknown argument `vesion` of component `Pkg`".to_owned()
                ),
                (
                    "t.sh.tera:1:129".to_owned(),
                    "component `Pkg` needs the argument `name`".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn an_unclosed_block_points_at_its_tag() {
        let d = template("#!/bin/sh\n{% if flavor %}\necho\n").unwrap_err();
        assert_eq!(d.position().unwrap(), "t.sh.tera:2:4");
        assert_eq!(
            d.message,
            "invalid template: this `{% if %}` is never closed"
        );
        let d = template("#!/bin/sh\n{{ flavor | shell_quot }}\n").unwrap_err();
        assert_eq!(d.position().unwrap(), "t.sh.tera:2:13");
        assert_eq!(d.help[0], "did you mean `shell_quote`?");
    }

    #[test]
    fn renders_and_quotes() {
        let t = template("#!/bin/sh\nx={{ v | shell_quote }}\n").unwrap();
        let mut ctx = Context::new();
        ctx.insert("v", "a b'c");
        assert_eq!(t.render(ctx).unwrap(), "#!/bin/sh\nx=\"a b'c\"\n");
    }

    #[test]
    fn syntax_error_points_into_the_template() {
        let d = template("#!/bin/sh\necho {{ oops \n").unwrap_err();
        assert_eq!(d.position().unwrap().split(':').nth(1), Some("2"));
    }

    #[test]
    fn unknown_variable_points_at_its_line() {
        let t = template("#!/bin/sh\n\necho {{ missing }}\n").unwrap();
        let d = t.render(Context::new()).unwrap_err();
        assert_eq!(d.position().unwrap(), "t.sh.tera:3:9");
    }

    #[test]
    fn carriage_returns_are_refused_where_the_first_is() {
        let d = template("#!/bin/bash\r\necho a\r\necho b\n").unwrap_err();
        assert_eq!(d.position().unwrap(), "t.sh.tera:1:12");
        assert_eq!(
            d.message,
            "the template has Windows line endings (a carriage return on 2 lines): \
             the guest would run `/bin/bash\\r`"
        );
    }

    #[test]
    fn a_script_past_the_size_limit_is_refused() {
        // 2^20 + 1 bytes, written a few at a time.
        let t = template(
            "#!{% for i in range(end=1024) %}{% for j in range(end=1024) %}x{% endfor %}{% endfor %}",
        )
        .unwrap();
        let d = t.render(Context::new()).unwrap_err();
        assert_eq!(
            d.message,
            "failed to render template: the script is larger than 1 MiB, the limit"
        );
        // Nothing was left running: the template renders again.
        assert!(!t.abandoned());
    }

    #[test]
    fn a_value_that_grows_without_end_is_stopped_at_the_memory_limit() {
        let t = template(
            "{% set_global s = \"x\" %}{% for i in range(end=64) %}{% set_global s = s ~ s %}{% endfor %}{{ s }}",
        )
        .unwrap();
        let start = Instant::now();
        let d = t.render(Context::new()).unwrap_err();
        assert!(start.elapsed() < RENDER_TIME_LIMIT, "{d}");
        assert_eq!(
            d.message,
            "failed to render template: it needed more than 256 MiB of memory, the limit for one cell"
        );
        assert!(t.abandoned());
        let again = t.render(Context::new()).unwrap_err();
        assert!(
            again
                .message
                .ends_with("not tried, as an earlier render of it went past a limit"),
            "{again}"
        );
    }
}
