//! The fetch step: download or copy a base image, verify its SHA-256, and
//! keep it in the cache under its digest.
//!
//! Invariants:
//! - `<cache_dir>/<sha256>.img` only ever appears by an atomic rename of a
//!   file whose digest was checked, so its existence means "verified";
//! - everything in flight lives at `<cache_dir>/.<sha256>.<uuid>.partial`
//!   (a [`TempFile`]), removed on every error, on cancellation and on panic;
//! - memory use is one fixed buffer, whatever the image size.

use super::FetchedBase;
use crate::files::RegularFile;
use crate::files::digest::{CopyError, copy_hashing};
use crate::files::{TempFile, sync_dir};
use crate::host::qemu_img;
use crate::http::progress_guard::ProgressGuard;
use crate::http::{agent, failure, proxy};
use crate::model::{Base, Checksum, Resource};
use crate::output::lowercase_first;
use crate::state::ensure_dir;
use crate::step::CancelToken;
use crate::step::{StepError, StepResult};
use camino::Utf8Path;
use std::fs;
use std::io::{self, Read};
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
pub struct FetchOptions<'a> {
    /// `Layout::bases()`: verified bases live here, named by SHA-256.
    pub cache_dir: &'a Utf8Path,
    /// `services.proxy` from the recipe (`None` when empty), used for every
    /// URL. When `None`: `http_proxy`/`https_proxy`/`all_proxy` (either
    /// case) by the URL's scheme, minus loopback and `no_proxy`.
    pub proxy: Option<&'a str>,
    pub cancel: &'a CancelToken,
    /// One line per event, for the step's log file.
    pub log: &'a (dyn Fn(&str) + Sync),
    /// Bytes done, total if known.
    pub progress: &'a (dyn Fn(u64, Option<u64>) + Sync),
}

/// A transfer fails when no byte arrives for this long (there is no total
/// timeout: bases are hundreds of megabytes).
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// A `SHA256SUMS` file larger than this is not one.
const SUMS_LIMIT: u64 = 16 * 1024 * 1024;

/// The SHA-256 the base must have (lowercase hex): `Checksum::Sha256` as
/// written, or looked up in the `SHA256SUMS` file (URL or path) under the
/// base's file name (`Resource::file_name()`). `SHA256SUMS` lines are
/// `<hex> *<name>` or `<hex>  <name>`.
pub fn expected_sha256(base: &Base, opts: &FetchOptions) -> StepResult<String> {
    match &base.checksum {
        Checksum::Sha256(hex) => normalize_sha256(hex)
            .ok_or_else(|| StepError::permanent(format!("invalid sha256 `{hex}`"))),
        Checksum::Sums(sums) => {
            let text = read_sums(sums, opts)?;
            let name = base.source.file_name();
            let hex = find_in_sums(&text, name)
                .map_err(|[(l1, a), (l2, b)]| {
                    StepError::permanent(format!(
                        "`{name}` is listed twice in {sums} with different digests \
                         (line {l1}: {a}, line {l2}: {b}): refusing to choose one"
                    ))
                })?
                .ok_or_else(|| StepError::permanent(format!("`{name}` is not listed in {sums}")))?;
            let sha = normalize_sha256(hex).ok_or_else(|| {
                StepError::permanent(format!("invalid sha256 `{hex}` for `{name}` in {sums}"))
            })?;
            (opts.log)(&format!("expected sha256 {sha} (from {sums})"));
            Ok(sha)
        }
    }
}

/// Fetch and verify one base, or reuse the cached copy.
pub fn fetch(base: &Base, opts: &FetchOptions) -> StepResult<FetchedBase> {
    opts.cancel.check()?;
    // Resolved on every call: a moving `current/` image is caught here.
    let sha256 = expected_sha256(base, opts)?;
    ensure_dir(opts.cache_dir)
        .map_err(|e| StepError::permanent(lowercase_first(&e.to_string())))?;
    let path = opts.cache_dir.join(format!("{sha256}.img"));
    if is_cached(&path) {
        (opts.log)(&format!("cached: {path}"));
    } else {
        fetch_into_cache(base, &sha256, &path, opts)?;
    }
    let (format, virtual_size) = qemu_img::base_info(&path)?;
    (opts.log)(&format!(
        "{path}: format {format}, virtual size {virtual_size} bytes"
    ));
    Ok(FetchedBase {
        path,
        sha256,
        format,
        virtual_size,
    })
}

/// The final name is only ever created by a rename after verification, so
/// it existing (and not being empty) is enough.
fn is_cached(path: &Utf8Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0)
}

fn fetch_into_cache(
    base: &Base,
    sha256: &str,
    path: &Utf8Path,
    opts: &FetchOptions,
) -> StepResult<()> {
    let partial = TempFile::create(
        opts.cache_dir
            .join(format!(".{sha256}.{}.partial", uuid::Uuid::new_v4())),
    )?;
    let started = Instant::now();
    let (partial, actual, bytes) = match &base.source {
        Resource::Url(url) => download(url, partial, opts)?,
        Resource::Path(src) => copy_local(src, partial, opts)?,
    };
    if actual != sha256 {
        (opts.log)(&format!(
            "checksum mismatch: expected {sha256}, got {actual}; removing {}",
            partial.path()
        ));
        return Err(StepError::permanent(format!(
            "checksum mismatch for base `{}` ({}): expected {sha256}, got {actual}",
            base.name, base.source
        )));
    }
    (opts.log)(&format!(
        "verified sha256 {actual} ({bytes} bytes in {:.1} s)",
        started.elapsed().as_secs_f64()
    ));
    // Atomic; a racing process renaming an identical verified file over it
    // (or before it) is harmless.
    partial.persist(path)?;
    // Make the rename durable; best effort (not every file system allows it).
    let _ = sync_dir(opts.cache_dir);
    (opts.log)(&format!("stored {path}"));
    Ok(())
}

/// Download `url` into `dest`; returns it synced, with the SHA-256 and size
/// of what arrived.
fn download(url: &str, dest: TempFile, opts: &FetchOptions) -> StepResult<(TempFile, String, u64)> {
    let agent = agent_for(url, opts)?;
    (opts.log)(&format!("downloading {url}"));
    let response = get(&agent, url)?;
    let total = response.body().content_length();
    match total {
        Some(n) => (opts.log)(&format!("content length {n} bytes")),
        None => (opts.log)("content length unknown"),
    }
    // A mirror that trickles must not keep the run waiting for ever.
    let mut reader = ProgressGuard::new(response.into_body().into_reader());
    let (dest, sha, bytes) = copy_into(&mut reader, dest, total, opts, |e| {
        failure::transport_error("", url, &ureq::Error::from(e))
    })?;
    if let Some(total) = total
        && bytes != total
    {
        return Err(StepError::transient(format!(
            "{url}: connection closed after {bytes} of {total} bytes"
        )));
    }
    Ok((dest, sha, bytes))
}

/// Copy a local file into `dest` (a copy, never a hard link: the cache
/// entry is named by its digest and must not change when the user edits
/// their file in place).
fn copy_local(
    src: &Utf8Path,
    dest: TempFile,
    opts: &FetchOptions,
) -> StepResult<(TempFile, String, u64)> {
    let open_error = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            StepError::permanent(format!("{src} does not exist"))
        } else {
            StepError::io(format!("failed to open {src}"), &e)
        }
    };
    let real = fs::canonicalize(src).map_err(open_error)?;
    let RegularFile {
        file: mut input,
        len,
    } = RegularFile::open(&real).map_err(open_error)?;
    (opts.log)(&format!("copying {src}"));
    copy_into(&mut input, dest, Some(len), opts, |e| {
        StepError::io(format!("failed to read {src}"), &e)
    })
}

/// Copy `src` into `dest` with progress and cancellation, then sync it.
/// `read_error` classifies read errors.
fn copy_into(
    src: &mut dyn Read,
    mut dest: TempFile,
    total: Option<u64>,
    opts: &FetchOptions,
    read_error: impl Fn(io::Error) -> StepError,
) -> StepResult<(TempFile, String, u64)> {
    (opts.progress)(0, total);
    let path = dest.path().to_owned();
    let copied = copy_hashing(src, Some(dest.file()), None, opts.cancel, &|done| {
        (opts.progress)(done, total)
    });
    let copied = match copied {
        Ok(c) => c,
        Err(CopyError::Cancelled) => {
            (opts.log)(&format!("interrupted; removing {path}"));
            return Err(StepError::cancelled());
        }
        Err(CopyError::Read(e)) => return Err(read_error(e)),
        Err(CopyError::Write(e)) => {
            return Err(StepError::io(format!("failed to write {path}"), &e));
        }
    };
    dest.sync()?;
    Ok((dest, copied.sha256, copied.size))
}

fn read_sums(sums: &Resource, opts: &FetchOptions) -> StepResult<String> {
    match sums {
        Resource::Url(url) => {
            let agent = agent_for(url, opts)?;
            (opts.log)(&format!("reading {url}"));
            let mut response = get(&agent, url)?;
            response
                .body_mut()
                .with_config()
                .limit(SUMS_LIMIT)
                .read_to_string()
                .map_err(|e| failure::transport_error("", url, &e))
        }
        Resource::Path(path) => {
            (opts.log)(&format!("reading {path}"));
            RegularFile::read_text(path.as_std_path(), SUMS_LIMIT).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    StepError::permanent(format!("{path} does not exist"))
                } else {
                    StepError::io(format!("failed to read {path}"), &e)
                }
            })
        }
    }
}

/// A name listed twice with different digests: (line, digest) of each.
type Ambiguous<'t> = [(usize, &'t str); 2];

/// The digest listed for `name`: lines are `<hex> *<name>` (binary mode) or
/// `<hex>  <name>` (text mode); a leading `./` on the name is ignored. A
/// name listed again with the same digest is fine; with another, neither
/// can be trusted over the other.
fn find_in_sums<'t>(text: &'t str, name: &str) -> Result<Option<&'t str>, Ambiguous<'t>> {
    let mut found: Option<(usize, &str)> = None;
    for (i, line) in text.lines().enumerate() {
        let Some((hex, rest)) = line.trim_end().split_once(' ') else {
            continue;
        };
        let file = rest.strip_prefix(['*', ' ']).unwrap_or(rest);
        let file = file.strip_prefix("./").unwrap_or(file);
        if file != name {
            continue;
        }
        match found {
            None => found = Some((i + 1, hex)),
            Some((_, first)) if first.eq_ignore_ascii_case(hex) => {}
            Some(first) => return Err([first, (i + 1, hex)]),
        }
    }
    Ok(found.map(|(_, hex)| hex))
}

/// Lowercase hex, exactly 64 digits (it becomes part of a file name).
fn normalize_sha256(hex: &str) -> Option<String> {
    let hex = hex.trim().to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

// HTTP ---------------------------------------------------------------------

/// An agent for one URL, with the proxy chosen for it.
fn agent_for(url: &str, opts: &FetchOptions) -> StepResult<ureq::Agent> {
    let env = |name: &str| std::env::var(name).ok();
    let proxy = match proxy::choose(url, opts.proxy, &env) {
        Some((value, from)) => {
            let made = proxy::make(&value, from)?;
            (opts.log)(&format!(
                "using proxy {} (from {from})",
                proxy::without_userinfo(&value)
            ));
            Some(made)
        }
        None => None,
    };
    let config = agent::config(proxy, STALL_TIMEOUT)
        // Absent, any coding is acceptable; we want the bytes as published.
        .accept_encoding("identity")
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

fn get(agent: &ureq::Agent, url: &str) -> StepResult<ureq::http::Response<ureq::Body>> {
    let response = agent
        .get(url)
        .call()
        .map_err(|e| failure::transport_error("", url, &e))?;
    if response.status().is_success() {
        return Ok(response);
    }
    // The body of a download's error page is rarely worth quoting.
    Err(failure::status_error(url, response.status().as_u16(), ""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::StepErrorKind;
    use std::collections::HashMap;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;

    const CHUNK: usize = 1 << 20;

    // Fixtures ---------------------------------------------------------------

    /// A real, small qcow2 image.
    fn qcow2() -> &'static [u8] {
        static IMAGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        IMAGE.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f.qcow2");
            duct::cmd(
                "qemu-img",
                ["create", "-q", "-f", "qcow2", path.to_str().unwrap(), "16M"],
            )
            .run()
            .unwrap();
            fs::read(path).unwrap()
        })
    }

    fn sha(bytes: &[u8]) -> String {
        crate::files::digest::sha256_bytes(bytes)
    }

    /// A tiny_http server on 127.0.0.1 serving fixed routes (path → status,
    /// body); unknown paths are 404. Records every request path.
    struct Server {
        base: String,
        hits: Arc<Mutex<Vec<String>>>,
        server: Arc<tiny_http::Server>,
        thread: Option<JoinHandle<()>>,
    }

    impl Server {
        fn start(routes: Vec<(&str, u16, Vec<u8>)>) -> Self {
            let routes: HashMap<String, (u16, Vec<u8>)> = routes
                .into_iter()
                .map(|(p, s, b)| (p.to_owned(), (s, b)))
                .collect();
            let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
            let port = server.server_addr().to_ip().unwrap().port();
            let hits = Arc::new(Mutex::new(Vec::new()));
            let thread = {
                let (server, hits) = (server.clone(), hits.clone());
                std::thread::spawn(move || {
                    for request in server.incoming_requests() {
                        hits.lock().unwrap().push(request.url().to_owned());
                        let (status, body) = routes
                            .get(request.url())
                            .cloned()
                            .unwrap_or((404, b"not found".to_vec()));
                        // Content-Length, as static file servers send.
                        let response = tiny_http::Response::from_data(body)
                            .with_status_code(status)
                            .with_chunked_threshold(usize::MAX);
                        let _ = request.respond(response);
                    }
                })
            };
            Self {
                base: format!("http://127.0.0.1:{port}"),
                hits,
                server,
                thread: Some(thread),
            }
        }

        fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }

        fn hits(&self) -> Vec<String> {
            self.hits.lock().unwrap().clone()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.server.unblock();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// Options with a log that is collected, and no progress reporting.
    struct Harness {
        cache: tempfile::TempDir,
        cancel: CancelToken,
        lines: Mutex<Vec<String>>,
    }

    impl Harness {
        fn new() -> Self {
            Self {
                cache: tempfile::tempdir().unwrap(),
                cancel: CancelToken::new(),
                lines: Mutex::new(Vec::new()),
            }
        }

        fn cache_dir(&self) -> &Utf8Path {
            Utf8Path::from_path(self.cache.path()).unwrap()
        }

        fn run<T>(
            &self,
            proxy: Option<&str>,
            progress: &(dyn Fn(u64, Option<u64>) + Sync),
            f: impl FnOnce(&FetchOptions) -> T,
        ) -> T {
            let log = |line: &str| self.lines.lock().unwrap().push(line.to_owned());
            let opts = FetchOptions {
                cache_dir: self.cache_dir(),
                proxy,
                cancel: &self.cancel,
                log: &log,
                progress,
            };
            f(&opts)
        }

        fn fetch(&self, base: &Base) -> StepResult<FetchedBase> {
            self.run(None, &|_, _| {}, |opts| fetch(base, opts))
        }

        fn logged(&self, needle: &str) -> bool {
            self.lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
        }

        /// Names in the cache directory, hidden ones included.
        fn cache_entries(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(self.cache.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        }
    }

    fn base(source: Resource, checksum: Checksum) -> Base {
        Base {
            name: "noble".into(),
            source,
            checksum,
            os_distro: None,
            os_version: None,
        }
    }

    // Tests ------------------------------------------------------------------

    #[test]
    fn downloads_and_verifies_with_sha256() {
        let server = Server::start(vec![("/f.qcow2", 200, qcow2().to_vec())]);
        let h = Harness::new();
        let progress_calls = Mutex::new(Vec::new());
        let progress = |done: u64, total: Option<u64>| {
            progress_calls.lock().unwrap().push((done, total));
        };
        let b = base(
            Resource::Url(server.url("/f.qcow2")),
            Checksum::Sha256(sha(qcow2()).to_uppercase()),
        );
        let fetched = h.run(None, &progress, |opts| fetch(&b, opts)).unwrap();

        assert_eq!(fetched.sha256, sha(qcow2()));
        assert_eq!(
            fetched.path,
            h.cache_dir().join(format!("{}.img", sha(qcow2())))
        );
        assert_eq!(fetched.format, "qcow2");
        assert_eq!(fetched.virtual_size, 16 * 1024 * 1024);
        assert_eq!(fs::read(&fetched.path).unwrap(), qcow2());
        assert_eq!(h.cache_entries(), [format!("{}.img", sha(qcow2()))]);
        let calls = progress_calls.lock().unwrap();
        let len = qcow2().len() as u64;
        assert_eq!(calls.first(), Some(&(0, Some(len))));
        assert_eq!(calls.last(), Some(&(len, Some(len))));
        assert_eq!(server.hits(), ["/f.qcow2"]);
    }

    #[test]
    fn downloads_with_sha256sums_url_then_reuses_the_cache() {
        let sums = format!("{}  other.img\n{} *f.qcow2\n", sha(b"other"), sha(qcow2()));
        let server = Server::start(vec![
            ("/f.qcow2", 200, qcow2().to_vec()),
            ("/SHA256SUMS", 200, sums.into_bytes()),
        ]);
        let h = Harness::new();
        let b = base(
            Resource::Url(server.url("/f.qcow2")),
            Checksum::Sums(Resource::Url(server.url("/SHA256SUMS"))),
        );

        let first = h.fetch(&b).unwrap();
        assert_eq!(first.sha256, sha(qcow2()));
        assert_eq!(server.hits(), ["/SHA256SUMS", "/f.qcow2"]);
        assert!(!h.logged("cached"));

        // Second run: SHA256SUMS is read again, the image is not.
        let second = h.fetch(&b).unwrap();
        assert_eq!(second, first);
        assert_eq!(server.hits(), ["/SHA256SUMS", "/f.qcow2", "/SHA256SUMS"]);
        assert!(h.logged("cached"));
    }

    /// `/f.qcow2` of `server`, verified by its `/SHA256SUMS`.
    fn from_sums(server: &Server) -> Base {
        base(
            Resource::Url(server.url("/f.qcow2")),
            Checksum::Sums(Resource::Url(server.url("/SHA256SUMS"))),
        )
    }

    #[test]
    fn upstream_change_is_noticed_through_sha256sums() {
        // SHA256SUMS names a digest nothing cached has: download, mismatch.
        let server = Server::start(vec![
            ("/f.qcow2", 200, qcow2().to_vec()),
            (
                "/SHA256SUMS",
                200,
                format!("{} *f.qcow2\n", sha(b"new")).into_bytes(),
            ),
        ]);
        let e = Harness::new().fetch(&from_sums(&server)).unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Permanent);
        assert!(e.message.contains(&sha(b"new")), "{e}");
    }

    #[test]
    fn missing_from_sha256sums_is_permanent() {
        let server = Server::start(vec![(
            "/SHA256SUMS",
            200,
            format!("{} *other.img\n", sha(b"x")).into_bytes(),
        )]);
        let e = Harness::new().fetch(&from_sums(&server)).unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Permanent);
        assert_eq!(
            e.message,
            format!("`f.qcow2` is not listed in {}", server.url("/SHA256SUMS"))
        );
        assert_eq!(server.hits(), ["/SHA256SUMS"]);
    }

    #[test]
    fn checksum_mismatch_names_both_digests_and_leaves_nothing() {
        let server = Server::start(vec![("/f.qcow2", 200, qcow2().to_vec())]);
        let h = Harness::new();
        let wrong = sha(b"something else");
        let url = server.url("/f.qcow2");
        let b = base(Resource::Url(url.clone()), Checksum::Sha256(wrong.clone()));
        let e = h.fetch(&b).unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Permanent);
        assert_eq!(
            e.message,
            format!(
                "checksum mismatch for base `noble` ({url}): expected {wrong}, got {}",
                sha(qcow2())
            )
        );
        assert!(h.cache_entries().is_empty(), "{:?}", h.cache_entries());
    }

    #[test]
    fn http_404_is_permanent_and_500_transient() {
        let server = Server::start(vec![("/gone.img", 404, vec![]), ("/busy.img", 500, vec![])]);
        let h = Harness::new();
        let any = Checksum::Sha256(sha(b"x"));

        let e = h
            .fetch(&base(Resource::Url(server.url("/gone.img")), any.clone()))
            .unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Permanent);
        assert_eq!(
            e.message,
            format!("{}: http 404 (not found)", server.url("/gone.img"))
        );

        let e = h
            .fetch(&base(Resource::Url(server.url("/busy.img")), any.clone()))
            .unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Transient);
        assert!(
            e.message.ends_with("http 500 (internal server error)"),
            "{e}"
        );

        // A 404 for SHA256SUMS too.
        let e = h
            .fetch(&base(
                Resource::Url(server.url("/busy.img")),
                Checksum::Sums(Resource::Url(server.url("/SHA256SUMS"))),
            ))
            .unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Permanent);
        assert!(e.message.contains("/SHA256SUMS"), "{e}");
        assert!(h.cache_entries().is_empty(), "{:?}", h.cache_entries());
    }

    #[test]
    fn connection_refused_is_transient() {
        // Bind then drop, so the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let h = Harness::new();
        let b = base(
            Resource::Url(format!("http://127.0.0.1:{port}/f.img")),
            Checksum::Sha256(sha(b"x")),
        );
        let e = h.fetch(&b).unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Transient, "{e}");
        assert!(e.message.contains("connection refused"), "{e}");
    }

    #[test]
    fn local_path_source_with_local_sha256sums() {
        let src_dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(src_dir.path()).unwrap();
        fs::write(dir.join("f.qcow2"), qcow2()).unwrap();
        fs::write(
            dir.join("SHA256SUMS"),
            format!("{}  ./f.qcow2\r\n", sha(qcow2())),
        )
        .unwrap();
        let h = Harness::new();
        let b = base(
            Resource::Path(dir.join("f.qcow2")),
            Checksum::Sums(Resource::Path(dir.join("SHA256SUMS"))),
        );
        let fetched = h.fetch(&b).unwrap();
        assert_eq!(fetched.format, "qcow2");
        assert_eq!(fs::read(&fetched.path).unwrap(), qcow2());
        assert_eq!(h.cache_entries(), [format!("{}.img", sha(qcow2()))]);
        assert!(h.logged("copying"));
    }

    #[test]
    fn a_local_source_is_copied_not_linked() {
        let src_dir = tempfile::tempdir().unwrap();
        let src = Utf8Path::from_path(src_dir.path()).unwrap().join("f.qcow2");
        fs::write(&src, qcow2()).unwrap();
        let h = Harness::new();
        let dest = h.cache_dir().join("copy.partial");
        let partial = TempFile::create(dest.clone()).unwrap();
        let (partial, digest, bytes) = h
            .run(None, &|_, _| {}, |opts| copy_local(&src, partial, opts))
            .unwrap();
        let _kept = partial.keep();
        assert_eq!(digest, sha(qcow2()));
        assert_eq!(bytes, qcow2().len() as u64);
        assert_eq!(fs::read(&dest).unwrap(), qcow2());
        use std::os::unix::fs::MetadataExt;
        assert_ne!(
            fs::metadata(&dest).unwrap().ino(),
            fs::metadata(&src).unwrap().ino()
        );
    }

    #[test]
    fn a_name_listed_twice_is_ambiguous_unless_the_digests_agree() {
        let (a, b) = (sha(b"a"), sha(b"b"));
        let text = format!(
            "{a} *f.qcow2\n{b} *other\n{} *./f.qcow2\n",
            a.to_uppercase()
        );
        assert_eq!(find_in_sums(&text, "f.qcow2"), Ok(Some(a.as_str())));
        let text = format!("{a} *f.qcow2\n{b} *other\n{b}  f.qcow2\n");
        assert_eq!(
            find_in_sums(&text, "f.qcow2"),
            Err([(1, a.as_str()), (3, b.as_str())])
        );
        assert_eq!(find_in_sums(&text, "missing"), Ok(None));

        let src_dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(src_dir.path()).unwrap();
        fs::write(dir.join("SHA256SUMS"), &text).unwrap();
        let twice = base(
            Resource::Path(dir.join("f.qcow2")),
            Checksum::Sums(Resource::Path(dir.join("SHA256SUMS"))),
        );
        let e = Harness::new().fetch(&twice).unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Permanent);
        assert_eq!(
            e.message,
            format!(
                "`f.qcow2` is listed twice in {dir}/SHA256SUMS with different digests \
                 (line 1: {a}, line 3: {b}): refusing to choose one"
            )
        );
    }

    #[test]
    fn a_local_fifo_is_refused_not_waited_for() {
        let src_dir = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(src_dir.path()).unwrap();
        for name in ["f.qcow2", "SHA256SUMS"] {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                dir.join(name).as_std_path(),
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )
            .unwrap();
        }
        let h = Harness::new();
        let from_sums = base(
            Resource::Path(dir.join("f.qcow2")),
            Checksum::Sums(Resource::Path(dir.join("SHA256SUMS"))),
        );
        let e = h.fetch(&from_sums).unwrap_err();
        assert_eq!(
            e.message,
            format!("failed to read {dir}/SHA256SUMS: not a regular file (a FIFO)")
        );
        let with_sha = base(
            Resource::Path(dir.join("f.qcow2")),
            Checksum::Sha256(sha(b"x")),
        );
        let e = h.fetch(&with_sha).unwrap_err();
        assert_eq!(
            e.message,
            format!("failed to open {dir}/f.qcow2: not a regular file (a FIFO)")
        );
        assert!(h.cache_entries().is_empty());
    }

    #[test]
    fn missing_local_file_is_permanent() {
        let h = Harness::new();
        let b = base(
            Resource::Path("/nonexistent/pipeline/f.qcow2".into()),
            Checksum::Sha256(sha(b"x")),
        );
        let e = h.fetch(&b).unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Permanent);
        assert_eq!(e.message, "/nonexistent/pipeline/f.qcow2 does not exist");
        assert!(h.cache_entries().is_empty());
    }

    #[test]
    fn cancellation_mid_download_removes_the_partial_file() {
        // Larger than one buffer, so there is a second chunk to poll before.
        let big: Vec<u8> = (0..4 * CHUNK).map(|i| (i % 251) as u8).collect();
        let server = Server::start(vec![("/big.img", 200, big.clone())]);
        let h = Harness::new();
        let seen_partial = Mutex::new(Vec::new());
        let progress = |done: u64, _: Option<u64>| {
            if done > 0 && !h.cancel.is_cancelled() {
                *seen_partial.lock().unwrap() = h.cache_entries();
                h.cancel.cancel();
            }
        };
        let b = base(
            Resource::Url(server.url("/big.img")),
            Checksum::Sha256(sha(&big)),
        );
        let e = h.run(None, &progress, |opts| fetch(&b, opts)).unwrap_err();
        assert_eq!(e, StepError::cancelled());
        let seen = seen_partial.lock().unwrap();
        assert!(
            seen.len() == 1 && seen[0].ends_with(".partial") && seen[0].starts_with('.'),
            "{seen:?}"
        );
        assert!(h.cache_entries().is_empty(), "{:?}", h.cache_entries());
    }

    #[test]
    fn cancelled_before_start() {
        let h = Harness::new();
        h.cancel.cancel();
        let b = base(
            Resource::Url("http://127.0.0.1:9/f.img".into()),
            Checksum::Sha256(sha(b"x")),
        );
        assert_eq!(h.fetch(&b).unwrap_err(), StepError::cancelled());
    }

    #[test]
    fn not_a_disk_image_is_permanent_and_backing_files_are_refused() {
        // Bytes that qemu-img reads as a qcow2 with a backing file.
        let dir = tempfile::tempdir().unwrap();
        let overlay = dir.path().join("overlay.qcow2");
        let backing = dir.path().join("backing.qcow2");
        fs::write(&backing, qcow2()).unwrap();
        duct::cmd(
            "qemu-img",
            [
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                "qcow2",
                "-b",
                backing.to_str().unwrap(),
                overlay.to_str().unwrap(),
            ],
        )
        .run()
        .unwrap();
        let bytes = fs::read(&overlay).unwrap();
        let server = Server::start(vec![("/o.qcow2", 200, bytes.clone())]);
        let h = Harness::new();
        let b = base(
            Resource::Url(server.url("/o.qcow2")),
            Checksum::Sha256(sha(&bytes)),
        );
        let e = h.fetch(&b).unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Permanent);
        assert!(e.message.contains("has a backing file"), "{e}");

        let missing = qemu_img::base_info(Utf8Path::new("/nonexistent/x.img")).unwrap_err();
        assert_eq!(missing.kind, StepErrorKind::Permanent);
        assert!(missing.message.contains("is not a disk image"), "{missing}");
    }

    /// A minimal HTTP proxy on 127.0.0.1 (plain std: tiny_http cannot hand
    /// over a CONNECT tunnel). Records request lines; for `CONNECT` it
    /// answers 200 and serves `body` to the request inside the tunnel; for
    /// an absolute-form request it serves `body` directly.
    struct Proxy {
        addr: String,
        lines: Arc<Mutex<Vec<String>>>,
        stop: Arc<std::sync::atomic::AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Proxy {
        fn start(body: Vec<u8>) -> Self {
            use std::io::{BufRead, BufReader};
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let lines = Arc::new(Mutex::new(Vec::new()));
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let thread = {
                let (lines, stop) = (lines.clone(), stop.clone());
                std::thread::spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) {
                            break;
                        }
                        let Ok(stream) = stream else { continue };
                        let mut reader = BufReader::new(stream.try_clone().unwrap());
                        let mut writer = stream;
                        // Read one request head; returns its first line.
                        let mut read_head = || {
                            let mut first = String::new();
                            let mut line = String::new();
                            loop {
                                line.clear();
                                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                    return first;
                                }
                                if line == "\r\n" {
                                    return first;
                                }
                                if first.is_empty() {
                                    first = line.trim_end().to_owned();
                                }
                            }
                        };
                        let first = read_head();
                        lines.lock().unwrap().push(first.clone());
                        if first.starts_with("CONNECT ") {
                            let _ =
                                writer.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                            let inner = read_head();
                            lines.lock().unwrap().push(format!("tunnel: {inner}"));
                        }
                        let _ = write!(
                            writer,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = writer.write_all(&body);
                    }
                })
            };
            Self {
                addr,
                lines,
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Proxy {
        fn drop(&mut self) {
            self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = std::net::TcpStream::connect(&self.addr);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    #[test]
    fn uses_the_proxy_from_options() {
        let proxy = Proxy::start(qcow2().to_vec());
        // Nothing listens at the origin: only the proxy can answer.
        let origin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = origin.local_addr().unwrap().port();
        drop(origin);
        let h = Harness::new();
        let b = base(
            Resource::Url(format!("http://127.0.0.1:{port}/f.qcow2")),
            Checksum::Sha256(sha(qcow2())),
        );
        let fetched = h
            .run(Some(&proxy.addr), &|_, _| {}, |opts| fetch(&b, opts))
            .unwrap();
        assert_eq!(fetched.format, "qcow2");
        // ureq 3 tunnels plain http through CONNECT (never absolute-form).
        assert_eq!(
            *proxy.lines.lock().unwrap(),
            [
                format!("CONNECT 127.0.0.1:{port} HTTP/1.1"),
                "tunnel: GET /f.qcow2 HTTP/1.1".to_owned()
            ]
        );
        assert!(h.logged(&format!("using proxy {} (from services.proxy)", proxy.addr)));
    }

    #[test]
    fn socks_proxy_is_refused_not_a_panic() {
        let h = Harness::new();
        let b = base(
            Resource::Url("http://127.0.0.1:9/f.img".into()),
            Checksum::Sha256(sha(b"x")),
        );
        let e = h
            .run(
                Some("socks5://u:secret@127.0.0.1:1080"),
                &|_, _| {},
                |opts| fetch(&b, opts),
            )
            .unwrap_err();
        assert_eq!(e.kind, StepErrorKind::Permanent);
        assert!(e.message.contains("unsupported proxy"), "{e}");
        assert!(!e.message.contains("secret"), "{e}");
    }

    #[test]
    fn sums_parsing() {
        let a = sha(b"a");
        let b = sha(b"b");
        let text = format!("{a} *noble.img\n{b}  jammy.img\r\n\n# comment\n");
        assert_eq!(find_in_sums(&text, "noble.img"), Ok(Some(a.as_str())));
        assert_eq!(find_in_sums(&text, "jammy.img"), Ok(Some(b.as_str())));
        assert_eq!(find_in_sums(&text, "noble"), Ok(None));
        assert_eq!(normalize_sha256(&a.to_uppercase()), Some(a.clone()));
        assert_eq!(normalize_sha256("../../etc/passwd"), None);
    }
}
