use indexmap::IndexMap;
use serde::Serialize;
use std::collections::HashSet;

/// Cells a matrix may have unless `[build] max_cells` says otherwise: far
/// more than anyone builds, few enough that validate and plan answer at once.
pub const DEFAULT_MAX_CELLS: u64 = 1000;

/// The most `max_cells` may allow: about 2 kB of memory a cell while planning
/// (see the README's benchmarks), so 200 MB at this size.
pub const MAX_CELLS_CEILING: u64 = 100_000;

/// The build matrix: axes in the order written, with `base` among them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Matrix {
    pub axes: Vec<Axis>,
    /// Extra cells; axes left out are "".
    pub include: Vec<Combination>,
    /// Partial combinations: a cell matching every pair of one is dropped.
    pub exclude: Vec<Combination>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Axis {
    pub name: String,
    pub values: Vec<String>,
}

/// Axis name → value.
pub type Combination = IndexMap<String, String>;

impl Matrix {
    pub fn axis_names(&self) -> impl Iterator<Item = &str> {
        self.axes.iter().map(|a| a.name.as_str())
    }

    /// The most cells [`Matrix::expand`] can return: the product of the
    /// axes' lengths plus the `include` entries; `None` past `u64`. Known
    /// without expanding anything: `exclude` is left out, as counting what
    /// it drops would mean walking the product.
    pub fn size_bound(&self) -> Option<u64> {
        self.axes
            .iter()
            .try_fold(1u64, |n, a| n.checked_mul(a.values.len() as u64))?
            .checked_add(self.include.len() as u64)
    }

    /// Every cell as its values in axis order: the cartesian product minus
    /// `exclude`, then `include`, without duplicates, in a stable order.
    pub fn expand(&self) -> Vec<Vec<String>> {
        let mut cells = Vec::new();
        let mut seen = HashSet::new();
        if !self.axes.is_empty() && self.axes.iter().all(|a| !a.values.is_empty()) {
            let mut index = vec![0usize; self.axes.len()];
            'product: loop {
                let values: Vec<String> = self
                    .axes
                    .iter()
                    .zip(&index)
                    .map(|(axis, &i)| axis.values[i].clone())
                    .collect();
                if !self.exclude.iter().any(|e| self.matches(&values, e))
                    && seen.insert(values.clone())
                {
                    cells.push(values);
                }
                // Odometer: the last axis turns fastest.
                for pos in (0..self.axes.len()).rev() {
                    index[pos] += 1;
                    if index[pos] < self.axes[pos].values.len() {
                        continue 'product;
                    }
                    index[pos] = 0;
                }
                break;
            }
        }
        for include in &self.include {
            let values: Vec<String> = self
                .axes
                .iter()
                .map(|a| include.get(&a.name).cloned().unwrap_or_default())
                .collect();
            if seen.insert(values.clone()) {
                cells.push(values);
            }
        }
        cells
    }

    fn matches(&self, values: &[String], combination: &Combination) -> bool {
        combination.iter().all(|(name, value)| {
            self.axes
                .iter()
                .position(|a| &a.name == name)
                .is_some_and(|i| &values[i] == value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(name: &str, values: &[&str]) -> Axis {
        Axis {
            name: name.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn combo(pairs: &[(&str, &str)]) -> Combination {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn product_in_axis_order() {
        let m = Matrix {
            axes: vec![axis("base", &["a", "b"]), axis("x", &["1", "2", "3"])],
            ..Default::default()
        };
        let cells = m.expand();
        assert_eq!(cells.len(), 6);
        assert_eq!(cells[0], ["a", "1"]);
        assert_eq!(cells[1], ["a", "2"]);
        assert_eq!(cells[5], ["b", "3"]);
    }

    #[test]
    fn exclude_matches_partially_and_include_adds_once() {
        let m = Matrix {
            axes: vec![
                axis("base", &["jammy", "noble"]),
                axis("juju", &["", "3.1/stable"]),
                axis("microk8s", &["", "1.29-strict/stable"]),
            ],
            exclude: vec![combo(&[
                ("base", "jammy"),
                ("microk8s", "1.29-strict/stable"),
            ])],
            include: vec![
                combo(&[("base", "focal"), ("juju", "2.9/stable")]),
                // Already in the product: not added twice.
                combo(&[("base", "noble"), ("juju", ""), ("microk8s", "")]),
            ],
        };
        let cells = m.expand();
        assert_eq!(cells.len(), 8 - 2 + 1);
        assert!(!cells.contains(&vec![
            "jammy".to_string(),
            "".into(),
            "1.29-strict/stable".into()
        ]));
        assert_eq!(
            cells.last().unwrap(),
            &vec!["focal".to_string(), "2.9/stable".into(), "".into()]
        );
    }

    #[test]
    fn the_size_bound_counts_without_expanding() {
        let many: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let mut m = Matrix {
            axes: vec![axis("base", &["a", "b"]), axis("x", &["1", "2", "3"])],
            exclude: vec![combo(&[("x", "1")])],
            include: vec![combo(&[("base", "c")])],
        };
        assert_eq!(m.size_bound(), Some(2 * 3 + 1));
        // 1000^4 = 10^12 cells: counted at once, never expanded.
        m.axes = (0..4).map(|i| axis(&format!("a{i}"), &many)).collect();
        assert_eq!(m.size_bound(), Some(1_000_000_000_000 + 1));
        m.axes = (0..7).map(|i| axis(&format!("a{i}"), &many)).collect();
        assert_eq!(m.size_bound(), None);
    }

    #[test]
    fn single_axis() {
        let m = Matrix {
            axes: vec![axis("base", &["a"])],
            ..Default::default()
        };
        assert_eq!(m.expand(), vec![vec!["a".to_string()]]);
    }
}
