//! The service catalog of a Keystone v3 token (`token.catalog`).

use super::CatalogError;
use serde_json::Value;

/// Every endpoint of every service in a token's catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// (service type, interface, region, url), in catalog order.
    endpoints: Vec<(String, String, String, String)>,
}

impl Catalog {
    /// From the body of `POST /v3/auth/tokens` (the whole JSON or `token`).
    pub fn from_token_body(body: &Value) -> Self {
        let token = body.get("token").unwrap_or(body);
        let mut endpoints = Vec::new();
        for service in token
            .get("catalog")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = service
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            for ep in service
                .get("endpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let field = |k: &str| ep.get(k).and_then(Value::as_str).unwrap_or_default();
                let region = if field("region_id").is_empty() {
                    field("region")
                } else {
                    field("region_id")
                };
                endpoints.push((
                    kind.to_owned(),
                    normalize_interface(field("interface")).to_owned(),
                    region.to_owned(),
                    field("url").to_owned(),
                ));
            }
        }
        Self { endpoints }
    }

    /// The URL of `service_type` for `interface` in `region` (any region
    /// when `None`: the first listed, as keystoneauth does). The error says
    /// what was looked for and what the catalog has.
    pub fn endpoint(
        &self,
        service_type: &str,
        region: Option<&str>,
        interface: &str,
    ) -> Result<String, CatalogError> {
        let interface = normalize_interface(interface);
        let of_type: Vec<_> = self
            .endpoints
            .iter()
            .filter(|(kind, ..)| kind == service_type)
            .collect();
        if of_type.is_empty() {
            let mut kinds: Vec<String> = self.endpoints.iter().map(|(k, ..)| k.clone()).collect();
            kinds.dedup();
            return Err(CatalogError::NoService {
                service_type: service_type.to_owned(),
                kinds,
            });
        }
        let found = of_type.iter().find(|(_, i, r, url)| {
            i == interface && region.is_none_or(|want| r == want) && !url.is_empty()
        });
        match found {
            Some((.., url)) => Ok(url.clone()),
            None => {
                let has: Vec<String> = of_type
                    .iter()
                    .map(|(_, i, r, _)| {
                        if r.is_empty() {
                            format!("{i} (no region)")
                        } else {
                            format!("{i} in {r}")
                        }
                    })
                    .collect();
                Err(CatalogError::NoEndpoint {
                    service_type: service_type.to_owned(),
                    interface: interface.to_owned(),
                    region: region.map(str::to_owned),
                    has,
                })
            }
        }
    }
}

/// `publicURL` (v2 style, and what some clouds.yaml say) is `public`.
fn normalize_interface(interface: &str) -> &str {
    interface.strip_suffix("URL").unwrap_or(interface)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Shaped like the rig's Keystone answer (trimmed).
    fn body() -> Value {
        json!({"token": {
            "expires_at": "2026-11-28T19:47:38.000000Z",
            "catalog": [
                {"type": "identity", "name": "keystone", "endpoints": [
                    {"interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": "http://127.0.0.1:5000/v3"}
                ]},
                {"type": "image", "name": "glance", "endpoints": [
                    {"interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": "http://127.0.0.1:9292"},
                    {"interface": "internal", "region_id": "RegionOne", "region": "RegionOne", "url": "http://10.0.0.1:9292"},
                    {"interface": "public", "region_id": "RegionTwo", "region": "RegionTwo", "url": "http://127.0.0.1:9393"}
                ]}
            ]
        }})
    }

    #[test]
    fn finds_by_region_and_interface() {
        let c = Catalog::from_token_body(&body());
        assert_eq!(
            c.endpoint("image", Some("RegionTwo"), "public").unwrap(),
            "http://127.0.0.1:9393"
        );
        assert_eq!(
            c.endpoint("image", Some("RegionOne"), "internal").unwrap(),
            "http://10.0.0.1:9292"
        );
        assert_eq!(
            c.endpoint("image", Some("RegionOne"), "publicURL").unwrap(),
            "http://127.0.0.1:9292"
        );
        // No region: the first of the interface.
        assert_eq!(
            c.endpoint("image", None, "public").unwrap(),
            "http://127.0.0.1:9292"
        );
        // The inner object works as well as the whole body.
        let inner = Catalog::from_token_body(&body()["token"]);
        assert_eq!(inner, c);
    }

    #[test]
    fn says_what_was_looked_for_and_what_exists() {
        let c = Catalog::from_token_body(&body());
        assert_eq!(
            c.endpoint("image", Some("RegionThree"), "public")
                .unwrap_err()
                .to_string(),
            "no `image` endpoint for interface `public` in region `RegionThree` in the catalog; it has: public in RegionOne, internal in RegionOne, public in RegionTwo"
        );
        assert_eq!(
            c.endpoint("image", Some("RegionTwo"), "admin")
                .unwrap_err()
                .to_string(),
            "no `image` endpoint for interface `admin` in region `RegionTwo` in the catalog; it has: public in RegionOne, internal in RegionOne, public in RegionTwo"
        );
        assert_eq!(
            c.endpoint("volumev3", None, "public")
                .unwrap_err()
                .to_string(),
            "the catalog has no `volumev3` service: it has identity, image"
        );
        assert_eq!(
            Catalog::from_token_body(&json!({"token": {}}))
                .endpoint("image", None, "public")
                .unwrap_err()
                .to_string(),
            "the catalog has no `image` service: it is empty (is the token project-scoped?)"
        );
    }

    #[test]
    fn v3_endpoints_with_only_the_old_region_field() {
        let c = Catalog::from_token_body(&json!({"token": {"catalog": [
            {"type": "image", "endpoints": [{"interface": "public", "region": "R", "url": "https://g"}]}
        ]}}));
        assert_eq!(
            c.endpoint("image", Some("R"), "public").unwrap(),
            "https://g"
        );
    }
}
