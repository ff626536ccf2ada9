//! The recipe as written: raw serde types that mirror the TOML file, with
//! spans, and the parser that reads them. Nothing here judges the values;
//! `crate::model` does. The types' JSON Schema (for editors) states what of
//! the model's rules a schema can, with the patterns in [`rules`].

mod key_path;
mod parse;
mod raw_base;
mod raw_build;
mod raw_image;
mod raw_matrix;
mod raw_recipe;
mod raw_services;
mod raw_target;
mod raw_verify;
pub mod rules;
mod spanned;
pub mod suggest;

pub use key_path::key_path_at;
pub use parse::parse;
pub use raw_base::RawBase;
pub use raw_build::{RawBuild, RawCompression};
pub use raw_image::{RawArch, RawImage};
pub use raw_matrix::{RawCombination, RawMatrix};
pub use raw_recipe::RawRecipe;
pub use raw_services::RawServices;
pub use raw_target::{RawTarget, RawTargetKind, RawVisibility};
pub use raw_verify::RawVerify;
pub use spanned::Spanned;

/// The JSON Schema of a recipe, derived from the same types the parser uses.
pub fn schema() -> schemars::Schema {
    schemars::schema_for!(RawRecipe)
}
