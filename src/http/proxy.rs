//! Which proxy a request goes through, the same way for every HTTP client
//! in pipeline (base downloads, OpenStack APIs): `services.proxy` when the
//! recipe sets one, else the usual environment variables, never for
//! loopback or `no_proxy` hosts.

use crate::step::{StepError, StepResult};
use std::net::IpAddr;

/// The proxy for one URL and where it came from: `services.proxy` when set
/// (for every URL), else `http_proxy`/`https_proxy` by the URL's scheme
/// (lowercase first, then uppercase), then `all_proxy`/`ALL_PROXY`, unless
/// the host is loopback or matches `no_proxy`/`NO_PROXY` (comma-separated
/// host names, which also match their subdomains, with an optional leading
/// `.` or `*.`; IP addresses; CIDR ranges; `*`). Empty values count as unset.
pub fn choose(
    url: &str,
    explicit: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, &'static str)> {
    if let Some(p) = explicit.map(str::trim).filter(|p| !p.is_empty()) {
        return Some((p.to_owned(), "services.proxy"));
    }
    let names: [&'static str; 4] = if url.starts_with("https://") {
        ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
    };
    let var = |n: &str| {
        env(n)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let (from, value) = names.iter().find_map(|n| var(n).map(|v| (*n, v)))?;
    let no_proxy = var("no_proxy")
        .or_else(|| var("NO_PROXY"))
        .unwrap_or_default();
    let host = url.parse::<ureq::http::Uri>().ok()?.host()?.to_owned();
    // Like Go's ProxyFromEnvironment: a proxy elsewhere cannot reach our
    // loopback, so loopback is never sent to an environment proxy.
    if bypasses_proxy("localhost,127.0.0.0/8,::1", &host) || bypasses_proxy(&no_proxy, &host) {
        return None;
    }
    Some((value, from))
}

fn bypasses_proxy(no_proxy: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some((net, bits)) = entry.split_once('/') {
                return ip.is_some_and(|ip| in_cidr(ip, net, bits));
            }
            let entry = entry
                .strip_prefix("*.")
                .or_else(|| entry.strip_prefix('.'))
                .unwrap_or(entry)
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase();
            if let (Some(ip), Ok(e)) = (ip, entry.parse::<IpAddr>()) {
                return ip == e;
            }
            host == entry || host.ends_with(&format!(".{entry}"))
        })
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.trim().parse::<IpAddr>(), bits.trim().parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Only HTTP(S) proxies: this build of ureq has no SOCKS support (it would
/// panic on a configured SOCKS proxy and silently bypass one from the
/// environment).
pub fn make(value: &str, from: &str) -> StepResult<ureq::Proxy> {
    let shown = without_userinfo(value);
    if let Some((scheme, _)) = value.split_once("://")
        && !scheme.eq_ignore_ascii_case("http")
        && !scheme.eq_ignore_ascii_case("https")
    {
        return Err(StepError::permanent(format!(
            "unsupported proxy `{shown}` (from {from}): only http:// and https:// proxies are supported"
        )));
    }
    ureq::Proxy::new(value)
        .map_err(|_| StepError::permanent(format!("invalid proxy `{shown}` (from {from})")))
}

/// A proxy URL without its credentials, for logs and messages.
pub fn without_userinfo(proxy: &str) -> String {
    let (scheme, rest) = match proxy.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, proxy),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => format!("***@{}", &rest[at + 1..]),
        None => rest.to_owned(),
    };
    match scheme {
        Some(s) => format!("{s}://{rest}"),
        None => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_from_the_environment() {
        let env_of = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let choose = |url: &str, explicit: Option<&str>, vars| {
            choose(url, explicit, &env_of(vars)).map(|(v, from)| format!("{v} {from}"))
        };
        let p = |s: &str| Some(s.to_owned());

        assert_eq!(choose("http://h/x", None, &[]), None);
        // Loopback never goes to an environment proxy.
        for url in [
            "http://localhost:8/x",
            "http://127.0.0.1:8/x",
            "http://[::1]:8/x",
        ] {
            assert_eq!(
                choose(url, None, &[("http_proxy", "http://a:1")]),
                None,
                "{url}"
            );
        }
        // By scheme, lowercase first, empty counts as unset.
        let vars = &[
            ("http_proxy", "http://a:1"),
            ("HTTP_PROXY", "http://b:1"),
            ("https_proxy", ""),
            ("HTTPS_PROXY", "http://c:1"),
        ];
        assert_eq!(choose("http://h/x", None, vars), p("http://a:1 http_proxy"));
        assert_eq!(
            choose("https://h/x", None, vars),
            p("http://c:1 HTTPS_PROXY")
        );
        // http_proxy is not used for https (unlike ureq's own reading).
        let vars = &[("http_proxy", "http://a:1")];
        assert_eq!(choose("https://h/x", None, vars), None);
        assert_eq!(
            choose("https://h/x", None, &[("ALL_PROXY", "http://z:1")]),
            p("http://z:1 ALL_PROXY")
        );
        // services.proxy wins, for every URL, and no_proxy does not apply to it.
        let vars = &[("https_proxy", "http://a:1"), ("no_proxy", "*")];
        assert_eq!(
            choose("https://h/x", Some("proxy:3128"), vars),
            p("proxy:3128 services.proxy")
        );
        assert_eq!(choose("https://h/x", Some("  "), vars), None);

        // no_proxy forms.
        let np = "localhost, .corp.example,*.svc ,10.0.0.0/8,[::1], fd00::/8, 192.168.1.7";
        for (host, bypass) in [
            ("localhost", true),
            ("LOCALHOST", true),
            ("notlocalhost", false),
            ("corp.example", true),
            ("a.corp.example", true),
            ("x.svc", true),
            ("10.1.2.3", true),
            ("11.1.2.3", false),
            ("[::1]", true),
            ("[fd00::5]", true),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
            ("cloud-images.ubuntu.com", false),
        ] {
            assert_eq!(bypasses_proxy(np, host), bypass, "{host}");
        }
        assert!(bypasses_proxy("ubuntu.com", "cloud-images.ubuntu.com"));
        assert!(bypasses_proxy("*", "anything"));
        assert!(in_cidr("1.2.3.4".parse().unwrap(), "0.0.0.0", "0"));

        let vars = &[("https_proxy", "http://a:1"), ("NO_PROXY", "h")];
        assert_eq!(choose("https://h:8443/x", None, vars), None);
        assert_eq!(
            choose("https://g/x", None, vars),
            p("http://a:1 https_proxy")
        );
    }

    #[test]
    fn credentials_never_show() {
        assert_eq!(without_userinfo("http://u:p@h:3128"), "http://***@h:3128");
        assert_eq!(without_userinfo("u:p@h:3128"), "***@h:3128");
        assert_eq!(without_userinfo("http://h:3128/a@b"), "http://h:3128/a@b");
    }
}
