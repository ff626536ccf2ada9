//! Directory stores written and damaged by hand: revisions whose files say
//! what a test needs, without a VM to build them, and commands that must
//! finish within a time limit whatever they find there.

use pipeline::targets::{ImageMeta, Revision};
use std::path::Path;

/// Revision `n` of `image` in the directory store `store`, written by hand:
/// `<n>.qcow2` holding `bytes`, and `<n>.json` recording their size,
/// owned by `owner` (`pipeline:<recipe name>` for the recipe's own).
pub fn write_revision(store: &Path, image: &str, n: u64, owner: &str, bytes: &[u8]) {
    let dir = store.join(image);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{n}.qcow2")), bytes).unwrap();
    let revision = Revision {
        id: format!("{image}/{n}"),
        created_at: "2026-01-01T00:00:00Z".to_owned(),
        number: Some(n),
        meta: ImageMeta {
            name: image.to_owned(),
            owner: owner.to_owned(),
            arch: "x64".to_owned(),
            base: "tiny".to_owned(),
            cell: [("base".to_owned(), "tiny".to_owned())]
                .into_iter()
                .collect(),
            sha256: pipeline::files::digest::sha256_bytes(bytes),
            size: bytes.len() as u64,
            recipe_hash: "0".repeat(64),
            input_key: None,
            inputs: Default::default(),
            os_distro: None,
            os_version: None,
        },
    };
    std::fs::write(
        dir.join(format!("{n}.json")),
        serde_json::to_string_pretty(&revision).unwrap(),
    )
    .unwrap();
}

/// Revision `n` of `cell` (one of `plan --status --json`'s cells), as a run
/// would have left it in the directory store `store`: written by hand as
/// [`write_revision`] writes one, with the cell's values and its current
/// input key, so that the cell counts as up to date there.
pub fn write_current_revision(store: &Path, cell: &serde_json::Value, n: u64, owner: &str) {
    let image = cell["image_name"].as_str().unwrap();
    write_revision(
        store,
        image,
        n,
        owner,
        format!("not a real image of {image}/{n}\n").as_bytes(),
    );
    let json = store.join(image).join(format!("{n}.json"));
    let mut revision: Revision =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    revision.meta.cell = serde_json::from_value(cell["values"].clone()).unwrap();
    revision.meta.input_key = Some(cell["input_key"].as_str().unwrap().to_owned());
    std::fs::write(json, serde_json::to_string_pretty(&revision).unwrap()).unwrap();
}

/// Revision `from` of `image` copied as revision `to`: the same image and
/// metadata (input key included) under the new number.
pub fn copy_revision(store: &Path, image: &str, from: u64, to: u64) {
    let dir = store.join(image);
    std::fs::copy(
        dir.join(format!("{from}.qcow2")),
        dir.join(format!("{to}.qcow2")),
    )
    .unwrap();
    let text = std::fs::read_to_string(dir.join(format!("{from}.json"))).unwrap();
    let mut revision: Revision = serde_json::from_str(&text).unwrap();
    revision.id = format!("{image}/{to}");
    revision.number = Some(to);
    std::fs::write(
        dir.join(format!("{to}.json")),
        serde_json::to_string_pretty(&revision).unwrap(),
    )
    .unwrap();
}

/// Cut a file to `len` bytes.
pub fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}
