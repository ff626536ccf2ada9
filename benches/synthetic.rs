//! A synthetic recipe with `bases × 10 × 10 × n` cells, written to a temp dir
//! (the template is a real file, as in a real recipe).

use camino::Utf8PathBuf;
use std::fmt::Write;

pub struct Synthetic {
    _dir: tempfile::TempDir,
    pub recipe: Utf8PathBuf,
}

pub fn synthetic(cells: usize) -> Synthetic {
    let dir = tempfile::tempdir().unwrap();
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
    std::fs::write(
        root.join("t.sh.tera"),
        "#!/bin/bash\nset -euo pipefail\necho {{ image_name | shell_quote }} {{ base }} {{ a }} {{ b }} {{ c }}\n",
    )
    .unwrap();
    let c = cells / (2 * 10 * 10);
    assert_eq!(c * 200, cells, "cells must be a multiple of 200");
    let mut toml = String::from("[image]\nprefix = \"synthetic\"\ntemplate = \"t.sh.tera\"\n\n");
    for base in ["jammy", "noble"] {
        let _ = writeln!(
            toml,
            "[bases.{base}]\nurl = \"https://example.invalid/{base}.img\"\nsha256 = \"{}\"\n",
            "0".repeat(64)
        );
    }
    let axis = |n: usize, name: &str| -> String {
        let values: Vec<String> = (0..n).map(|i| format!("\"{name}{i}\"")).collect();
        format!("{name} = [{}]\n", values.join(", "))
    };
    toml.push_str("[matrix]\nbase = [\"jammy\", \"noble\"]\n");
    toml.push_str(&axis(10, "a"));
    toml.push_str(&axis(10, "b"));
    toml.push_str(&axis(c, "c"));
    // Past the default of 1,000 cells: these recipes mean to be large.
    toml.push_str("\n[build]\nmax_cells = 100000\n");
    toml.push_str(
        "\n[[target]]\nname = \"local\"\nkind = \"directory\"\npath = \"images\"\nkeep = 5\n",
    );
    toml.push_str(
        "\n[[target]]\nname = \"cloud\"\nkind = \"openstack\"\ncloud = \"x\"\nkeep = 5\n",
    );
    let recipe = root.join("synthetic.toml");
    std::fs::write(&recipe, toml).unwrap();
    Synthetic { _dir: dir, recipe }
}
