//! Where a template uses what: the names it reads, the filters, tests and
//! functions it calls with their arguments, and the block it leaves open.
//!
//! Tera 2 keeps its lexer and syntax tree private, and its one public view
//! (`Tera::get_template_variables`) names the variables without saying
//! where they are. So this is a token scan of the tags (`{{ }}`, `{% %}`;
//! strings, comments and `{% raw %}` skipped) that tracks the scopes that
//! define names (`for`, `set`, components, comprehensions): Tera stays the
//! authority on *which* names a template reads at the top level, the scan
//! says *where*. It runs on templates Tera has parsed, or failed to parse
//! only at the end.

use super::tera_builtins::Callable;
use std::collections::HashSet;
use std::ops::Range;

/// Words of Tera's expressions that are never a variable.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "is", "if", "else", "for", "true", "false", "True", "False", "none",
    "None", "null",
];

/// A call in a template: `| name(args)`, `is name(args)` or `name(args)`.
#[derive(Debug, Clone)]
pub struct Call {
    pub kind: Callable,
    pub name: String,
    pub span: Range<usize>,
    /// Keyword arguments as written, each with the span of its name.
    pub args: Vec<(String, Range<usize>)>,
}

/// What a scan of one template found.
#[derive(Debug, Clone, Default)]
pub struct TemplateScan {
    /// Names read where no enclosing loop, `set` or component defines
    /// them, in order, with the span of each read.
    pub reads: Vec<(String, Range<usize>)>,
    /// Every word read, local or not, attribute names (`cell.flavor`)
    /// included.
    pub words: HashSet<String>,
    pub calls: Vec<Call>,
    /// `name.field` where `name` is read as above: the name, the field,
    /// and the span of the field.
    pub fields: Vec<(String, String, Range<usize>)>,
    /// The innermost block left open at the end: its tag word as written
    /// (`if`, `for`, …), the span of that word, and the tag that closes it.
    pub unclosed: Option<(String, Range<usize>, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok<'a> {
    Ident(&'a str),
    Literal,
    Punct(&'a str),
}

#[derive(Debug, Clone)]
struct Token<'a> {
    tok: Tok<'a>,
    span: Range<usize>,
}

struct Tag<'a> {
    /// `{% %}` rather than `{{ }}`.
    block: bool,
    tokens: Vec<Token<'a>>,
    /// The tag reaches the end of the template without its `}}` or `%}`.
    unterminated: bool,
}

/// An open block: its word, where, the tag that closes it, whether it
/// opened a scope, and a `{% set NAME %}` block's name.
struct Open {
    word: String,
    span: Range<usize>,
    closer: String,
    scoped: bool,
    sets: Option<(String, bool)>,
}

impl TemplateScan {
    pub fn of(source: &str) -> Self {
        let mut scan = Scanner {
            out: TemplateScan::default(),
            scopes: vec![HashSet::new()],
            open: Vec::new(),
        };
        let tags = tags(source);
        let unterminated = tags.last().is_some_and(|t| t.unterminated);
        for tag in &tags {
            scan.tag(tag);
        }
        let mut out = scan.out;
        if !unterminated {
            out.unclosed = scan.open.pop().map(|o| (o.word, o.span, o.closer));
        }
        out
    }
}

struct Scanner {
    out: TemplateScan,
    /// Names defined by enclosing loops, `set`s and components; the first
    /// is the template's own (`set` at the top, `set_global`).
    scopes: Vec<HashSet<String>>,
    open: Vec<Open>,
}

impl Scanner {
    fn tag(&mut self, tag: &Tag) {
        let t = &tag.tokens;
        if !tag.block {
            self.expression(t, &HashSet::new());
            return;
        }
        let Some(first) = t.first() else { return };
        let word = match first.tok {
            Tok::Ident(w) => w,
            Tok::Punct("<") => {
                // `{% <Card title="x"> %}`: a component call with a body.
                self.expression(&t[1..], &HashSet::new());
                let self_closing = t.len() >= 2 && t[t.len() - 2].tok == Tok::Punct("/");
                if !self_closing {
                    let name = ident(t.get(1)).unwrap_or("");
                    self.push(Open {
                        word: format!("<{name}>"),
                        span: first.span.start..t.get(1).map_or(first.span.end, |n| n.span.end),
                        closer: format!("{{% </{name}> %}}"),
                        scoped: false,
                        sets: None,
                    });
                }
                return;
            }
            Tok::Punct("</") => {
                self.close(|w| w.starts_with('<'));
                return;
            }
            _ => return self.expression(t, &HashSet::new()),
        };
        let rest = &t[1..];
        let open = |closer: &str, scoped| Open {
            word: word.to_owned(),
            span: first.span.clone(),
            closer: closer.to_owned(),
            scoped,
            sets: None,
        };
        match word {
            "for" => {
                let at_in = rest
                    .iter()
                    .position(|k| k.tok == Tok::Ident("in"))
                    .unwrap_or(rest.len());
                let mut names: HashSet<String> = rest[..at_in]
                    .iter()
                    .filter_map(|k| ident(Some(k)))
                    .map(str::to_owned)
                    .collect();
                names.insert("loop".to_owned());
                self.expression(rest.get(at_in + 1..).unwrap_or(&[]), &HashSet::new());
                self.push(open("{% endfor %}", true));
                self.scopes.push(names);
            }
            "if" => {
                self.expression(rest, &HashSet::new());
                self.push(open("{% endif %}", false));
            }
            "elif" => self.expression(rest, &HashSet::new()),
            "set" | "set_global" => {
                let global = word == "set_global";
                let name = ident(rest.first()).unwrap_or("").to_owned();
                if rest.get(1).is_some_and(|k| k.tok == Tok::Punct("=")) {
                    self.expression(&rest[2..], &HashSet::new());
                    self.define(name, global);
                } else {
                    self.expression(rest.get(1..).unwrap_or(&[]), &HashSet::new());
                    let mut o = open("{% endset %}", false);
                    o.sets = Some((name, global));
                    self.push(o);
                }
            }
            "filter" => {
                if let Some(name) = ident(rest.first()) {
                    self.call(Callable::Filter, name, rest, 0);
                }
                self.push(open("{% endfilter %}", false));
            }
            "block" => {
                let name = ident(rest.first()).unwrap_or("");
                self.push(open(&format!("{{% endblock {name} %}}"), false));
            }
            "component" => {
                // `{% component Name(arg, other="default", typed: String) %}`
                let name = ident(rest.first()).unwrap_or("");
                let mut args: HashSet<String> = HashSet::new();
                let mut depth = 0;
                for (i, k) in rest.iter().enumerate() {
                    match k.tok {
                        Tok::Punct("(" | "[" | "{") => depth += 1,
                        Tok::Punct(")" | "]" | "}") => depth -= 1,
                        Tok::Ident(w)
                            if depth == 1 && matches!(rest[i - 1].tok, Tok::Punct("(" | ",")) =>
                        {
                            args.insert(w.to_owned());
                        }
                        _ => {}
                    }
                }
                args.insert("body".to_owned());
                self.push(open(&format!("{{% endcomponent {name} %}}"), true));
                self.scopes.push(args);
            }
            "endfor" | "endif" | "endset" | "endfilter" | "endblock" | "endcomponent" => {
                let opener = match word {
                    "endfor" => "for",
                    "endif" => "if",
                    "endset" => "set",
                    "endfilter" => "filter",
                    "endblock" => "block",
                    _ => "component",
                };
                self.close(|w| w == opener || (opener == "set" && w == "set_global"));
            }
            "else" | "include" | "extends" | "break" | "continue" | "raw" | "endraw" => {}
            _ => self.expression(t, &HashSet::new()),
        }
    }

    fn push(&mut self, open: Open) {
        self.open.push(open);
    }

    /// Close the innermost block if `is_opener` says it is the one this
    /// closing tag ends (otherwise Tera has refused the template).
    fn close(&mut self, is_opener: impl Fn(&str) -> bool) {
        if self.open.last().is_some_and(|o| is_opener(&o.word)) {
            let o = self.open.pop().expect("checked");
            if o.scoped {
                self.scopes.pop();
            }
            if let Some((name, global)) = o.sets {
                self.define(name, global);
            }
        }
    }

    fn define(&mut self, name: String, global: bool) {
        let scope = if global {
            self.scopes.first_mut()
        } else {
            self.scopes.last_mut()
        };
        scope.expect("the template's own scope").insert(name);
    }

    /// The names and calls of an expression; `local` are names a
    /// comprehension around it defines.
    fn expression(&mut self, t: &[Token], local: &HashSet<String>) {
        let comprehensions = comprehensions(t);
        let mut i = 0;
        while i < t.len() {
            let Tok::Ident(w) = t[i].tok else {
                i += 1;
                continue;
            };
            let prev = i.checked_sub(1).map(|p| t[p].tok);
            let before = i.checked_sub(2).map(|p| t[p].tok);
            let next = t.get(i + 1).map(|n| n.tok);
            i += 1;
            if KEYWORDS.contains(&w) {
                continue;
            }
            match (before, prev, next) {
                (_, Some(Tok::Punct("." | "?.")), _) => {
                    self.out.words.insert(w.to_owned());
                }
                (_, Some(Tok::Punct("|")), _) => self.call(Callable::Filter, w, t, i - 1),
                (_, Some(Tok::Ident("is")), _)
                | (Some(Tok::Ident("is")), Some(Tok::Ident("not")), _) => {
                    self.call(Callable::Test, w, t, i - 1)
                }
                (_, _, Some(Tok::Punct("("))) => self.call(Callable::Function, w, t, i - 1),
                // A keyword argument's name.
                (_, _, Some(Tok::Punct("="))) => {}
                // A component's name in `<Card …>` or `</Card>`.
                (_, Some(Tok::Punct("</")), _) => {}
                (_, Some(Tok::Punct("<")), _)
                    if w.starts_with(|c: char| c.is_ascii_uppercase())
                        && (i < 3
                            || !matches!(
                                before,
                                Some(Tok::Ident(_) | Tok::Literal | Tok::Punct(")" | "]"))
                            )) =>
                {
                    self.component_call(w, t, i - 1)
                }
                _ => {
                    let at = i - 1;
                    let bound = comprehensions.iter().find(|c| c.range.contains(&at));
                    if bound.is_some_and(|c| c.binding.contains(&at)) {
                        continue;
                    }
                    self.out.words.insert(w.to_owned());
                    let is_local = local.contains(w)
                        || self.scopes.iter().any(|s| s.contains(w))
                        || comprehensions
                            .iter()
                            .any(|c| c.range.contains(&at) && c.names.contains(w));
                    if !is_local {
                        self.out.reads.push((w.to_owned(), t[at].span.clone()));
                        if let (
                            Some(Tok::Punct(".")),
                            Some(Token {
                                tok: Tok::Ident(attr),
                                span,
                            }),
                        ) = (t.get(at + 1).map(|k| k.tok), t.get(at + 2))
                        {
                            self.out
                                .fields
                                .push((w.to_owned(), (*attr).to_owned(), span.clone()));
                        }
                    }
                }
            }
        }
    }

    /// Record the call of component `name` at `t[at]` (`<Card a=1 b=x>`),
    /// with the arguments up to its `>`.
    fn component_call(&mut self, name: &str, t: &[Token], at: usize) {
        let mut args = Vec::new();
        let mut depth = 0;
        for (j, k) in t.iter().enumerate().skip(at + 1) {
            match k.tok {
                Tok::Punct("(" | "[" | "{") => depth += 1,
                Tok::Punct(")" | "]" | "}") => depth -= 1,
                Tok::Punct(">") if depth == 0 => break,
                Tok::Ident(w)
                    if depth == 0 && t.get(j + 1).is_some_and(|n| n.tok == Tok::Punct("=")) =>
                {
                    args.push((w.to_owned(), k.span.clone()));
                }
                _ => {}
            }
        }
        self.out.calls.push(Call {
            kind: Callable::Component,
            name: name.to_owned(),
            span: t[at].span.clone(),
            args,
        });
    }

    /// Record the call of `name` at `t[at]`, with the keyword arguments in
    /// the parentheses after it, if any.
    fn call(&mut self, kind: Callable, name: &str, t: &[Token], at: usize) {
        let mut args = Vec::new();
        if t.get(at + 1).is_some_and(|k| k.tok == Tok::Punct("(")) {
            let mut depth = 0;
            for (j, k) in t.iter().enumerate().skip(at + 1) {
                match k.tok {
                    Tok::Punct("(" | "[" | "{") => depth += 1,
                    Tok::Punct(")" | "]" | "}") => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Ident(w)
                        if depth == 1 && t.get(j + 1).is_some_and(|n| n.tok == Tok::Punct("=")) =>
                    {
                        args.push((w.to_owned(), k.span.clone()));
                    }
                    _ => {}
                }
            }
        }
        self.out.calls.push(Call {
            kind,
            name: name.to_owned(),
            span: t[at].span.clone(),
            args,
        });
    }
}

/// `[expr for a, b in items if cond]`: the token range inside the
/// brackets, the names it binds, and the binding tokens themselves.
struct Comprehension {
    range: Range<usize>,
    names: HashSet<String>,
    binding: Range<usize>,
}

fn comprehensions(t: &[Token]) -> Vec<Comprehension> {
    let mut found = Vec::new();
    let mut brackets: Vec<usize> = Vec::new();
    for (i, k) in t.iter().enumerate() {
        match k.tok {
            Tok::Punct("[" | "(" | "{") => brackets.push(i),
            Tok::Punct("]" | ")" | "}") => {
                brackets.pop();
            }
            Tok::Ident("for") => {
                let Some(&open) = brackets.last() else {
                    continue;
                };
                let at_in = (i + 1..t.len())
                    .find(|&j| t[j].tok == Tok::Ident("in"))
                    .unwrap_or(t.len());
                let mut depth = 0;
                let close = (open..t.len())
                    .find(|&j| {
                        match t[j].tok {
                            Tok::Punct("[" | "(" | "{") => depth += 1,
                            Tok::Punct("]" | ")" | "}") => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .unwrap_or(t.len());
                found.push(Comprehension {
                    range: open..close,
                    names: t[i + 1..at_in]
                        .iter()
                        .filter_map(|k| ident(Some(k)))
                        .map(str::to_owned)
                        .collect(),
                    binding: i + 1..at_in,
                });
            }
            _ => {}
        }
    }
    found
}

fn ident<'a>(token: Option<&Token<'a>>) -> Option<&'a str> {
    match token?.tok {
        Tok::Ident(w) => Some(w),
        _ => None,
    }
}

/// The tags of a template, tokenized; text, comments and raw blocks left out.
fn tags(src: &str) -> Vec<Tag<'_>> {
    let b = src.as_bytes();
    let mut tags = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'{' || !matches!(b[i + 1], b'{' | b'%' | b'#') {
            i += 1;
            continue;
        }
        let kind = b[i + 1];
        i += 2;
        if kind == b'#' {
            i = src[i..].find("#}").map_or(b.len(), |e| i + e + 2);
            continue;
        }
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let close = if kind == b'{' { "}}" } else { "%}" };
        if kind == b'%'
            && let Some(end) = tag_word_end(src, i, "raw")
        {
            i = find_endraw(src, end).unwrap_or(b.len());
            continue;
        }
        let mut tokens = Vec::new();
        let mut unterminated = true;
        loop {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= b.len() {
                break;
            }
            let rest = &src[i..];
            if rest.starts_with(close) {
                i += 2;
                unterminated = false;
                break;
            }
            if rest.starts_with('-') && rest[1..].starts_with(close) {
                i += 3;
                unterminated = false;
                break;
            }
            let (tok, len) = token(rest);
            tokens.push(Token {
                tok,
                span: i..i + len,
            });
            i += len;
        }
        tags.push(Tag {
            block: kind == b'%',
            tokens,
            unterminated,
        });
    }
    tags
}

/// One token at the start of `rest` (not whitespace) and its length.
fn token(rest: &str) -> (Tok<'_>, usize) {
    let b = rest.as_bytes();
    match b[0] {
        q @ (b'"' | b'\'' | b'`') => {
            let mut j = 1;
            while j < b.len() && b[j] != q {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            (Tok::Literal, (j + 1).min(b.len()))
        }
        c if c.is_ascii_digit() => {
            let n = b
                .iter()
                .take_while(|c| c.is_ascii_digit() || **c == b'.')
                .count();
            (Tok::Literal, n)
        }
        c if c.is_ascii_alphabetic() || c == b'_' => {
            let n = b
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            match &rest[..n] {
                "true" | "false" | "True" | "False" => (Tok::Literal, n),
                w => (Tok::Ident(w), n),
            }
        }
        _ => {
            for op in ["...", "//", "**", "==", "!=", ">=", "<=", "</", "?.", "?["] {
                if rest.starts_with(op) {
                    return (Tok::Punct(&rest[..op.len()]), op.len());
                }
            }
            let n = rest.chars().next().map_or(1, char::len_utf8);
            (Tok::Punct(&rest[..n]), n)
        }
    }
}

/// If `src[at..]` is `WORD -?%}` (after the `{%` and its `-`), where the
/// tag ends.
fn tag_word_end(src: &str, at: usize, word: &str) -> Option<usize> {
    let rest = src[at..].trim_start();
    let rest = rest.strip_prefix(word)?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let rest = rest.strip_prefix("%}")?;
    Some(src.len() - rest.len())
}

/// The end of the `{% endraw %}` tag after `from`.
fn find_endraw(src: &str, mut from: usize) -> Option<usize> {
    while let Some(at) = src[from..].find("{%") {
        let mut i = from + at + 2;
        if src[i..].starts_with('-') {
            i += 1;
        }
        if let Some(end) = tag_word_end(src, i, "endraw") {
            return Some(end);
        }
        from = i;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(src: &str) -> Vec<(String, &str)> {
        TemplateScan::of(src)
            .reads
            .into_iter()
            .map(|(n, s)| (n, &src[s]))
            .collect()
    }

    fn names(src: &str) -> Vec<String> {
        reads(src).into_iter().map(|(n, _)| n).collect()
    }

    #[test]
    fn reads_where_no_scope_defines_the_name() {
        assert_eq!(
            names(
                "{% if flavour == \"full\" %}{{ a.b | shell_quote }}{% endif %}\
                 {% for x, y in items | sort(attribute=k) %}{{ x }}{{ loop.index }}{{ z }}{% endfor %}{{ x }}"
            ),
            ["flavour", "a", "items", "k", "z", "x"]
        );
        assert_eq!(
            names(
                "{% set s = t %}{{ s }}{% set_global g = 1 %}{{ g }}{% set b %}{{ s }}{% endset %}{{ b }}"
            ),
            ["t"]
        );
        assert_eq!(
            names("{{ [q for q in qs if q > z] }}{{ m if n else o }}{{ not p }}{{ \"{{ s }}\" }}"),
            ["qs", "z", "m", "n", "o", "p"]
        );
        assert_eq!(
            names("{# {{ c }} #}{% raw %}{{ r }}{% endraw %}{{- d -}}{%- if e -%}{% endif %}"),
            ["d", "e"]
        );
        assert_eq!(
            names(
                "{% component Btn(label, v=\"x\") %}{{ label }}{{ body }}{{ w }}{% endcomponent Btn %}{{ <Btn label=u /> }}"
            ),
            ["w", "u"]
        );
    }

    #[test]
    fn spans_are_the_names() {
        let r = reads("#!/bin/sh\n{{ image_name | shell_quote(x=1) }}");
        assert_eq!(r, [("image_name".to_owned(), "image_name")]);
    }

    #[test]
    fn calls_and_their_arguments() {
        let src = "{{ a | join(sep=\",\", x=1) }}{% if 3 is not divisible_by(divisor=2) %}{% endif %}{{ range(end=3) }}{% filter upper %}{% endfilter %}";
        let calls: Vec<(Callable, String, Vec<String>)> = TemplateScan::of(src)
            .calls
            .into_iter()
            .map(|c| (c.kind, c.name, c.args.into_iter().map(|a| a.0).collect()))
            .collect();
        assert_eq!(
            calls,
            [
                (
                    Callable::Filter,
                    "join".into(),
                    vec!["sep".into(), "x".into()]
                ),
                (
                    Callable::Test,
                    "divisible_by".into(),
                    vec!["divisor".into()]
                ),
                (Callable::Function, "range".into(), vec!["end".into()]),
                (Callable::Filter, "upper".into(), vec![]),
            ]
        );
    }

    #[test]
    fn the_innermost_open_block_is_found() {
        let src = "#!/bin/sh\n{% if a %}\n{% for x in y %}{% endfor %}\n";
        let (word, span, closer) = TemplateScan::of(src).unclosed.unwrap();
        assert_eq!(
            (word.as_str(), &src[span], closer.as_str()),
            ("if", "if", "{% endif %}")
        );
        assert!(TemplateScan::of("{% if a %}{% endif %}").unclosed.is_none());
        // A tag cut off by the end is not an open block.
        assert!(TemplateScan::of("{% if a").unclosed.is_none());
    }
}
