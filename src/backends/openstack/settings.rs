//! The `[build]` keys of the OpenStack backend: as written, their schema,
//! and what they mean once checked.

use super::BuildCloudError;
use crate::files::SourceFile;
use crate::model::Secrets;
use crate::output::{Diagnostic, Diagnostics};
use crate::recipe::Spanned;
use schemars::JsonSchema;
use serde::Deserialize;
use std::ops::Range;
use std::sync::Arc;

/// `[build]` keys of `backend = "openstack"`, as written.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOpenstackBuild {
    /// `openstack` (required there): the build cloud's name in clouds.yaml.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub cloud: Option<Spanned<String>>,
    /// `openstack`: the flavor (name or id) of the builder servers; by
    /// default the smallest with at least `cpus`, `memory` and `disk_size`.
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub flavor: Option<Spanned<String>>,
    /// `openstack`: the network (name or id) of the builder servers; none
    /// by default (the guest reports on its console).
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub network: Option<Spanned<String>>,
    /// `openstack`: builder servers at once (1..64); by default what the
    /// quota allows, at most the cells.
    #[serde(default)]
    #[schemars(range(min = 1, max = 64))]
    pub servers: Option<Spanned<i64>>,
}

/// The keys the schema requires with this backend.
pub const REQUIRED: &[&str] = &["cloud"];

/// `[build]` keys of the OpenStack backend, validated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpenstackBuild {
    /// The cloud's name in clouds.yaml.
    pub cloud: String,
    /// Name or id; `None`: the smallest that fits.
    pub flavor: Option<String>,
    /// Name or id; `None`: no network.
    pub network: Option<String>,
    /// Servers at once; `None`: what the quota allows.
    pub servers: Option<u32>,
}

impl RawOpenstackBuild {
    /// Check the keys; `backend` is where `backend = "openstack"` is
    /// written, for a missing `cloud`.
    pub fn validate(
        &self,
        file: &Arc<SourceFile>,
        backend: Range<usize>,
        problems: &mut Diagnostics,
    ) -> Option<OpenstackBuild> {
        let mut text = |v: &Option<Spanned<String>>, key: &str| match v {
            Some(v) if v.value.trim().is_empty() => {
                problems.push(
                    Diagnostic::at(file, v.span.clone(), format!("the {key} must not be empty"))
                        .key(format!("build.{key}")),
                );
                None
            }
            Some(v) => Some(v.value.clone()),
            None => None,
        };
        let cloud = text(&self.cloud, "cloud");
        let flavor = text(&self.flavor, "flavor");
        let network = text(&self.network, "network");
        let servers = match &self.servers {
            Some(s) if !(1..=64).contains(&s.value) => {
                problems.push(
                    Diagnostic::at(
                        file,
                        s.span.clone(),
                        format!("servers = {} is out of range 1..64", s.value),
                    )
                    .key("build.servers"),
                );
                None
            }
            Some(s) => Some(s.value as u32),
            None => None,
        };
        if self.cloud.is_none() {
            problems.push(
                Diagnostic::at(
                    file,
                    backend,
                    "`backend = \"openstack\"` needs the build cloud",
                )
                .key("build.cloud")
                .help("add `cloud = \"NAME\"`, a cloud of your clouds.yaml"),
            );
        }
        Some(OpenstackBuild {
            cloud: cloud?,
            flavor,
            network,
            servers,
        })
    }
}

/// A build cloud keeps user-data and server metadata in clear, and
/// cloud-init copies user-data onto the disk that becomes the image; the
/// channel that avoids both (see the README) needs a network the guest does
/// not have yet. So secrets are refused before anything is created.
pub fn check_secrets(recipe_path: &str, secrets: &Secrets) -> Result<(), BuildCloudError> {
    if secrets.is_empty() {
        return Ok(());
    }
    Err(BuildCloudError::Secrets {
        recipe: recipe_path.to_owned(),
        vars: secrets.iter().map(|s| s.env_name()).collect(),
    })
}
