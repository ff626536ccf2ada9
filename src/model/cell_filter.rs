use super::{Cell, CellId, FilterError, Recipe};
use crate::recipe::suggest::did_you_mean;

/// `--only KEY=VALUE` selections, shared by every verb. Values given for the
/// same key are alternatives; different keys must all match. `name` matches
/// the image name, `arch` the recipe's architecture (one per recipe).
#[derive(Debug, Clone, Default)]
pub struct CellFilter {
    terms: Vec<(String, Vec<String>)>,
}

impl CellFilter {
    pub fn parse(args: &[String]) -> Result<Self, FilterError> {
        let mut filter = CellFilter::default();
        for arg in args {
            let Some((key, value)) = arg.split_once('=') else {
                return Err(FilterError::NotKeyValue { arg: arg.clone() });
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
    pub fn select(&self, recipe: &Recipe) -> Result<Vec<CellId>, FilterError> {
        let axes: Vec<&str> = recipe.matrix.axis_names().collect();
        let arch = recipe.image.arch.as_str();
        for (key, values) in &self.terms {
            if key != "name" && key != "arch" && !axes.contains(&key.as_str()) {
                let hint = did_you_mean(key, axes.iter().copied().chain(["name", "arch"]))
                    .map_or(String::new(), |h| format!("; {h}"));
                return Err(FilterError::UnknownKey {
                    key: key.clone(),
                    axes: axes.iter().map(|a| (*a).to_owned()).collect(),
                    hint,
                });
            }
            // A value no cell has is a typo: say which values there are.
            // In the order the recipe writes them, then `include`'s.
            let mut known: Vec<&str> = recipe
                .matrix
                .axes
                .iter()
                .filter(|a| &a.name == key)
                .flat_map(|a| a.values.iter().map(String::as_str))
                .collect();
            for cell in &recipe.cells {
                let value = match key.as_str() {
                    "name" => cell.image_name.as_str(),
                    "arch" => arch,
                    _ => cell.get(key).unwrap_or_default(),
                };
                if !known.contains(&value) {
                    known.push(value);
                }
            }
            if let Some(wrong) = values.iter().find(|v| !known.contains(&v.as_str())) {
                let hint = did_you_mean(wrong, known.iter().copied())
                    .map_or(String::new(), |h| format!("; {h}"));
                let shown: Vec<String> = known
                    .iter()
                    .map(|v| {
                        if v.is_empty() {
                            "\"\"".to_owned()
                        } else {
                            (*v).to_owned()
                        }
                    })
                    .collect();
                return Err(FilterError::UnknownValue {
                    key: key.clone(),
                    value: wrong.clone(),
                    known: shown,
                    hint,
                });
            }
        }
        let cells: Vec<CellId> = recipe
            .cell_ids()
            .filter(|&c| self.matches(&recipe.cells[c], arch))
            .collect();
        if cells.is_empty() {
            return Err(FilterError::NoCell {
                terms: self
                    .terms
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.join("|")))
                    .collect::<Vec<_>>()
                    .join(" "),
            });
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
        assert!(matches!(
            CellFilter::parse(&["nope".into()]),
            Err(FilterError::NotKeyValue { arg }) if arg == "nope"
        ));
    }
}
