//! The keyword arguments of every filter, test and function a template may
//! call: Tera's own (2.4, from its source: it ignores any other argument)
//! and pipeline's `shell_quote`. A required argument is marked `!`.

/// What a template calls: a filter (`| f`), a test (`is t`) or a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callable {
    Filter,
    Test,
    Function,
    /// A component of the template's own (`<Card title=… />`): its
    /// arguments are in its definition, not here.
    Component,
}

impl Callable {
    pub fn as_str(self) -> &'static str {
        match self {
            Callable::Filter => "filter",
            Callable::Test => "test",
            Callable::Function => "function",
            Callable::Component => "component",
        }
    }

    fn table(self) -> &'static [(&'static str, &'static [&'static str])] {
        match self {
            Callable::Filter => FILTERS,
            Callable::Test => TESTS,
            Callable::Function => FUNCTIONS,
            Callable::Component => &[],
        }
    }

    /// Every name of this kind.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        self.table().iter().map(|(n, _)| *n)
    }

    /// The arguments of `name` (a required one ends in `!`), if it exists.
    pub fn args(self, name: &str) -> Option<&'static [&'static str]> {
        self.table()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
    }
}

const FILTERS: &[(&str, &[&str])] = &[
    ("shell_quote", &[]),
    ("safe", &[]),
    ("default", &["value!", "boolean"]),
    ("upper", &[]),
    ("lower", &[]),
    ("wordcount", &[]),
    ("escape", &[]),
    ("escape_html", &[]),
    ("escape_xml", &[]),
    ("newlines_to_br", &[]),
    ("pluralize", &["singular", "plural"]),
    ("trim", &["pat"]),
    ("trim_start", &["pat"]),
    ("trim_end", &["pat"]),
    ("replace", &["from!", "to!"]),
    ("capitalize", &[]),
    ("title", &[]),
    ("truncate", &["length!", "end"]),
    ("indent", &["width", "indentation", "first", "blank"]),
    ("str", &[]),
    ("int", &["base"]),
    ("float", &[]),
    ("length", &[]),
    ("reverse", &[]),
    ("split", &["pat!"]),
    ("abs", &[]),
    ("round", &["method", "precision"]),
    ("first", &[]),
    ("last", &[]),
    ("nth", &["n!"]),
    ("join", &["sep"]),
    ("sort", &["attribute"]),
    ("unique", &[]),
    ("get", &["key!", "default"]),
    ("values", &[]),
    ("keys", &[]),
    ("pairs", &[]),
    ("group_by", &["attribute!"]),
];

const TESTS: &[(&str, &[&str])] = &[
    ("string", &[]),
    ("number", &[]),
    ("map", &[]),
    ("bool", &[]),
    ("array", &[]),
    ("integer", &[]),
    ("float", &[]),
    ("none", &[]),
    ("iterable", &[]),
    ("defined", &[]),
    ("undefined", &[]),
    ("odd", &[]),
    ("even", &[]),
    ("divisible_by", &["divisor!"]),
    ("starting_with", &["pat!"]),
    ("ending_with", &["pat!"]),
    ("containing", &["pat!"]),
];

const FUNCTIONS: &[(&str, &[&str])] = &[
    ("range", &["start", "end!", "step_by"]),
    ("throw", &["message!"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name listed is one Tera knows: it refuses an unknown one when
    /// the template is added.
    #[test]
    fn every_listed_name_exists_in_tera() {
        for (kind, text) in [
            (Callable::Filter, "{{ 1 | NAME }}"),
            (Callable::Test, "{{ 1 is NAME }}"),
            (Callable::Function, "{{ NAME() }}"),
        ] {
            for name in kind.names() {
                let mut tera = tera::Tera::new();
                tera.register_filter(
                    "shell_quote",
                    |v: &str, _: tera::Kwargs, _: &tera::State| v.to_owned(),
                );
                let t = text.replace("NAME", name);
                assert!(tera.add_raw_template("t", &t).is_ok(), "{t}");
            }
        }
        let mut tera = tera::Tera::new();
        assert!(tera.add_raw_template("t", "{{ 1 | no_such }}").is_err());
    }
}
