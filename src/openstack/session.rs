//! HTTP to one cloud: Keystone v3 authentication (once, shared by every
//! thread, renewed when the token nears its expiry or a service answers
//! 401) and calls to its services (Glance, Nova), found in the catalog.
//!
//! Proxies: as the fetch step does without `services.proxy`: `https_proxy`
//! / `http_proxy` / `all_proxy` (either case) by scheme, except loopback
//! and `no_proxy` hosts; none when those are unset.

use super::{CloudConfig, Service, Token};
use crate::files::{MAX_TEXT_BYTES, RegularFile};
use crate::http::failure::{error_message, status_error, transport_error};
use crate::http::progress_guard::ProgressGuard;
use crate::http::{agent, proxy};
use crate::output::{Scrubber, without_userinfo};
use crate::step::{StepError, StepResult};
use serde_json::{Value, json};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// No byte moving either way for this long: the connection is dead.
const STALL_TIMEOUT: Duration = Duration::from_secs(300);
/// How long Glance may take to answer once an image's last byte is sent
/// (at least the cloud's `api_timeout`).
const UPLOAD_ANSWER: Duration = Duration::from_secs(300);
/// Pauses before the tries again of an API call that got a transient
/// answer, while its deadline leaves room.
const RETRY_PAUSES: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// Largest JSON answer read (a page of images with their properties).
const MAX_BODY: u64 = 64 << 20;

/// An answer: status, body, and `X-Subject-Token` when there is one.
type Reply = (u16, String, Option<String>);

/// Authenticated access to one cloud; `Send + Sync`, shared by the threads
/// that use it (every target and the build backend on that cloud).
pub struct Session {
    cloud: CloudConfig,
    token: Mutex<Option<Arc<Token>>>,
    agents: Mutex<Vec<(Option<String>, ureq::Agent)>>,
    auths: AtomicUsize,
}

impl Session {
    /// No I/O: authentication waits for the first call.
    pub fn new(cloud: CloudConfig) -> Self {
        Self {
            cloud,
            token: Mutex::new(None),
            agents: Mutex::new(Vec::new()),
            auths: AtomicUsize::new(0),
        }
    }

    pub fn cloud(&self) -> &CloudConfig {
        &self.cloud
    }

    /// How many times this session authenticated.
    pub fn auth_count(&self) -> usize {
        self.auths.load(Ordering::SeqCst)
    }

    /// A fresh token, authenticating when there is none yet or it nears its
    /// expiry. Threads that ask at once wait for one authentication.
    pub fn token(&self) -> StepResult<Arc<Token>> {
        let mut slot = lock(&self.token);
        if let Some(t) = slot.as_ref()
            && t.is_fresh(jiff::Timestamp::now())
        {
            return Ok(t.clone());
        }
        let token = Arc::new(self.authenticate()?);
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Forget `stale` (a service said 401 to it), unless another thread has
    /// already replaced it.
    pub fn invalidate(&self, stale: &Token) {
        let mut slot = lock(&self.token);
        if slot.as_ref().is_some_and(|t| t.value == stale.value) {
            *slot = None;
        }
    }

    fn authenticate(&self) -> StepResult<Token> {
        let cloud = &self.cloud;
        let url = format!("{}/auth/tokens", cloud.identity_url());
        let what = format!(
            "authenticate to cloud `{}` as user `{}`",
            cloud.name,
            cloud.user_label()
        );
        let body = serde_json::to_vec(&auth_body(cloud)).expect("JSON serializes");
        self.auths.fetch_add(1, Ordering::SeqCst);
        let (status, text, subject) = self.send(
            &what,
            "POST",
            &url,
            None,
            Some(("application/json", &body)),
            &[],
        )?;
        match status {
            200 | 201 => {}
            401 => {
                let message = error_message(&text);
                return Err(StepError::permanent(format!(
                    "authentication failed for cloud `{}` as user `{}`: {message} (http 401; check the credentials in {})",
                    cloud.name,
                    cloud.user_label(),
                    cloud.source
                )));
            }
            _ => return Err(status_error(&what, status, &text)),
        }
        if let Some(token) = &subject {
            Scrubber::global().register(token);
        }
        let Some(value) = subject else {
            return Err(StepError::transient(format!(
                "{what}: keystone answered {status} without X-Subject-Token"
            )));
        };
        let body: Value = serde_json::from_str(&text).map_err(|e| {
            StepError::transient(format!("{what}: keystone's answer is not JSON: {e}"))
        })?;
        Token::from_response(value, &body, cloud).map_err(|e| StepError::transient(e.to_string()))
    }

    /// The URL of `path` on `service` (see [`Service::url`]), with `token`.
    pub fn url(&self, token: &Token, service: Service, path: &str) -> StepResult<String> {
        let root = token.root(service).map_err(|e| {
            StepError::permanent(format!(
                "find the {service} service of cloud `{}`: {e}",
                self.cloud.name
            ))
        })?;
        Ok(service.url(&root, path))
    }

    /// A Glance API call (see [`Session::call`]).
    pub fn image_call(
        &self,
        what: &str,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> StepResult<(u16, String)> {
        self.call(Service::Image, what, method, path, body, &[])
    }

    /// A call to `service` with a token and `headers`; `path` as
    /// [`Service::url`] takes it. On 401 the token is renewed and the call
    /// made once more. Returns the status and body, whatever the status.
    pub fn call(
        &self,
        service: Service,
        what: &str,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
        headers: &[(&str, &str)],
    ) -> StepResult<(u16, String)> {
        let mut renewed = false;
        loop {
            let token = self.token()?;
            let url = self.url(&token, service, path)?;
            let (status, text, _) =
                self.send(what, method, &url, Some(&token.value), body, headers)?;
            if status == 401 && !renewed {
                self.invalidate(&token);
                renewed = true;
                continue;
            }
            return Ok((status, text));
        }
    }

    /// `PUT` a body of `len` bytes read from `reader` with Content-Length
    /// (never chunked). The inner error is left to the caller, which knows
    /// whether the reader stopped the request.
    ///
    /// Bounds: connecting and the request's headers within `api_timeout`;
    /// the body by its progress ([`ProgressGuard`]) and the stall timeout,
    /// not by a deadline; the answer's headers within [`UPLOAD_ANSWER`]
    /// after the last byte (Glance finishes writing the image first), its
    /// body within `api_timeout`.
    pub fn put_stream(
        &self,
        url: &str,
        token: &Token,
        len: u64,
        reader: &mut dyn Read,
    ) -> StepResult<Result<(u16, String), ureq::Error>> {
        let agent = self.agent(url)?;
        let api = self.cloud.api_timeout;
        let sent = agent
            .put(url)
            .config()
            .timeout_connect(Some(api.min(agent::CONNECT_TIMEOUT)))
            .timeout_send_request(Some(api))
            .timeout_recv_response(Some(UPLOAD_ANSWER.max(api)))
            .timeout_recv_body(Some(api))
            .build()
            .header("X-Auth-Token", &token.value)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", len.to_string())
            .header("Accept", "application/json")
            .send(ureq::SendBody::from_reader(&mut ProgressGuard::new(reader)));
        Ok(sent.map(|mut response| {
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_string()
                .unwrap_or_default();
            (status, text)
        }))
    }

    /// `GET` a body that the caller reads as it streams (an image's bytes).
    /// Connecting, the request and the answer's headers within
    /// `api_timeout`; the body is the caller's to bound (by progress: see
    /// [`ProgressGuard`]), and the stall timeout.
    pub fn get_stream(
        &self,
        url: &str,
        token: &Token,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let agent = self
            .agent(url)
            .map_err(|e| ureq::Error::Other(e.message.into()))?;
        let api = self.cloud.api_timeout;
        agent
            .get(url)
            .config()
            .timeout_connect(Some(api.min(agent::CONNECT_TIMEOUT)))
            .timeout_send_request(Some(api))
            .timeout_recv_response(Some(api))
            .build()
            .header("X-Auth-Token", &token.value)
            .header("Accept", "application/octet-stream")
            .call()
    }

    /// One API call: connecting, the request and the whole answer within
    /// the cloud's `api_timeout`, retries included. A 502, 503 or 504 to a
    /// call that is safe to repeat (GET, HEAD, PUT, DELETE, and Keystone's
    /// `POST /auth/tokens`), and a connection that could not be made, are
    /// tried again after 1 s, 2 s, 4 s while the deadline leaves room; the
    /// last answer is the caller's to judge.
    fn send(
        &self,
        what: &str,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<(&str, &[u8])>,
        headers: &[(&str, &str)],
    ) -> StepResult<Reply> {
        let limit = self.cloud.api_timeout;
        let deadline = Instant::now() + limit;
        let repeatable =
            matches!(method, "GET" | "HEAD" | "PUT" | "DELETE") || url.ends_with("/auth/tokens");
        let mut pauses = RETRY_PAUSES.iter();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let outcome = self.send_once(what, method, url, token, body, headers, left)?;
            let again = match &outcome {
                Ok((status, _, _)) => repeatable && matches!(status, 502..=504),
                Err(e) => not_sent(e) || (repeatable && cut_off(e)),
            };
            // A try again needs a quarter of the limit at least, or its
            // failure would be the deadline's rather than the cloud's.
            let pause = pauses
                .next()
                .filter(|p| Instant::now() + **p + limit / 4 < deadline);
            match (again, pause) {
                (true, Some(pause)) => std::thread::sleep(*pause),
                _ => {
                    return outcome.map_err(|e| match e {
                        ureq::Error::Timeout(ureq::Timeout::Global) => StepError::transient(format!(
                            "{what}: {}: no complete answer within {} (the api_timeout of cloud `{}`)",
                            without_userinfo(url),
                            seconds(limit),
                            self.cloud.name
                        )),
                        e => transport_error(what, url, &e),
                    });
                }
            }
        }
    }

    /// One try of [`send`](Self::send), with `left` for all of it.
    #[allow(clippy::too_many_arguments)]
    fn send_once(
        &self,
        what: &str,
        method: &str,
        url: &str,
        token: Option<&str>,
        body: Option<(&str, &[u8])>,
        headers: &[(&str, &str)],
        left: Duration,
    ) -> StepResult<Result<Reply, ureq::Error>> {
        let agent = self.agent(url)?;
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Accept", "application/json");
        if let Some(t) = token {
            request = request.header("X-Auth-Token", t);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let invalid = |e: ureq::http::Error| {
            StepError::permanent(format!(
                "{what}: invalid request to {}: {e}",
                without_userinfo(url)
            ))
        };
        let result = match body {
            Some((content_type, bytes)) => {
                let request = request
                    .header("Content-Type", content_type)
                    .body(bytes)
                    .map_err(invalid)?;
                agent.run(
                    agent
                        .configure_request(request)
                        .timeout_global(Some(left))
                        .build(),
                )
            }
            None => {
                let request = request.body(()).map_err(invalid)?;
                agent.run(
                    agent
                        .configure_request(request)
                        .timeout_global(Some(left))
                        .build(),
                )
            }
        };
        Ok(result.and_then(|mut response| {
            let status = response.status().as_u16();
            let subject = response
                .headers()
                .get("X-Subject-Token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let text = response
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_string()?;
            Ok((status, text, subject))
        }))
    }

    /// One agent per proxy choice (usually one in all).
    fn agent(&self, url: &str) -> StepResult<ureq::Agent> {
        let env = |name: &str| std::env::var(name).ok();
        let chosen = proxy::choose(url, None, &env);
        let key = chosen.as_ref().map(|(p, _)| p.clone());
        let mut agents = lock(&self.agents);
        if let Some((_, agent)) = agents.iter().find(|(k, _)| *k == key) {
            return Ok(agent.clone());
        }
        let made = match &chosen {
            Some((value, from)) => Some(proxy::make(value, from)?),
            None => None,
        };
        let config = agent::config(made, STALL_TIMEOUT)
            .max_redirects(0)
            .max_idle_age(Duration::from_secs(15))
            .tls_config(self.tls_config()?)
            .build();
        let agent = ureq::Agent::new_with_config(config);
        agents.push((key, agent.clone()));
        Ok(agent)
    }

    fn tls_config(&self) -> StepResult<ureq::tls::TlsConfig> {
        let mut tls = ureq::tls::TlsConfig::builder().disable_verification(!self.cloud.verify);
        if let Some(path) = &self.cloud.cacert {
            let what = format!("cacert {} of cloud `{}`", path.display(), self.cloud.name);
            let pem = RegularFile::read_bytes(path, MAX_TEXT_BYTES)
                .map_err(|e| StepError::permanent(format!("failed to read {what}: {e}")))?;
            let certs: Vec<ureq::tls::Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(StepError::permanent(format!(
                    "{what}: no PEM certificate in it"
                )));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        Ok(tls.build())
    }
}

/// Keystone v3 `POST /auth/tokens` body: password with a project scope, or
/// an application credential (scoped by itself).
fn auth_body(cloud: &CloudConfig) -> Value {
    let domain = |id: &Option<String>, name: &Option<String>| match (id, name) {
        (Some(id), _) => Some(json!({ "id": id })),
        (None, Some(name)) => Some(json!({ "name": name })),
        (None, None) => None,
    };
    let user = || -> Value {
        match (&cloud.user_id, &cloud.username) {
            (Some(id), _) => json!({ "id": id }),
            (None, name) => {
                let mut user = json!({ "name": name });
                if let Some(d) = domain(&cloud.user_domain_id, &cloud.user_domain_name) {
                    user["domain"] = d;
                }
                user
            }
        }
    };
    if cloud.auth_type == "v3applicationcredential" {
        let mut cred = json!({ "secret": cloud.application_credential_secret });
        match (
            &cloud.application_credential_id,
            &cloud.application_credential_name,
        ) {
            (Some(id), _) => cred["id"] = json!(id),
            (None, name) => {
                cred["name"] = json!(name);
                cred["user"] = user();
            }
        }
        return json!({"auth": {"identity": {
            "methods": ["application_credential"],
            "application_credential": cred,
        }}});
    }
    let mut user = user();
    user["password"] = json!(cloud.password);
    let project = match (&cloud.project_id, &cloud.project_name) {
        (Some(id), _) => json!({ "id": id }),
        (None, name) => {
            let mut project = json!({ "name": name });
            if let Some(d) = domain(&cloud.project_domain_id, &cloud.project_domain_name) {
                project["domain"] = d;
            }
            project
        }
    };
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": user}},
        "scope": {"project": project},
    }})
}

/// The request never reached the server: safe to send again, whatever it is.
fn not_sent(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
        ureq::Error::Io(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        _ => false,
    }
}

/// The connection broke before the answer was complete (not a timeout:
/// a deadline spent is not tried again).
fn cut_off(e: &ureq::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(e, ureq::Error::Io(e) if matches!(
        e.kind(),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
    ))
}

/// `2 s`, `0.5 s`.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openstack::{CloudsYaml, ConfigEnv};

    fn cloud(auth: Value, extra: Value) -> CloudConfig {
        let mut c = json!({ "auth": auth });
        if let Value::Object(extra) = extra {
            c.as_object_mut().unwrap().extend(extra);
        }
        CloudConfig::from_clouds(
            "c",
            &CloudsYaml::from_value(&json!({"clouds": {"c": c}})),
            &ConfigEnv::default(),
        )
        .unwrap()
    }

    #[test]
    fn password_body_with_names_and_domains() {
        let c = cloud(
            json!({"auth_url": "http://k/v3", "username": "u", "password": "p",
                   "project_name": "pr", "user_domain_name": "UD", "project_domain_id": "pd"}),
            json!({}),
        );
        assert_eq!(
            auth_body(&c),
            json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": "u", "domain": {"name": "UD"}, "password": "p"}}},
                "scope": {"project": {"name": "pr", "domain": {"id": "pd"}}}}})
        );
    }

    #[test]
    fn password_body_with_ids() {
        let c = cloud(
            json!({"auth_url": "http://k/v3", "user_id": "u1", "password": "p", "project_id": "p1"}),
            json!({}),
        );
        assert_eq!(
            auth_body(&c),
            json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {"id": "u1", "password": "p"}}},
                "scope": {"project": {"id": "p1"}}}})
        );
    }

    #[test]
    fn application_credential_body() {
        let c = cloud(
            json!({"auth_url": "http://k/v3", "application_credential_name": "ac",
                   "application_credential_secret": "s", "username": "u", "user_domain_name": "D"}),
            json!({"auth_type": "v3applicationcredential"}),
        );
        assert_eq!(
            auth_body(&c),
            json!({"auth": {"identity": {"methods": ["application_credential"],
                "application_credential": {"name": "ac", "secret": "s",
                    "user": {"name": "u", "domain": {"name": "D"}}}}}})
        );
    }

    /// A fake Keystone + Glance: every login hands out `t1`, `t2`, …;
    /// Glance accepts only the newest token. Records `METHOD path` of each
    /// request.
    struct Fake {
        url: String,
        log: Arc<Mutex<Vec<String>>>,
        server: Arc<tiny_http::Server>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    type Answer = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

    impl Fake {
        fn start() -> Self {
            let mut issued = 0;
            Self::serve(move |line, token, url| {
                if line == "POST /v3/auth/tokens" {
                    issued += 1;
                    let body = json!({"token": {
                        "expires_at": "2999-01-01T00:00:00Z",
                        "issued_at": "2000-01-01T00:00:00Z",
                        "project": {"id": "p1"},
                        "catalog": [{"type": "image", "endpoints": [
                            {"interface": "public", "region_id": "R", "url": url}]}]}});
                    tiny_http::Response::from_string(body.to_string())
                        .with_status_code(201)
                        .with_header(
                            tiny_http::Header::from_bytes("X-Subject-Token", format!("t{issued}"))
                                .unwrap(),
                        )
                } else if token == Some(format!("t{issued}")) {
                    tiny_http::Response::from_string(r#"{"images": []}"#)
                } else {
                    tiny_http::Response::from_string(
                        "<html><body><h1>401</h1>expired</body></html>",
                    )
                    .with_status_code(401)
                }
            })
        }

        /// A loopback server that logs each request's `METHOD path` and
        /// answers with `answer(that line, its X-Auth-Token, its own url)`.
        fn serve(
            mut answer: impl FnMut(&str, Option<String>, &str) -> Answer + Send + 'static,
        ) -> Self {
            let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
            let url = format!(
                "http://127.0.0.1:{}",
                server.server_addr().to_ip().unwrap().port()
            );
            let log = Arc::new(Mutex::new(Vec::new()));
            let thread = {
                let (server, log, url) = (server.clone(), log.clone(), url.clone());
                std::thread::spawn(move || {
                    for request in server.incoming_requests() {
                        let line = format!("{} {}", request.method(), request.url());
                        log.lock().unwrap().push(line.clone());
                        let token = request
                            .headers()
                            .iter()
                            .find(|h| h.field.equiv("X-Auth-Token"))
                            .map(|h| h.value.to_string());
                        let _ = request.respond(answer(&line, token, &url));
                    }
                })
            };
            Self {
                url,
                log,
                server,
                thread: Some(thread),
            }
        }

        fn session(&self) -> Session {
            Session::new(cloud(
                json!({"auth_url": format!("{}/v3", self.url), "username": "u",
                       "password": "p", "project_name": "x"}),
                json!({"region_name": "R"}),
            ))
        }

        fn logins(&self) -> usize {
            self.log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.starts_with("POST /v3/auth"))
                .count()
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            self.server.unblock();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    #[test]
    fn one_login_serves_every_thread() {
        let fake = Fake::start();
        let session = fake.session();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..3 {
                        let (status, _) =
                            session.image_call("list", "GET", "/images", None).unwrap();
                        assert_eq!(status, 200);
                    }
                });
            }
        });
        assert_eq!(fake.logins(), 1);
        assert_eq!(session.auth_count(), 1);
        assert_eq!(session.token().unwrap().project_id.as_deref(), Some("p1"));
    }

    #[test]
    fn a_401_from_glance_logs_in_again_once() {
        let fake = Fake::start();
        let old = fake.session();
        old.token().unwrap();
        // Another client logs in: the fake now refuses `old`'s token.
        fake.session().token().unwrap();
        let (status, body) = old.image_call("list", "GET", "/images", None).unwrap();
        assert_eq!((status, body.as_str()), (200, r#"{"images": []}"#));
        assert_eq!(old.auth_count(), 2);
        assert_eq!(
            *fake.log.lock().unwrap(),
            [
                "POST /v3/auth/tokens",
                "POST /v3/auth/tokens",
                "GET /v2/images",
                "POST /v3/auth/tokens",
                "GET /v2/images",
            ]
        );
        // A second 401 in a row is the caller's to report.
        fake.session().token().unwrap();
        fake.session().token().unwrap();
        let (status, _) = old.image_call("list", "GET", "/images", None).unwrap();
        assert_eq!(status, 200);
    }

    #[test]
    fn a_refused_connection_is_transient_and_names_the_cloud() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Too short a deadline to try again after 1 s.
        let s = Session::new(cloud(
            json!({"auth_url": format!("http://127.0.0.1:{port}/v3"), "username": "u",
                   "password": "p", "project_name": "x"}),
            json!({"api_timeout": 0.5}),
        ));
        let err = s.token().unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(
            err.message.starts_with(&format!(
                "authenticate to cloud `c` as user `u`: http://127.0.0.1:{port}/v3/auth/tokens: "
            )),
            "{}",
            err.message
        );
        assert_eq!(s.auth_count(), 1);
    }

    #[test]
    fn a_503_is_tried_again_only_where_that_is_safe() {
        // Keystone hands out a token; Glance answers 503 to everything.
        let fake = Fake::serve(|line, _, url| {
            if line == "POST /v3/auth/tokens" {
                let body = json!({"token": {
                    "expires_at": "2999-01-01T00:00:00Z",
                    "catalog": [{"type": "image", "endpoints": [
                        {"interface": "public", "url": url}]}]}});
                tiny_http::Response::from_string(body.to_string())
                    .with_status_code(201)
                    .with_header(tiny_http::Header::from_bytes("X-Subject-Token", "t").unwrap())
            } else {
                tiny_http::Response::from_string("").with_status_code(503)
            }
        });
        let url = &fake.url;
        // Room for one pause (1 s), not two (1 s + 2 s).
        let s = Session::new(cloud(
            json!({"auth_url": format!("{url}/v3"), "username": "u",
                   "password": "p", "project_name": "x"}),
            json!({"api_timeout": 2.5}),
        ));
        let (status, _) = s.image_call("list", "GET", "/images", None).unwrap();
        assert_eq!(status, 503);
        let (status, _) = s
            .image_call(
                "create",
                "POST",
                "/images",
                Some(("application/json", b"{}")),
            )
            .unwrap();
        assert_eq!(status, 503);
        assert_eq!(
            *fake.log.lock().unwrap(),
            [
                "POST /v3/auth/tokens",
                "GET /v2/images",
                "GET /v2/images",
                "POST /v2/images",
            ]
        );
    }
}
