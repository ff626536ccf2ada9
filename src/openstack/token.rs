use super::{Catalog, CatalogError, CloudConfig, Service, TokenError};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::fmt;

/// A project-scoped Keystone token and the catalog that came with it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// `X-Subject-Token`.
    pub value: String,
    pub expires_at: Timestamp,
    pub issued_at: Option<Timestamp>,
    /// The project the token is scoped to: the `owner` of images it makes.
    pub project_id: Option<String>,
    catalog: Catalog,
    /// The cloud's region, interfaces and endpoint overrides.
    cloud: CloudConfig,
}

/// Re-authenticate when less than this much is left (or a fifth of the
/// token's lifetime, when that is less).
const RENEW_BEFORE: SignedDuration = SignedDuration::from_mins(15);

impl Token {
    /// From Keystone's answer to `POST /v3/auth/tokens`.
    pub fn from_response(
        value: String,
        body: &Value,
        cloud: &CloudConfig,
    ) -> Result<Self, TokenError> {
        let token = body.get("token").unwrap_or(body);
        let time = |key: &str| -> Option<Timestamp> { token.get(key)?.as_str()?.parse().ok() };
        let expires_at = time("expires_at").ok_or(TokenError::NoExpiry)?;
        Ok(Self {
            value,
            expires_at,
            issued_at: time("issued_at"),
            project_id: token
                .pointer("/project/id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            catalog: Catalog::from_token_body(body),
            cloud: cloud.clone(),
        })
    }

    /// The root URL of `service`: the cloud's `<service>_endpoint_override`,
    /// else the catalog's endpoint for the cloud's region and interface.
    pub fn root(&self, service: Service) -> Result<String, CatalogError> {
        let kind = service.catalog_type();
        let endpoint = match self.cloud.endpoint_overrides.get(kind) {
            Some(url) => url.clone(),
            None => self.catalog.endpoint(
                kind,
                self.cloud.region_name.as_deref(),
                self.cloud.interface_for(service),
            )?,
        };
        Ok(service.root(&endpoint))
    }

    /// Still good for a while at `now`.
    pub fn is_fresh(&self, now: Timestamp) -> bool {
        let lifetime = self
            .issued_at
            .map(|i| self.expires_at.duration_since(i))
            .unwrap_or(RENEW_BEFORE * 4);
        let margin = RENEW_BEFORE.min(lifetime / 5);
        now + margin < self.expires_at
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"***")
            .field("expires_at", &self.expires_at)
            .field("project_id", &self.project_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openstack::{CloudsYaml, ConfigEnv};
    use serde_json::json;

    fn cloud(region: &str) -> CloudConfig {
        let doc = json!({"clouds": {"c": {
            "auth": {"auth_url": "http://k/v3", "username": "u", "password": "p", "project_name": "x"},
            "region_name": region}}});
        CloudConfig::from_clouds("c", &CloudsYaml::from_value(&doc), &ConfigEnv::default()).unwrap()
    }

    fn body() -> Value {
        json!({"token": {
        "expires_at": "2026-11-28T19:47:38.000000Z",
        "issued_at": "2026-11-28T18:47:38.000000Z",
        "project": {"id": "p1", "name": "x"},
        "catalog": [{"type": "image", "endpoints": [
            {"interface": "public", "region_id": "R1", "url": "http://127.0.0.1:9292/"},
            {"interface": "public", "region_id": "R2", "url": "https://images.example/image/v2"}
        ]}]}})
    }

    #[test]
    fn parses_the_token_and_finds_glance() {
        let t = Token::from_response("tok".into(), &body(), &cloud("R1")).unwrap();
        assert_eq!(t.project_id.as_deref(), Some("p1"));
        assert_eq!(t.root(Service::Image).unwrap(), "http://127.0.0.1:9292");
        let t = Token::from_response("tok".into(), &body(), &cloud("R2")).unwrap();
        assert_eq!(
            t.root(Service::Image).unwrap(),
            "https://images.example/image"
        );
        assert!(!format!("{t:?}").contains("tok\""));
        let t = Token::from_response("tok".into(), &body(), &cloud("R3")).unwrap();
        let err = t.root(Service::Image).unwrap_err();
        assert!(
            matches!(&err, CatalogError::NoEndpoint { region: Some(r), interface, .. } if r == "R3" && interface == "public"),
            "{err:?}"
        );
    }

    #[test]
    fn freshness_leaves_a_margin() {
        let t = Token::from_response("tok".into(), &body(), &cloud("R1")).unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert!(t.is_fresh(at("2026-11-28T19:00:00Z")));
        // A one-hour token: renewed 12 minutes (a fifth) before it expires.
        assert!(t.is_fresh(at("2026-11-28T19:35:00Z")));
        assert!(!t.is_fresh(at("2026-11-28T19:36:00Z")));
        assert!(!t.is_fresh(at("2026-11-28T20:00:00Z")));
    }
}
