/// An OpenStack service pipeline talks to, found in the token's catalog by
/// its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Glance, image API v2.
    Image,
    /// Nova, compute API v2.1.
    Compute,
    /// Neutron (only to find a network by name).
    Network,
}

impl Service {
    pub const ALL: [Service; 3] = [Service::Image, Service::Compute, Service::Network];

    /// Its `type` in the catalog and its key in clouds.yaml
    /// (`image_endpoint_override`, `compute_interface`).
    pub fn catalog_type(self) -> &'static str {
        match self {
            Service::Image => "image",
            Service::Compute => "compute",
            Service::Network => "network",
        }
    }

    /// The root that API paths are appended to. Glance's catalog entry is
    /// unversioned (some write `…/v2`): paths are `/v2/…` under the root,
    /// which is also what Glance's `next` links are relative to. Nova's
    /// entry already names its version (`…/v2.1`, maybe with the project).
    pub fn root(self, endpoint: &str) -> String {
        let url = endpoint.trim_end_matches('/');
        match self {
            Service::Image => match url.rsplit_once('/') {
                Some((root, last))
                    if last.starts_with("v2")
                        && last[2..].chars().all(|c| c.is_ascii_digit() || c == '.')
                        && root.contains("://") =>
                {
                    root.to_owned()
                }
                _ => url.to_owned(),
            },
            Service::Compute | Service::Network => url.to_owned(),
        }
    }

    /// The URL of `path` on this service: for Glance `path` is under `/v2`
    /// (`/images?…`) or a `next` link (`/v2/images?…`); for Nova it is
    /// under the versioned root (`/servers/…`), or a full URL (Nova's
    /// `next` links are absolute).
    pub fn url(self, root: &str, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_owned();
        }
        match self {
            Service::Image if path.starts_with("/v2/") => format!("{root}{path}"),
            Service::Image => format!("{root}/v2{path}"),
            Service::Compute | Service::Network => format!("{root}{path}"),
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.catalog_type())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_and_urls() {
        let image = |e: &str| Service::Image.root(e);
        assert_eq!(image("http://g:9292"), "http://g:9292");
        assert_eq!(image("http://g:9292/v2/"), "http://g:9292");
        assert_eq!(image("http://g:9292/v2.16"), "http://g:9292");
        assert_eq!(image("https://cloud/image"), "https://cloud/image");
        assert_eq!(image("https://cloud/v2x"), "https://cloud/v2x");
        assert_eq!(
            Service::Image.url("http://g", "/images"),
            "http://g/v2/images"
        );
        assert_eq!(
            Service::Image.url("http://g", "/v2/images?marker=x"),
            "http://g/v2/images?marker=x"
        );
        let nova = Service::Compute.root("http://n:8774/v2.1/");
        assert_eq!(nova, "http://n:8774/v2.1");
        assert_eq!(
            Service::Compute.url(&nova, "/servers/detail"),
            "http://n:8774/v2.1/servers/detail"
        );
        assert_eq!(
            Service::Compute.url(&nova, "http://n:8774/v2.1/servers?marker=1"),
            "http://n:8774/v2.1/servers?marker=1"
        );
    }
}
