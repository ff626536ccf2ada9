use super::{DirectoryStore, Store};
use crate::model::{Target, TargetKind};

/// The store behind a recipe target.
pub fn open(target: &Target) -> Result<Box<dyn Store>, String> {
    match &target.kind {
        TargetKind::Directory { path } => Ok(Box::new(DirectoryStore::new(
            target.name.clone(),
            path.clone(),
        ))),
        TargetKind::Openstack { cloud, .. } => Err(format!(
            "target `{}` (openstack cloud `{cloud}`): OpenStack targets are not supported yet",
            target.name
        )),
    }
}
