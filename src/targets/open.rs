use super::{DirectoryStore, OpenstackStore, Store};
use crate::model::{Target, TargetKind};

/// The store behind a recipe target.
pub fn open(target: &Target) -> Result<Box<dyn Store>, String> {
    match &target.kind {
        TargetKind::Directory { path } => Ok(Box::new(DirectoryStore::new(
            target.name.clone(),
            path.clone(),
        ))),
        // Reads clouds.yaml only; authentication waits for the first call.
        TargetKind::Openstack { cloud, visibility } => {
            OpenstackStore::open(&target.name, cloud, *visibility)
                .map(|s| Box::new(s) as Box<dyn Store>)
                .map_err(|e| format!("target `{}` (openstack cloud `{cloud}`): {e}", target.name))
        }
    }
}
