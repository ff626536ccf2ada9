//! Why a token's catalog has no endpoint for a service.

/// Why [`Catalog::endpoint`](super::Catalog::endpoint) found no URL: what
/// was looked for and what the catalog has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// `kinds`: the service types the catalog has (none when the token is
    /// not project-scoped).
    #[error("the catalog has no `{service_type}` service: {}", has_kinds(.kinds))]
    NoService {
        service_type: String,
        kinds: Vec<String>,
    },
    /// `has`: the service's endpoints, as `public in RegionOne`.
    #[error(
        "no `{service_type}` endpoint for interface `{interface}` in {} in the catalog; it has: {}",
        region_text(.region.as_deref()), .has.join(", ")
    )]
    NoEndpoint {
        service_type: String,
        interface: String,
        /// `None`: any region.
        region: Option<String>,
        has: Vec<String>,
    },
}

fn has_kinds(kinds: &[String]) -> String {
    if kinds.is_empty() {
        "it is empty (is the token project-scoped?)".to_owned()
    } else {
        format!("it has {}", kinds.join(", "))
    }
}

fn region_text(region: Option<&str>) -> String {
    match region {
        Some(r) => format!("region `{r}`"),
        None => "any region".to_owned(),
    }
}
