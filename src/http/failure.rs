//! Turning HTTP failures into step errors a user can act on: which are
//! worth a retry, and the human part of an error body.

use crate::output::lowercase_first;
use crate::step::StepError;
use serde_json::Value;

/// Longest message quoted from an error body.
const MAX_MESSAGE: usize = 400;

/// A non-2xx answer: 5xx, 408 and 429 are transient, the other 4xx are
/// permanent; 413 or a message about a quota says "quota exceeded". `what`
/// fits after "failed to" (`create the image on cloud `a``).
pub fn status_error(what: &str, status: u16, body: &str) -> StepError {
    let message = error_message(body);
    let detail = if message.is_empty() {
        match ureq::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
        {
            Some(reason) => format!("http {status} ({})", reason.to_ascii_lowercase()),
            None => format!("http {status}"),
        }
    } else {
        format!("{message} (http {status})")
    };
    if status == 413 || message.to_ascii_lowercase().contains("quota") {
        return StepError::permanent(format!("{what}: quota exceeded: {detail}"));
    }
    if status >= 500 || status == 408 || status == 429 {
        StepError::transient(format!("{what}: {detail}"))
    } else {
        StepError::permanent(format!("{what}: {detail}"))
    }
}

/// No HTTP answer at all (refused, reset, timed out, DNS, a proxy that would
/// not tunnel): transient, except for what no retry can fix.
pub fn transport_error(what: &str, url: &str, error: &ureq::Error) -> StepError {
    use ureq::Error as E;
    let reason = match error {
        E::Io(e) => lowercase_first(&e.to_string()),
        E::Timeout(ureq::Timeout::PerRead) => "no data arrived for too long".to_owned(),
        E::Timeout(t) => format!("timed out ({t})"),
        E::HostNotFound => "host not found".to_owned(),
        E::ConnectionFailed => "connection failed".to_owned(),
        E::Protocol(e) => format!("protocol error: {e}"),
        // ureq tunnels plain http through CONNECT too; proxies that only
        // allow CONNECT to port 443 (squid's default) answer 403 here.
        E::ConnectProxyFailed(reason) => format!(
            "the proxy refused to open a tunnel ({})",
            lowercase_first(reason)
        ),
        other => lowercase_first(&other.to_string()),
    };
    let url = crate::output::without_userinfo(url);
    let message = if what.is_empty() {
        format!("{url}: {reason}")
    } else {
        format!("{what}: {url}: {reason}")
    };
    match error {
        E::BadUri(_) | E::InvalidProxyUrl | E::Tls(_) => StepError::permanent(message),
        E::ConnectProxyFailed(reason) if reason.contains("responded 4") => {
            StepError::permanent(message)
        }
        E::Io(_)
        | E::Timeout(_)
        | E::HostNotFound
        | E::ConnectionFailed
        | E::Protocol(_)
        | E::ConnectProxyFailed(_) => StepError::transient(message),
        E::StatusCode(code) => status_error(what, *code, ""),
        _ => StepError::permanent(message),
    }
}

/// The human part of an error body: the `message` of OpenStack's JSON
/// errors, or the text of the HTML pages Glance and uWSGI send (without the
/// title, which repeats the status), first paragraph only.
pub fn error_message(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    let text = match serde_json::from_str::<Value>(body) {
        Ok(json) => json_message(&json).unwrap_or_else(|| json.to_string()),
        Err(_) if body.starts_with('<') => html_text(body),
        Err(_) => body.to_owned(),
    };
    let first = text
        .split("\n\n")
        .map(str::trim)
        .find(|p| !p.is_empty())
        .unwrap_or_default();
    let mut collapsed = first.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > MAX_MESSAGE {
        collapsed = collapsed.chars().take(MAX_MESSAGE).collect::<String>() + "…";
    }
    lowercase_first(&collapsed)
}

fn json_message(json: &Value) -> Option<String> {
    let message = |v: &Value| -> Option<String> {
        ["message", "detail", "title"]
            .iter()
            .find_map(|k| v.get(k)?.as_str().filter(|s| !s.is_empty()))
            .map(str::to_owned)
    };
    if let Some(m) = json.get("message").and_then(Value::as_str) {
        return Some(m.to_owned());
    }
    if let Some(first) = json
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return message(first);
    }
    // {"error": {...}}, {"badRequest": {...}}, {"overLimit": {...}}, ...
    json.as_object()?
        .values()
        .filter(|v| v.is_object())
        .find_map(message)
}

/// Text of an HTML page minus `<head>` and `<h1>`, tags stripped, entities
/// decoded, `<br>` as line breaks.
fn html_text(html: &str) -> String {
    let mut text = remove_element(html, "head");
    text = remove_element(&text, "h1");
    text = text
        .replace("<br />", "\n")
        .replace("<br/>", "\n")
        .replace("<br>", "\n");
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    decode_entities(&out)
}

fn remove_element(html: &str, tag: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    match (lower.find(&open), lower.find(&close)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{}", &html[..start], &html[end + close.len()..])
        }
        _ => html.to_owned(),
    }
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|&s| s <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::StepErrorKind;

    /// As the rig's Glance sends them.
    const GLANCE_403: &str = "<html>\n <head>\n  <title>403 Forbidden</title>\n </head>\n <body>\n  <h1>403 Forbidden</h1>\n  You are not authorized to complete publicize_image action.<br /><br />\n\n\n\n </body>\n</html>";
    const GLANCE_400: &str = "<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n  <h1>400 Bad Request</h1>\n  Provided object does not match schema &#x27;image&#x27;: &#x27;bogus&#x27; is not one of [None, &#x27;ami&#x27;]\n\nFailed validating &#x27;enum&#x27; in schema<br /><br />\n </body>\n</html>";
    const KEYSTONE_401: &str = r#"{"error":{"code":401,"message":"The request you have made requires authentication.","title":"Unauthorized"}}"#;

    #[test]
    fn messages_from_html_and_json() {
        assert_eq!(
            error_message(GLANCE_403),
            "you are not authorized to complete publicize_image action."
        );
        assert_eq!(
            error_message(GLANCE_400),
            "provided object does not match schema 'image': 'bogus' is not one of [None, 'ami']"
        );
        assert_eq!(
            error_message(KEYSTONE_401),
            "the request you have made requires authentication."
        );
        assert_eq!(
            error_message(
                r#"{"overLimit": {"message": "Quota exceeded for images", "code": 413}}"#
            ),
            "quota exceeded for images"
        );
        assert_eq!(
            error_message(r#"{"errors": [{"title": "Conflict", "detail": "Image is busy"}]}"#),
            "image is busy"
        );
        assert_eq!(error_message("plain words\n\nmore"), "plain words");
        assert_eq!(error_message("  "), "");
        assert_eq!(
            error_message(&"x".repeat(1000)).chars().count(),
            MAX_MESSAGE + 1
        );
        assert_eq!(
            decode_entities("a &amp; b &#39;c&#39; &bogus; & d"),
            "a & b 'c' &bogus; & d"
        );
    }

    #[test]
    fn classification() {
        let e = status_error("create the image on cloud `a`", 403, GLANCE_403);
        assert_eq!(e.kind, StepErrorKind::Permanent);
        assert_eq!(
            e.message,
            "create the image on cloud `a`: you are not authorized to complete publicize_image action. (http 403)"
        );
        assert_eq!(status_error("x", 503, "").kind, StepErrorKind::Transient);
        assert_eq!(
            status_error("x", 503, "").message,
            "x: http 503 (service unavailable)"
        );
        assert_eq!(status_error("x", 429, "").kind, StepErrorKind::Transient);
        let q = status_error(
            "upload to cloud `a`",
            413,
            "<html><body><h1>413</h1>Image exceeds the storage quota: 10 bytes remaining.</body></html>",
        );
        assert_eq!(q.kind, StepErrorKind::Permanent);
        assert_eq!(
            q.message,
            "upload to cloud `a`: quota exceeded: image exceeds the storage quota: 10 bytes remaining. (http 413)"
        );
        let q = status_error(
            "x",
            403,
            r#"{"message": "Quota exceeded for resource image_count_total"}"#,
        );
        assert!(
            q.message
                .starts_with("x: quota exceeded: quota exceeded for resource"),
            "{}",
            q.message
        );
    }
}
