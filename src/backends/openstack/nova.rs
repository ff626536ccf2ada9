//! Nova's compute API v2.1, through a cloud's [`Session`]: what a build
//! needs and nothing more (no keypairs, no security groups, no floating
//! IPs: the guest reports on its console).

use super::server::Server;
use crate::http::failure::status_error;
use crate::openstack::{Service, Session};
use crate::step::{StepError, StepResult};
use serde_json::{Value, json};

/// 2.37 creates servers with `"networks": "none"`; 2.45 answers
/// `createImage` with the image id in the body.
const MICROVERSION: &str = "2.45";

/// A flavor as Nova lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: u32,
    /// MiB.
    pub ram: u64,
    /// GB (10⁹ bytes, as Nova counts).
    pub disk: u64,
}

/// What the project may still start, from `GET /limits` (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Room {
    pub instances: Option<u64>,
    pub cores: Option<u64>,
    /// MiB.
    pub ram: Option<u64>,
}

pub struct Nova<'s> {
    session: &'s Session,
}

impl<'s> Nova<'s> {
    pub fn new(session: &'s Session) -> Self {
        Self { session }
    }

    fn cloud(&self) -> &str {
        &self.session.cloud().name
    }

    fn call(
        &self,
        what: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> StepResult<(u16, String)> {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("JSON serializes"));
        self.session.call(
            Service::Compute,
            what,
            method,
            path,
            bytes.as_deref().map(|b| ("application/json", b)),
            &[
                ("OpenStack-API-Version", &format!("compute {MICROVERSION}")),
                ("X-OpenStack-Nova-API-Version", MICROVERSION),
            ],
        )
    }

    /// `POST /servers`: the new server's id. `Err` with the answer's status
    /// for a refusal (403/413 for a quota).
    pub fn create_server(&self, body: &Value) -> StepResult<Result<String, (u16, String)>> {
        let name = body["server"]["name"].as_str().unwrap_or_default();
        let what = format!("create server `{name}` on cloud `{}`", self.cloud());
        let (status, text) = self.call(&what, "POST", "/servers", Some(body))?;
        if status != 202 && status != 200 {
            return Ok(Err((status, text)));
        }
        let answer: Value = json_of(&what, &text)?;
        answer["server"]["id"]
            .as_str()
            .map(|id| Ok(id.to_owned()))
            .ok_or_else(|| StepError::transient(format!("{what}: nova answered without an id")))
    }

    /// `GET /servers/{id}`; `None` once it is gone.
    pub fn server(&self, id: &str) -> StepResult<Option<Server>> {
        let what = format!("look up server {id} on cloud `{}`", self.cloud());
        let (status, text) = self.call(&what, "GET", &format!("/servers/{id}"), None)?;
        match status {
            404 => Ok(None),
            200 => Ok(Some(Server::from_json(&json_of(&what, &text)?["server"]))),
            _ => Err(status_error(&what, status, &text)),
        }
    }

    /// Every server of the project (`GET /servers/detail`, every page).
    pub fn servers(&self) -> StepResult<Vec<Server>> {
        let what = format!("list servers on cloud `{}`", self.cloud());
        let mut path = "/servers/detail?limit=200".to_owned();
        let mut all = Vec::new();
        for _ in 0..1000 {
            let (status, text) = self.call(&what, "GET", &path, None)?;
            if status != 200 {
                return Err(status_error(&what, status, &text));
            }
            let page = json_of(&what, &text)?;
            let servers = page["servers"].as_array().cloned().unwrap_or_default();
            all.extend(servers.iter().map(Server::from_json));
            let next = page["servers_links"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["rel"] == "next")
                .and_then(|l| l["href"].as_str());
            match next {
                Some(href) if !servers.is_empty() => path = href.to_owned(),
                _ => return Ok(all),
            }
        }
        Err(StepError::permanent(format!("{what}: too many pages")))
    }

    /// The last `lines` lines of the console; `None` when the guest has no
    /// console now (Nova answers 404 once it is off).
    pub fn console(&self, id: &str, lines: u32) -> StepResult<Option<String>> {
        let what = format!(
            "read the console of server {id} on cloud `{}`",
            self.cloud()
        );
        let body = json!({ "os-getConsoleOutput": { "length": lines } });
        let (status, text) =
            self.call(&what, "POST", &format!("/servers/{id}/action"), Some(&body))?;
        match status {
            200 => Ok(json_of(&what, &text)?["output"].as_str().map(str::to_owned)),
            404 | 409 => Ok(None),
            _ => Err(status_error(&what, status, &text)),
        }
    }

    /// `os-stop`: Nova powers the guest off (ACPI, then forcibly).
    pub fn stop(&self, id: &str) -> StepResult<()> {
        let what = format!("stop server {id} on cloud `{}`", self.cloud());
        let body = json!({ "os-stop": null });
        let (status, text) =
            self.call(&what, "POST", &format!("/servers/{id}/action"), Some(&body))?;
        match status {
            200..=299 => Ok(()),
            // Already stopped (the guest powered off by itself).
            409 => Ok(()),
            _ => Err(status_error(&what, status, &text)),
        }
    }

    /// `createImage` of a stopped server: the snapshot image's id.
    pub fn create_image(&self, id: &str, name: &str, metadata: &Value) -> StepResult<String> {
        let what = format!("snapshot server {id} on cloud `{}`", self.cloud());
        let body = json!({ "createImage": { "name": name, "metadata": metadata } });
        let (status, text) =
            self.call(&what, "POST", &format!("/servers/{id}/action"), Some(&body))?;
        if !(200..300).contains(&status) {
            return Err(status_error(&what, status, &text));
        }
        json_of(&what, &text)?["image_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                StepError::transient(format!("{what}: nova answered without an image id"))
            })
    }

    /// `DELETE /servers/{id}`; gone already is fine.
    pub fn delete(&self, id: &str) -> StepResult<()> {
        let what = format!("delete server {id} from cloud `{}`", self.cloud());
        let (status, text) = self.call(&what, "DELETE", &format!("/servers/{id}"), None)?;
        match status {
            200..=299 | 404 => Ok(()),
            _ => Err(status_error(&what, status, &text)),
        }
    }

    /// Every flavor the project may use.
    pub fn flavors(&self) -> StepResult<Vec<Flavor>> {
        let what = format!("list flavors on cloud `{}`", self.cloud());
        let (status, text) = self.call(&what, "GET", "/flavors/detail", None)?;
        if status != 200 {
            return Err(status_error(&what, status, &text));
        }
        Ok(json_of(&what, &text)?["flavors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                Some(Flavor {
                    id: f["id"].as_str()?.to_owned(),
                    name: f["name"].as_str().unwrap_or_default().to_owned(),
                    vcpus: f["vcpus"].as_u64()? as u32,
                    ram: f["ram"].as_u64()?,
                    disk: f["disk"].as_u64()?,
                })
            })
            .collect())
    }

    /// What the project's quota leaves room for.
    pub fn room(&self) -> StepResult<Room> {
        let what = format!("read the limits on cloud `{}`", self.cloud());
        let (status, text) = self.call(&what, "GET", "/limits", None)?;
        if status != 200 {
            return Err(status_error(&what, status, &text));
        }
        let absolute = &json_of(&what, &text)?["limits"]["absolute"];
        let left = |max: &str, used: &str| -> Option<u64> {
            let max = absolute[max].as_i64()?;
            // -1: unlimited.
            (max >= 0).then(|| (max - absolute[used].as_i64().unwrap_or(0)).max(0) as u64)
        };
        Ok(Room {
            instances: left("maxTotalInstances", "totalInstancesUsed"),
            cores: left("maxTotalCores", "totalCoresUsed"),
            ram: left("maxTotalRAMSize", "totalRAMUsed"),
        })
    }
}

fn json_of(what: &str, text: &str) -> StepResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| StepError::transient(format!("{what}: nova's answer is not JSON: {e}")))
}
