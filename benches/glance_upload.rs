//! One upload of a qcow2 to an OpenStack target through the real store, for
//! `benches/glance-upload.sh` (which runs it under `/usr/bin/time -v` for
//! the peak RSS and compares its throughput with curl's).
//!
//! glance_upload CLOUD FILE     (clouds.yaml from the usual places / OS_CLIENT_CONFIG_FILE)
//!
//! Prints `upload_seconds=… bytes=… id=…` on stdout, then deletes the image.
//! Without arguments (as `cargo bench` runs it) it does nothing.

// A benchmark prints its own numbers; nothing secret passes through it.
#![allow(clippy::disallowed_macros)]

use camino::Utf8PathBuf;
use pipeline::model::{Target, TargetKind, Visibility};
use pipeline::step::CancelToken;
use pipeline::targets::{Artifact, ImageMeta, open};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [cloud, file] = &args[..] else {
        eprintln!("usage: glance_upload CLOUD FILE (nothing to do without them)");
        return;
    };
    let file = Utf8PathBuf::from(file);
    let (sha256, size) =
        pipeline::files::digest::sha256_file(&file, &CancelToken::new()).expect("the file reads");
    let target = Target {
        name: "bench".into(),
        kind: TargetKind::Openstack {
            cloud: cloud.clone(),
            visibility: Visibility::Private,
        },
        keep: 2,
        uploads: 1,
    };
    let store = open(&target).expect("the cloud is in clouds.yaml");
    let meta = ImageMeta {
        name: "pipeline-bench-upload".into(),
        owner: "pipeline:bench".into(),
        arch: "x64".into(),
        base: "bench".into(),
        cell: [("base".to_owned(), "bench".to_owned())]
            .into_iter()
            .collect(),
        sha256: sha256.clone(),
        size,
        recipe_hash: "0".repeat(64),
        input_key: None,
        inputs: Default::default(),
        os_distro: None,
        os_version: None,
    };
    // Authenticate first: the timing is the upload alone, as curl's.
    store
        .list(&meta.name, &meta.owner)
        .expect("the cloud answers");
    let artifact = Artifact::file(file, sha256, size, serde_json::Value::Null);
    let start = Instant::now();
    let revision = store
        .upload(&artifact, &meta, &CancelToken::new(), &|_| {})
        .expect("the upload works");
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "upload_seconds={seconds:.3} bytes={size} id={}",
        revision.id
    );
    store.delete(&revision).expect("the image is deleted");
}
