use super::ResourceError;
use camino::{Utf8Path, Utf8PathBuf};
use serde::Serialize;
use std::fmt;

/// Something to fetch: a URL, or a file on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    Url(String),
    Path(Utf8PathBuf),
}

impl Resource {
    /// Interpret a recipe string: `http(s)://` stays a URL, `file://` and
    /// plain paths become paths (relative ones against the recipe's directory).
    pub fn parse(text: &str, base_dir: &Utf8Path) -> Result<Self, ResourceError> {
        if text.is_empty() {
            return Err(ResourceError::Empty);
        }
        if text.starts_with("http://") || text.starts_with("https://") {
            return Ok(Resource::Url(text.to_owned()));
        }
        if let Some(path) = text.strip_prefix("file://") {
            return Ok(Resource::Path(path.into()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(ResourceError::Scheme {
                scheme: scheme.to_owned(),
            });
        }
        Ok(Resource::Path(base_dir.join(text)))
    }

    /// The last path component: what a `SHA256SUMS` file lists.
    pub fn file_name(&self) -> &str {
        match self {
            Resource::Url(url) => {
                let path = url.split(['?', '#']).next().unwrap_or(url);
                path.rsplit('/').next().unwrap_or(path)
            }
            Resource::Path(path) => path.file_name().unwrap_or(path.as_str()),
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Url(url) => f.write_str(url),
            Resource::Path(path) => f.write_str(path.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_paths() {
        let dir = Utf8Path::new("/r");
        assert_eq!(
            Resource::parse("https://x/a/b.img?x=1", dir)
                .unwrap()
                .file_name(),
            "b.img"
        );
        assert_eq!(
            Resource::parse("img/b.qcow2", dir).unwrap(),
            Resource::Path("/r/img/b.qcow2".into())
        );
        assert_eq!(
            Resource::parse("file:///abs.img", dir).unwrap(),
            Resource::Path("/abs.img".into())
        );
        assert_eq!(
            Resource::parse("ftp://x/y", dir),
            Err(ResourceError::Scheme {
                scheme: "ftp".into()
            })
        );
        assert_eq!(Resource::parse("", dir), Err(ResourceError::Empty));
    }
}
