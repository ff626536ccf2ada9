use super::Arch;
use serde::Serialize;
use serde::ser::SerializeMap;
use std::sync::Arc;

/// One point of the matrix: one image to build.
#[derive(Debug, Clone)]
pub struct Cell {
    axes: Arc<[String]>,
    values: Vec<String>,
    pub image_name: String,
}

impl Cell {
    pub fn new(axes: Arc<[String]>, values: Vec<String>, prefix: &str, arch: Arch) -> Self {
        let image_name = image_name(prefix, arch, &axes, &values);
        Self {
            axes,
            values,
            image_name,
        }
    }

    pub fn get(&self, axis: &str) -> Option<&str> {
        self.axes
            .iter()
            .position(|a| a == axis)
            .map(|i| self.values[i].as_str())
    }

    pub fn base(&self) -> &str {
        self.get("base").unwrap_or_default()
    }

    /// (axis, value) pairs in axis order.
    pub fn values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.axes
            .iter()
            .map(String::as_str)
            .zip(self.values.iter().map(String::as_str))
    }

    /// `base=noble juju=3.1/stable microk8s=""`, for messages.
    pub fn describe(&self) -> String {
        self.values()
            .map(|(k, v)| {
                if v.is_empty() {
                    format!("{k}=\"\"")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Serializes as a map of axis values.
impl Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.values.len()))?;
        for (k, v) in self.values() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Short labels for axes in image names, after the established convention.
fn axis_label(axis: &str) -> &str {
    match axis {
        "microk8s" => "mk8s",
        other => other,
    }
}

/// `{prefix}-{base}-{arch}`, then `-{axis}-{value}` for every other axis with
/// a value, in axis order, `/` replaced by `-`.
pub fn image_name(prefix: &str, arch: Arch, axes: &[String], values: &[String]) -> String {
    let base = axes
        .iter()
        .position(|a| a == "base")
        .map_or("", |i| values[i].as_str());
    let mut name = format!("{prefix}-{base}-{arch}");
    for (axis, value) in axes.iter().zip(values) {
        if axis == "base" || value.is_empty() {
            continue;
        }
        name.push('-');
        name.push_str(axis_label(axis));
        name.push('-');
        name.push_str(&value.replace('/', "-"));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn follows_the_runner_convention() {
        let axes = strings(&["base", "juju", "microk8s"]);
        assert_eq!(
            image_name(
                "github-runner",
                Arch::X64,
                &axes,
                &strings(&["noble", "3.1/stable", "1.29-strict/stable"])
            ),
            "github-runner-noble-x64-juju-3.1-stable-mk8s-1.29-strict-stable"
        );
        assert_eq!(
            image_name(
                "github-runner",
                Arch::Arm64,
                &axes,
                &strings(&["jammy", "", ""])
            ),
            "github-runner-jammy-arm64"
        );
        assert_eq!(
            image_name(
                "github-runner",
                Arch::X64,
                &axes,
                &strings(&["jammy", "", "1.28-strict/stable"])
            ),
            "github-runner-jammy-x64-mk8s-1.28-strict-stable"
        );
    }

    #[test]
    fn base_comes_first_whatever_the_axis_order() {
        let axes = strings(&["flavour", "base"]);
        assert_eq!(
            image_name("p", Arch::X64, &axes, &strings(&["big", "noble"])),
            "p-noble-x64-flavour-big"
        );
    }
}
