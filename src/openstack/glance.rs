//! Glance's image API v2, through a cloud's [`Session`]: what the image
//! target and the build backend both do with images.

use super::{GlanceImage, Service, Session};
use crate::http::failure::{status_error, transport_error};
use crate::http::progress_guard::ProgressGuard;
use crate::step::CancelToken;
use crate::step::{StepError, StepResult};
use serde_json::{Value, json};
use std::io::Read;
use std::time::{Duration, Instant};

/// Pages of 100 images at most followed when listing.
const MAX_PAGES: usize = 1000;

/// What a `PUT` of an image's data came to: the URL it went to, and the
/// answer or the transport error.
pub type Sent = (String, Result<(u16, String), ureq::Error>);

/// A project's image quota: (limit, used), when limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub count: Option<(u64, u64)>,
    pub size_mib: Option<(u64, u64)>,
}

pub struct Glance<'s> {
    session: &'s Session,
}

impl<'s> Glance<'s> {
    pub fn new(session: &'s Session) -> Self {
        Self { session }
    }

    fn cloud(&self) -> &str {
        &self.session.cloud().name
    }

    /// `GET /v2/images/{id}`; `None` when there is no such image.
    pub fn get(&self, id: &str) -> StepResult<Option<GlanceImage>> {
        let what = format!("look up image {id} on cloud `{}`", self.cloud());
        let (status, text) =
            self.session
                .image_call(&what, "GET", &format!("/images/{id}"), None)?;
        match status {
            404 => Ok(None),
            200 => parse_image(&what, &text).map(Some),
            _ => Err(status_error(&what, status, &text)),
        }
    }

    /// `POST /v2/images`: a queued image. `what` fits after "failed to".
    pub fn create(&self, what: &str, body: &Value) -> StepResult<GlanceImage> {
        let body = serde_json::to_vec(body).expect("JSON serializes");
        let (status, text) =
            self.session
                .image_call(what, "POST", "/images", Some(("application/json", &body)))?;
        if !(200..300).contains(&status) {
            return Err(status_error(what, status, &text));
        }
        parse_image(what, &text)
    }

    /// `DELETE /v2/images/{id}`; gone already is fine.
    pub fn delete(&self, id: &str) -> StepResult<()> {
        let what = format!("delete image {id} from cloud `{}`", self.cloud());
        let (status, text) =
            self.session
                .image_call(&what, "DELETE", &format!("/images/{id}"), None)?;
        match status {
            200..=299 | 404 => Ok(()),
            _ => Err(status_error(&what, status, &text)),
        }
    }

    /// Every image `GET /v2/images?{query}` lists, following `next` links.
    pub fn list(&self, what: &str, query: &str) -> StepResult<Vec<GlanceImage>> {
        let mut path = format!("/images?{query}");
        let mut images = Vec::new();
        for _ in 0..MAX_PAGES {
            let (status, text) = self.session.image_call(what, "GET", &path, None)?;
            if status != 200 {
                return Err(status_error(what, status, &text));
            }
            let page: Value = serde_json::from_str(&text).map_err(|e| {
                StepError::transient(format!("{what}: glance's answer is not JSON: {e}"))
            })?;
            for image in page
                .get("images")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                images.push(
                    GlanceImage::from_json(image.clone())
                        .map_err(|e| StepError::transient(format!("{what}: {e}")))?,
                );
            }
            match page.get("next").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => path = next.to_owned(),
                _ => return Ok(images),
            }
        }
        Err(StepError::permanent(format!(
            "{what}: more than {MAX_PAGES} pages of images"
        )))
    }

    /// Poll until the image is `active`, for at most `timeout`.
    pub fn wait_active(
        &self,
        id: &str,
        timeout: Duration,
        cancel: &CancelToken,
    ) -> StepResult<GlanceImage> {
        let what = format!("wait for image {id} on cloud `{}`", self.cloud());
        let start = Instant::now();
        let mut pause = Duration::from_millis(200);
        loop {
            let image = self
                .get(id)?
                .ok_or_else(|| StepError::transient(format!("{what}: the image disappeared")))?;
            match image.status.as_str() {
                "active" => return Ok(image),
                "queued" | "saving" | "uploading" | "importing" => {}
                other => {
                    return Err(StepError::transient(format!(
                        "{what}: glance marked it `{other}`"
                    )));
                }
            }
            if start.elapsed() > timeout {
                return Err(StepError::transient(format!(
                    "{what}: still `{}` after {} s",
                    image.status,
                    timeout.as_secs()
                )));
            }
            cancel.sleep(pause)?;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// `PATCH` properties of an image (added, or replaced if present).
    pub fn set_properties(&self, id: &str, properties: &[(&str, &str)]) -> StepResult<()> {
        let patch: Vec<Value> = properties
            .iter()
            .map(|(k, v)| json!({ "op": "add", "path": format!("/{k}"), "value": v }))
            .collect();
        self.patch(id, &patch)
    }

    /// `PATCH` an image with JSON-patch operations.
    pub fn patch(&self, id: &str, operations: &[Value]) -> StepResult<()> {
        let what = format!("update image {id} on cloud `{}`", self.cloud());
        let body = serde_json::to_vec(operations).expect("JSON serializes");
        let (status, text) = self.session.image_call(
            &what,
            "PATCH",
            &format!("/images/{id}"),
            Some(("application/openstack-images-v2.1-json-patch", &body)),
        )?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(status_error(&what, status, &text))
        }
    }

    /// What the project may store (`GET /v2/info/usage`, unified limits):
    /// `None` when Glance enforces no quota.
    pub fn usage(&self) -> StepResult<Option<Usage>> {
        let what = format!("read the image quota on cloud `{}`", self.cloud());
        let (status, text) = self.session.image_call(&what, "GET", "/info/usage", None)?;
        match status {
            200 => {}
            404 => return Ok(None),
            _ => return Err(status_error(&what, status, &text)),
        }
        let usage: Value = serde_json::from_str(&text).map_err(|e| {
            StepError::transient(format!("{what}: glance's answer is not JSON: {e}"))
        })?;
        let pair = |key: &str| -> Option<(u64, u64)> {
            let entry = &usage["usage"][key];
            let limit = entry["limit"].as_i64()?;
            // A negative limit means none.
            (limit >= 0).then(|| (limit as u64, entry["usage"].as_u64().unwrap_or(0)))
        };
        let usage = Usage {
            count: pair("image_count_total"),
            size_mib: pair("image_size_total"),
        };
        Ok((usage.count.is_some() || usage.size_mib.is_some()).then_some(usage))
    }

    /// `PUT /v2/images/{id}/file` with `len` bytes from `reader`. The inner
    /// result is the answer or the transport error, left to the caller,
    /// which knows whether its reader stopped the request.
    pub fn upload(&self, id: &str, len: u64, reader: &mut dyn Read) -> StepResult<Sent> {
        let token = self.session.token()?;
        let url = self
            .session
            .url(&token, Service::Image, &format!("/images/{id}/file"))?;
        let sent = self.session.put_stream(&url, &token, len, reader)?;
        if let Ok((401, _)) = &sent {
            self.session.invalidate(&token);
        }
        Ok((url, sent))
    }

    /// `GET /v2/images/{id}/file`: the image's bytes, as they stream; a
    /// read fails when they come too slowly ([`ProgressGuard`]).
    pub fn download(&self, id: &str) -> StepResult<Box<dyn Read + Send>> {
        let what = format!("download image {id} from cloud `{}`", self.cloud());
        let token = self.session.token()?;
        let url = self
            .session
            .url(&token, Service::Image, &format!("/images/{id}/file"))?;
        let response = self
            .session
            .get_stream(&url, &token)
            .map_err(|e| transport_error(&what, &url, &e))?;
        let status = response.status().as_u16();
        if status != 200 {
            if status == 401 {
                self.session.invalidate(&token);
            }
            return Err(status_error(&what, status, ""));
        }
        Ok(Box::new(ProgressGuard::new(
            response.into_body().into_reader(),
        )))
    }
}

fn parse_image(what: &str, text: &str) -> StepResult<GlanceImage> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| StepError::transient(format!("{what}: glance's answer is not JSON: {e}")))?;
    GlanceImage::from_json(value).map_err(|e| StepError::transient(format!("{what}: {e}")))
}

/// A query value, percent-encoded.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("pipeline:r e/c&x=1"), "pipeline%3Ar%20e%2Fc%26x%3D1");
        assert_eq!(encode("tiny-tiny-x64_1.2~"), "tiny-tiny-x64_1.2~");
    }
}
