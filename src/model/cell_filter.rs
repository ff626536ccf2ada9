use super::{Cell, CellId, Recipe};

/// `--only KEY=VALUE` selections, shared by every verb. Values given for the
/// same key are alternatives; different keys must all match. `name` matches
/// the image name, `arch` the recipe's architecture (one per recipe).
#[derive(Debug, Clone, Default)]
pub struct CellFilter {
    terms: Vec<(String, Vec<String>)>,
}

impl CellFilter {
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut filter = CellFilter::default();
        for arg in args {
            let Some((key, value)) = arg.split_once('=') else {
                return Err(format!(
                    "invalid --only `{arg}`: expected KEY=VALUE, like `base=noble` or `juju=`"
                ));
            };
            match filter.terms.iter_mut().find(|(k, _)| k == key) {
                Some((_, values)) => values.push(value.to_owned()),
                None => filter.terms.push((key.to_owned(), vec![value.to_owned()])),
            }
        }
        Ok(filter)
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The selected cells; an unknown key or an empty
    /// selection is an error (a typo should not silently build nothing).
    pub fn select(&self, recipe: &Recipe) -> Result<Vec<CellId>, String> {
        let axes: Vec<&str> = recipe.matrix.axis_names().collect();
        for (key, _) in &self.terms {
            if key != "name" && key != "arch" && !axes.contains(&key.as_str()) {
                return Err(format!(
                    "invalid --only key `{key}`: the matrix axes are {}, or use `name` or `arch`",
                    axes.join(", ")
                ));
            }
        }
        let arch = recipe.image.arch.as_str();
        let cells: Vec<CellId> = recipe
            .cell_ids()
            .filter(|&c| self.matches(&recipe.cells[c], arch))
            .collect();
        if cells.is_empty() {
            return Err(format!(
                "no cell matches {}",
                self.terms
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.join("|")))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        Ok(cells)
    }

    /// Whether `cell`, of a recipe for `arch`, is selected.
    pub fn matches(&self, cell: &Cell, arch: &str) -> bool {
        self.terms.iter().all(|(key, values)| {
            let actual = match key.as_str() {
                "name" => Some(cell.image_name.as_str()),
                "arch" => Some(arch),
                _ => cell.get(key),
            };
            actual.is_some_and(|a| values.iter().any(|v| v == a))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_groups_terms() {
        let f =
            CellFilter::parse(&["base=noble".into(), "base=jammy".into(), "juju=".into()]).unwrap();
        assert_eq!(f.terms.len(), 2);
        assert_eq!(f.terms[0].1, ["noble", "jammy"]);
        assert_eq!(f.terms[1].1, [""]);
        assert!(CellFilter::parse(&["nope".into()]).is_err());
    }
}
