use super::{DirectoryStore, OpenstackStore, Store};
use crate::model::{Target, TargetKind};
use crate::openstack::{CloudConfig, ConfigEnv};
use std::collections::HashMap;

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

/// The store behind every target, in order. Two openstack targets whose
/// cloud names lead to one project of one cloud are refused: each would
/// delete the other's images as old revisions (validate refuses one cloud
/// name twice; only clouds.yaml tells that two names are one place).
pub fn open_all(targets: &[Target]) -> Result<Vec<Box<dyn Store>>, String> {
    let env = ConfigEnv::from_process();
    let mut places: HashMap<String, &str> = HashMap::new();
    let mut stores: Vec<Box<dyn Store>> = Vec::new();
    for target in targets {
        let TargetKind::Openstack { cloud, visibility } = &target.kind else {
            stores.push(open(target)?);
            continue;
        };
        // Reads clouds.yaml only; authentication waits for the first call.
        let config = CloudConfig::resolve(cloud, &env)
            .map_err(|e| format!("target `{}` (openstack cloud `{cloud}`): {e}", target.name))?;
        let place = config.project_place();
        if let Some(first) = places.get(place.as_str()) {
            return Err(format!(
                "targets `{first}` and `{}` keep their images in the same place ({place}): \
                 each would delete the other's images as old revisions; give each target a \
                 project or region of its own",
                target.name
            ));
        }
        places.insert(place, &target.name);
        stores.push(Box::new(OpenstackStore::new(
            &target.name,
            config,
            *visibility,
        )));
    }
    Ok(stores)
}
