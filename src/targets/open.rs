use super::{DirectoryStore, OpenError, OpenstackStore, Store};
use crate::model::{Target, TargetKind};
use crate::openstack::{CloudConfig, ConfigEnv};
use std::collections::HashMap;

/// The store behind a recipe target.
pub fn open(target: &Target) -> Result<Box<dyn Store>, OpenError> {
    match &target.kind {
        TargetKind::Directory { path } => Ok(Box::new(DirectoryStore::new(
            target.name.clone(),
            path.clone(),
        ))),
        // Reads clouds.yaml only; authentication waits for the first call.
        TargetKind::Openstack { cloud, visibility } => {
            OpenstackStore::open(&target.name, cloud, *visibility)
                .map(|s| Box::new(s) as Box<dyn Store>)
                .map_err(|error| OpenError::Cloud {
                    target: target.name.clone(),
                    cloud: cloud.clone(),
                    error: Box::new(error),
                })
        }
    }
}

/// The store behind every target, in order. Two openstack targets whose
/// cloud names lead to one project of one cloud are refused: each would
/// delete the other's images as old revisions (validate refuses one cloud
/// name twice; only clouds.yaml tells that two names are one place).
pub fn open_all(targets: &[Target]) -> Result<Vec<Box<dyn Store>>, OpenError> {
    let env = ConfigEnv::from_process();
    let mut places: HashMap<String, &str> = HashMap::new();
    let mut stores: Vec<Box<dyn Store>> = Vec::new();
    for target in targets {
        let TargetKind::Openstack { cloud, visibility } = &target.kind else {
            stores.push(open(target)?);
            continue;
        };
        // Reads clouds.yaml only; authentication waits for the first call.
        let config = CloudConfig::resolve(cloud, &env).map_err(|error| OpenError::Cloud {
            target: target.name.clone(),
            cloud: cloud.clone(),
            error: Box::new(error),
        })?;
        let place = config.project_place();
        if let Some(first) = places.get(place.as_str()) {
            return Err(OpenError::SamePlace {
                first: (*first).to_owned(),
                second: target.name.clone(),
                place,
            });
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
