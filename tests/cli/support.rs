use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `pipeline` command run from the repository root, without colors or
/// secrets from the caller's environment.
pub fn pipeline(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline"));
    cmd.args(args).current_dir(repo()).env("NO_COLOR", "1");
    for (key, _) in std::env::vars() {
        if key.starts_with("PIPELINE_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

pub fn run(args: &[&str]) -> Output {
    pipeline(args).output().expect("pipeline runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

/// Run and expect success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "pipeline {args:?} failed: {}\n{}",
        o.status,
        stderr(&o)
    );
    stdout(&o)
}

/// Every file under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A test fixture image, built by its script in tests/fixtures (cached by
/// the script's hash, so only the first call in a fresh CI pays for it).
pub fn fixture(script: &str) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(script) {
        return p.clone();
    }
    let out = Command::new(repo().join("tests/fixtures").join(script))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("the fixture script runs");
    assert!(out.status.success(), "tests/fixtures/{script} failed");
    let path = PathBuf::from(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    );
    assert!(path.exists(), "{} missing", path.display());
    built.insert(script.to_owned(), path.clone());
    path
}

const TINY_TEMPLATE: &str = r#"#!/bin/sh
set -eu
echo "provisioning {{ image_name }}"
mkdir -p /etc/pipeline-test
echo {{ case | shell_quote }} >/etc/pipeline-test/case
{% if case == "a-fails" %}
echo "about to fail on purpose"
exit 1
{% endif %}
{% if case == "hangs" %}
echo "hanging on purpose"
sleep 100000
{% endif %}
echo "finished {{ case }}"
"#;

/// A recipe on the tiny image (`tiny.toml` in the sandbox) with the given `case` values.
pub fn tiny_recipe(sb: &Sandbox, cases: &[&str], keep: u32, timeout: &str, sha256: Option<&str>) {
    let image = fixture("tiny-image.sh");
    let sha = sha256.map_or_else(|| fixture_sha256(&image), str::to_owned);
    sb.write("tiny.sh.tera", TINY_TEMPLATE);
    let cases: Vec<String> = cases.iter().map(|c| format!("\"{c}\"")).collect();
    sb.write(
        "tiny.toml",
        &format!(
            r#"[image]
prefix = "tiny"
template = "tiny.sh.tera"

[bases.tiny]
url = "{}"
sha256 = "{sha}"

[matrix]
base = ["tiny"]
case = [{}]

[build]
cpus = 1
memory = "256M"
timeout = "{timeout}"

[[target]]
name = "local"
kind = "directory"
path = "images"
keep = {keep}
"#,
            image.display(),
            cases.join(", ")
        ),
    );
}

pub fn assert_no_qemu_left(sb: &Sandbox) {
    // PR_SET_PDEATHSIG and process-group kills act at once; allow a moment.
    for _ in 0..20 {
        if live_qemus(sb.path()).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "qemu-system processes survived: {:?}",
        live_qemus(sb.path())
    );
}

/// recipes/demo.toml on the Debian cloud image fixture, its template by
/// absolute path, storing into `images` beside the recipe.
pub fn demo_recipe() -> String {
    let image = fixture("cloud-image.sh");
    let recipe = std::fs::read_to_string(repo().join("recipes/demo.toml"))
        .unwrap()
        .replace(
            "../templates/demo.sh.tera",
            &repo().join("templates/demo.sh.tera").display().to_string(),
        )
        .replace(
            "url = \"demo-base/debian-cloud.qcow2\"\nsha256sums = \"demo-base/SHA256SUMS\"\n",
            &format!(
                "url = \"{}\"\nsha256 = \"{}\"\n",
                image.display(),
                fixture_sha256(&image)
            ),
        )
        .replace("path = \"../images\"", "path = \"images\"");
    assert!(
        recipe.contains("sha256 = \""),
        "the demo recipe changed shape"
    );
    recipe
}

/// The SHA-256 a fixture's sidecar records.
pub fn fixture_sha256(image: &Path) -> String {
    let sidecar = std::fs::read_to_string(format!("{}.sha256", image.display())).unwrap();
    sidecar.split_whitespace().next().unwrap().to_owned()
}

/// Tests that boot VMs take turns: two cores do not run several at once well.
pub fn vm_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Live (not zombie) `qemu-system-*` processes whose command line mentions
/// `dir` (a test's sandbox: other VMs on the machine are not ours).
pub fn live_qemus(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|x| x.1).unwrap_or_default();
        let state = rest.split_whitespace().next().unwrap_or_default();
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let mine = String::from_utf8_lossy(&cmdline).contains(&dir);
        if comm.starts_with("qemu-system") && state != "Z" && mine {
            found.push(format!("{name} {comm}"));
        }
    }
    found
}

/// A private directory with its own cache and state dirs, where a test
/// writes recipes and runs `pipeline` against them.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::Builder::new()
                .prefix("pipeline-test-")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = pipeline(args);
        cmd.current_dir(self.path())
            .env("PIPELINE_CACHE_DIR", self.path().join("cache"))
            .env("PIPELINE_STATE_DIR", self.path().join("state"));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The newest run directory, of any recipe.
    pub fn run_dir(&self) -> PathBuf {
        let runs = self.path().join("state/runs");
        let mut dirs = Vec::new();
        for recipe in std::fs::read_dir(&runs).unwrap().flatten() {
            for run in std::fs::read_dir(recipe.path()).unwrap().flatten() {
                dirs.push(run.path());
            }
        }
        // Run ids sort by start time (to the millisecond).
        dirs.sort_by_key(|d| d.file_name().map(|n| n.to_owned()));
        dirs.pop().expect("a run directory")
    }

    /// The newest run directory's `run.log`.
    pub fn run_log(&self) -> String {
        std::fs::read_to_string(self.run_dir().join("run.log")).unwrap()
    }

    /// Revision numbers present (with metadata) for an image name.
    pub fn revisions(&self, store: &str, image: &str) -> Vec<u64> {
        let dir = self.path().join(store).join(image);
        let mut revs: Vec<u64> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.strip_suffix(".json")?.parse().ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        revs.sort();
        revs
    }
}

/// Whether `needle` occurs anywhere in the file's bytes. GNU grep, because a
/// byte-by-byte scan of a multi-GiB disk in a debug build takes many minutes;
/// on binary data grep splits at NUL bytes and skips sparse holes.
pub fn file_contains(path: &Path, needle: &str) -> bool {
    let st = Command::new("grep")
        .args(["-q", "-F", "-e", needle, "--"])
        .arg(path)
        .status()
        .unwrap();
    match st.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("grep failed on {}: {st}", path.display()),
    }
}

/// Read a file from the root filesystem (partition 1, at 1 MiB) of a raw
/// disk image with debugfs, without mounting it. `None` if it is not there.
pub fn debugfs_cat(raw: &Path, path: &str) -> Option<String> {
    let out = Command::new("debugfs")
        .args(["-R", &format!("cat {path}")])
        .arg(format!("{}?offset=1048576", raw.display()))
        .output()
        .expect("debugfs is installed (e2fsprogs)");
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("File not found") {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ls` of a directory in the image; `None` if it does not exist.
pub fn debugfs_ls(raw: &Path, path: &str) -> Option<Vec<String>> {
    let out = Command::new("debugfs")
        .args(["-R", &format!("ls -p {path}")])
        .arg(format!("{}?offset=1048576", raw.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("File not found") {
        return None;
    }
    // ls -p lines: /inode/mode/uid/gid/name/size/
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split('/').nth(5).map(str::to_owned))
            .filter(|n| !n.is_empty() && n != "." && n != "..")
            .collect(),
    )
}

/// Convert a qcow2 to raw next to `dir`.
pub fn to_raw(qcow2: &Path, dir: &Path) -> PathBuf {
    let raw = dir.join(format!(
        "{}.raw",
        qcow2.file_stem().unwrap().to_string_lossy()
    ));
    let st = Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(qcow2)
        .arg(&raw)
        .status()
        .unwrap();
    assert!(st.success());
    raw
}

// OpenStack ----------------------------------------------------------------

/// A real Keystone and two real Glances on 127.0.0.1 (`tests/openstack/rig`)
/// in a temp dir of their own; stopped when dropped.
pub struct Rig {
    pub dir: tempfile::TempDir,
}

impl Rig {
    pub fn start() -> Rig {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        // The venv is cached; the first call of a fresh machine builds it.
        INSTALLED.call_once(|| {
            let st = Command::new(repo().join("tests/openstack/rig"))
                .arg("install")
                .stdout(std::process::Stdio::null())
                .status()
                .expect("tests/openstack/rig runs");
            assert!(st.success(), "tests/openstack/rig install failed");
        });
        let dir = tempfile::Builder::new()
            .prefix("pipeline-rig-")
            .tempdir()
            .unwrap();
        let rig = Rig { dir };
        let out = rig.command(&["start"]).output().unwrap();
        assert!(
            out.status.success(),
            "rig start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        rig
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(repo().join("tests/openstack/rig"));
        cmd.arg(args[0]).arg(self.dir.path()).args(&args[1..]);
        cmd
    }

    /// A value of `DIR/rig.env` (read again each time: stop/start rewrite it).
    pub fn env(&self, key: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("rig.env")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| v.trim_matches('\'').to_owned())
            .unwrap_or_else(|| panic!("{key} not in rig.env"))
    }

    pub fn clouds_yaml(&self) -> PathBuf {
        self.dir.path().join("clouds.yaml")
    }

    /// `a` or `b`.
    pub fn glance_url(&self, which: &str) -> String {
        self.env(&format!("GLANCE_{}_URL", which.to_uppercase()))
    }

    /// Where Glance `which` keeps image data.
    pub fn glance_store(&self, which: &str) -> PathBuf {
        PathBuf::from(self.env(&format!("GLANCE_{}_STORE", which.to_uppercase())))
    }

    pub fn stop_glance(&self, which: &str, kill: bool) {
        let mut args = vec!["stop-glance", which];
        if kill {
            args.push("--kill");
        }
        let out = self.command(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn start_glance(&self, which: &str) {
        let out = self.command(&["start-glance", which]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A project-scoped token.
    pub fn token(&self, user: &str, password: &str, project: &str) -> String {
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
        let mut resp = rig_agent()
            .post(format!("{}/auth/tokens", self.env("KEYSTONE_URL")))
            .send_json(&body)
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            201,
            "{:?}",
            resp.body_mut().read_to_string()
        );
        resp.headers()["X-Subject-Token"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// ci-user's token in project ci (what `cloud-a` / `cloud-b` use).
    pub fn ci_token(&self) -> String {
        self.token(
            &self.env("CI_USER"),
            &self.env("CI_PASSWORD"),
            &self.env("CI_PROJECT"),
        )
    }

    pub fn admin_token(&self) -> String {
        self.token("admin", &self.env("ADMIN_PASSWORD"), "admin")
    }

    /// A JSON call: status and body (`null` when empty or not JSON).
    pub fn api(
        &self,
        method: &str,
        url: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("X-Auth-Token", token);
        let result = match body {
            Some(b) => rig_agent().run(
                request
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(&b).unwrap())
                    .unwrap(),
            ),
            None => rig_agent().run(request.body(()).unwrap()),
        };
        let mut resp = result.unwrap();
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or_default())
    }

    /// Every image Glance `which` lists for `token` with `query`
    /// (`name=…&…`), following `next`.
    pub fn images(&self, which: &str, token: &str, query: &str) -> Vec<serde_json::Value> {
        let root = self.glance_url(which);
        let mut url = format!("{root}/v2/images?limit=20&{query}");
        let mut all = Vec::new();
        loop {
            let (status, page) = self.api("GET", &url, token, None);
            assert_eq!(status, 200, "{page}");
            all.extend(page["images"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(next) => url = format!("{root}{next}"),
                None => return all,
            }
        }
    }

    /// Create an image as `token` and upload `data` into it; its id.
    pub fn create_image(
        &self,
        which: &str,
        token: &str,
        properties: serde_json::Value,
        data: &Path,
    ) -> String {
        let url = format!("{}/v2/images", self.glance_url(which));
        let (status, image) = self.api("POST", &url, token, Some(properties));
        assert_eq!(status, 201, "{image}");
        let id = image["id"].as_str().unwrap().to_owned();
        let resp = rig_agent()
            .put(format!("{url}/{id}/file"))
            .header("X-Auth-Token", token)
            .header("Content-Type", "application/octet-stream")
            .send(std::fs::read(data).unwrap())
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        id
    }

    /// The bytes of an image.
    pub fn download(&self, which: &str, token: &str, id: &str) -> Vec<u8> {
        let mut resp = rig_agent()
            .get(format!("{}/v2/images/{id}/file", self.glance_url(which)))
            .header("X-Auth-Token", token)
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.body_mut()
            .with_config()
            .limit(1 << 32)
            .read_to_vec()
            .unwrap()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.command(&["stop"]).output();
    }
}

/// HTTP to the rig: loopback only, so never through a proxy.
fn rig_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .build()
        .into()
}

/// Point a `pipeline` command at a clouds.yaml, with no other `OS_*`
/// variable of the caller's.
pub fn with_clouds(cmd: &mut Command, clouds_yaml: &Path) {
    for (key, _) in std::env::vars() {
        if key.starts_with("OS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("OS_CLIENT_CONFIG_FILE", clouds_yaml);
}
