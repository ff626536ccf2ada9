//! The client side of tests/openstack/rig: a real Keystone and two real
//! Glances on loopback, and the HTTP calls the tests make to them.

use super::repo;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A real Keystone and two real Glances on 127.0.0.1 (`tests/openstack/rig`)
/// in a temp dir of their own; stopped when dropped.
pub struct Rig {
    pub dir: tempfile::TempDir,
}

impl Rig {
    pub fn start() -> Rig {
        Rig::start_with(&[])
    }

    /// The one `--nova` rig of this test process (Nova, Placement and
    /// libvirt beside Keystone and the Glances): only one runs per
    /// machine, and it takes ~20 s to start. Never dropped: it stops itself
    /// when this process exits (`--watch-pid`).
    pub fn nova() -> &'static Rig {
        static RIG: std::sync::OnceLock<Rig> = std::sync::OnceLock::new();
        RIG.get_or_init(|| {
            Rig::start_with(&["--nova", "--watch-pid", &std::process::id().to_string()])
        })
    }

    fn start_with(options: &[&str]) -> Rig {
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
        let out = rig
            .command(&[&["start"][..], options].concat())
            .output()
            .unwrap();
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

    /// The text of the rig's clouds.yaml plus a cloud `name`: ci-user in
    /// project ci with `password`, in `region`.
    pub fn clouds_yaml_with(&self, name: &str, password: &str, region: &str) -> String {
        let mut yaml = std::fs::read_to_string(self.clouds_yaml()).unwrap();
        yaml.push_str(&format!(
            "  {name}:\n    auth:\n      auth_url: \"{}\"\n      username: \"ci-user\"\n      password: \"{password}\"\n      project_name: \"ci\"\n      user_domain_name: \"Default\"\n      project_domain_name: \"Default\"\n    region_name: \"{region}\"\n",
            self.env("KEYSTONE_URL")
        ));
        yaml
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

    /// The id of a project (as admin).
    pub fn project_id(&self, name: &str) -> String {
        let url = format!("{}/projects?name={name}", self.env("KEYSTONE_URL"));
        let (status, answer) = self.api("GET", &url, &self.admin_token(), None);
        assert_eq!(status, 200, "{answer}");
        answer["projects"][0]["id"].as_str().unwrap().to_owned()
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

    /// A JSON call: status and body (`null` when empty or not JSON). Calls
    /// to Nova name the compute microversion pipeline uses.
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
            .header("X-Auth-Token", token)
            .header("OpenStack-API-Version", "compute 2.45");
        let result = match body {
            Some(b) => rig_agent().run(
                request
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(&b).unwrap())
                    .unwrap(),
            ),
            // An empty body of known length: to ureq's bodiless POST,
            // Glance's image actions answer 400 "a body is not expected".
            None => rig_agent().run(request.body(Vec::<u8>::new()).unwrap()),
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
