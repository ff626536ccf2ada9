/// Why `--only` selects nothing it could build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("invalid --only `{arg}`: expected KEY=VALUE, like `base=noble` or `juju=`")]
    NotKeyValue { arg: String },
    /// `hint` is a "did you mean" or empty.
    #[error("invalid --only key `{key}`: the matrix axes are {}, or use `name` or `arch`{hint}", .axes.join(", "))]
    UnknownKey {
        key: String,
        axes: Vec<String>,
        hint: String,
    },
    /// `known` as shown: an empty value as `""`.
    #[error("invalid --only `{key}={value}`: no cell has it{hint} (the values of `{key}`: {})", .known.join(", "))]
    UnknownValue {
        key: String,
        value: String,
        known: Vec<String>,
        hint: String,
    },
    #[error("no cell matches {terms}")]
    NoCell { terms: String },
}
