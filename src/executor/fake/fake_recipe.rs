use crate::model::Recipe;
use camino::Utf8PathBuf;
use std::fmt::Write;

/// A recipe loaded from files in a temp dir (the template is a real file,
/// as in a real recipe), kept while it lives.
pub struct FakeRecipe {
    _dir: tempfile::TempDir,
    pub path: Utf8PathBuf,
    pub recipe: Recipe,
}

impl FakeRecipe {
    /// `cells` cells of one base (`a = ["a0", "a1", ...]`) and two
    /// targets, `local` (a directory) and `cloud`.
    pub fn cells(cells: usize) -> Self {
        let mut toml = String::from("[image]\nprefix = \"fake\"\ntemplate = \"t.sh.tera\"\n\n");
        let _ = writeln!(
            toml,
            "[bases.jammy]\nurl = \"https://example.invalid/jammy.img\"\nsha256 = \"{}\"\n",
            "0".repeat(64)
        );
        let values: Vec<String> = (0..cells).map(|i| format!("\"a{i}\"")).collect();
        let _ = writeln!(
            toml,
            "[matrix]\nbase = [\"jammy\"]\na = [{}]\n",
            values.join(", ")
        );
        toml.push_str(
            "[[target]]\nname = \"local\"\nkind = \"directory\"\npath = \"images\"\nkeep = 5\n\n",
        );
        toml.push_str(
            "[[target]]\nname = \"cloud\"\nkind = \"openstack\"\ncloud = \"x\"\nkeep = 5\n",
        );
        Self::load(&toml)
    }

    /// `toml` as `recipe.toml`, beside the template `t.sh.tera`.
    pub fn load(toml: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("a UTF-8 temp dir");
        std::fs::write(
            root.join("t.sh.tera"),
            "#!/bin/bash\nset -euo pipefail\necho {{ image_name | shell_quote }}\n",
        )
        .expect("the template written");
        let path = root.join("recipe.toml");
        std::fs::write(&path, toml).expect("the recipe written");
        let recipe = crate::loader::load(&path).expect("a valid recipe");
        Self {
            _dir: dir,
            path,
            recipe,
        }
    }
}
