//! A tiny HTTP server on 127.0.0.1 (never any other address) that plays a
//! cloud (or a mirror) that misbehaves: it answers each request as a
//! test's handler says, trickles bytes, or stays silent. Every connection thread stops by
//! itself after [`MAX_HOLD`], and all of them when the server is dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest a connection is kept trickling or silent.
const MAX_HOLD: Duration = Duration::from_secs(60);

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// With the query.
    pub path: String,
    pub body: String,
}

impl Request {
    /// `POST /v3/auth/tokens`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// What the server does with a request.
pub enum Reply {
    /// A complete answer (`Connection: close`).
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// The status line and headers of a 200, one byte every `every`,
    /// never finished.
    Trickle { every: Duration },
    /// A 200 whose `Content-Length` says 1 GiB: 64 KiB of its body at once,
    /// then one byte every `every`, never finished (a download under way).
    Download { every: Duration },
    /// Nothing at all; the connection is held open.
    Silent,
}

impl Reply {
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply::Answer {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Answer { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }
}

type Handler = dyn Fn(&Request, &str) -> Reply + Send + Sync;

/// The server; stops when dropped.
pub struct Loopback {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Request>>>,
    thread: Option<JoinHandle<()>>,
}

impl Loopback {
    /// Serve every request with `handler(request, base_url)`.
    pub fn start(handler: impl Fn(&Request, &str) -> Reply + Send + Sync + 'static) -> Loopback {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let url = format!("http://{addr}");
        let thread = {
            let (stop, requests) = (stop.clone(), requests.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (stop, requests, handler, url) =
                                (stop.clone(), requests.clone(), handler.clone(), url.clone());
                            std::thread::spawn(move || {
                                serve(stream, &stop, &requests, &*handler, &url)
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Loopback {
            addr,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `METHOD path` of every request so far.
    pub fn lines(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(Request::line)
            .collect()
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    stop: &AtomicBool,
    requests: &Mutex<Vec<Request>>,
    handler: &Handler,
    url: &str,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&stream) else {
        return;
    };
    requests.lock().unwrap().push(request.clone());
    let mut stream = stream;
    let held = Instant::now();
    let holding = || !stop.load(Ordering::SeqCst) && held.elapsed() < MAX_HOLD;
    match handler(&request, url) {
        Reply::Answer {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
            let _ = stream.flush();
        }
        Reply::Trickle { every } => {
            let endless = b"HTTP/1.1 200 OK\r\nX-Trickle: "
                .iter()
                .chain(std::iter::repeat(&b'a'));
            for byte in endless {
                if !holding() || stream.write_all(&[*byte]).is_err() {
                    break;
                }
                sleep_while(every, &holding);
            }
        }
        Reply::Download { every } => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1073741824\r\n\r\n";
            if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&[0; 65536]).is_err()
            {
                return;
            }
            while holding() && stream.write_all(&[0]).is_ok() {
                sleep_while(every, &holding);
            }
        }
        Reply::Silent => {
            // Until the client goes (a read of 0) or the server stops.
            let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
            let mut buf = [0u8; 256];
            while holding() {
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
        }
    }
}

fn sleep_while(pause: Duration, holding: &dyn Fn() -> bool) {
    let until = Instant::now() + pause;
    while Instant::now() < until && holding() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The request line, headers and a `Content-Length` body.
fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Keystone's answer to a login: a token for project `p1` whose catalog
/// puts Glance at `glance`.
pub fn keystone_token(glance: &str) -> Reply {
    Reply::json(
        201,
        &serde_json::json!({"token": {
            "expires_at": "2999-01-01T00:00:00Z",
            "issued_at": "2000-01-01T00:00:00Z",
            "project": {"id": "p1"},
            "catalog": [{"type": "image", "endpoints": [
                {"interface": "public", "region_id": "R", "url": glance}]}]}}),
    )
    .with_header("X-Subject-Token", "tok-from-the-loopback-keystone")
}

/// A clouds.yaml with one cloud `name`: user `u` with `password` in
/// project `x` at `auth_url`, and `extra` YAML lines indented under the
/// cloud (`api_timeout: 2`).
pub fn loopback_clouds_yaml(name: &str, auth_url: &str, password: &str, extra: &[&str]) -> String {
    let mut yaml = format!(
        "clouds:\n  {name}:\n    auth:\n      auth_url: \"{auth_url}\"\n      username: \"u\"\n      password: \"{password}\"\n      project_name: \"x\"\n    region_name: \"R\"\n"
    );
    for line in extra {
        yaml.push_str(&format!("    {line}\n"));
    }
    yaml
}
