//! Typed indexes into a validated recipe: a [`CellId`] cannot be used where
//! a target is meant. Each indexes its own list (`recipe.cells[id]`), and
//! prints as the bare number (as plans and logs always showed it).

use super::{Base, Cell, Target};
use indexmap::IndexMap;
use serde::Serialize;
use std::fmt;
use std::ops::Index;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident indexes $list:ty => $item:ty, $get:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub usize);

        impl $name {
            pub fn index(self) -> usize {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl Index<$name> for $list {
            type Output = $item;
            fn index(&self, id: $name) -> &$item {
                let get: fn(&$list, usize) -> &$item = $get;
                get(self, id.0)
            }
        }
    };
}

id!(
    /// A cell of the recipe's matrix, by its place in `Recipe::cells`.
    CellId indexes Vec<Cell> => Cell, |v, i| &v[i]
);
id!(
    /// A `[[target]]`, by its place in `Recipe::targets`.
    TargetId indexes Vec<Target> => Target, |v, i| &v[i]
);
id!(
    /// A `[bases.NAME]`, by its place in `Recipe::bases`.
    BaseId indexes IndexMap<String, Base> => Base, |m, i| &m[i]
);
