use super::nova::Flavor;

/// What a builder server needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub cpus: u32,
    /// MiB.
    pub ram: u64,
    /// GiB (Nova's flavor disk unit): the disk the image needs.
    pub disk: u64,
}

/// Why no flavor serves the builds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlavorError {
    #[error("no flavor `{wanted}`; the cloud has: {}", .names.join(", "))]
    Unknown { wanted: String, names: Vec<String> },
    /// The named flavor has less `what` (`disk`, `RAM`, `vCPU count`) than
    /// `needs` says.
    #[error("flavor `{flavor}` is too small: its {what} is {has} and {needs} ({why})")]
    TooSmall {
        flavor: String,
        what: &'static str,
        has: String,
        needs: String,
        why: &'static str,
    },
    #[error(
        "no flavor has {} vCPU, {} MiB and a {} GiB disk (build.cpus, build.memory, disk_size or the base's size); set build.flavor or change them",
        .need.cpus, .need.ram, .need.disk
    )]
    NoneFits { need: Need },
}

/// The flavor for builds: the one `wanted` names (by name or id), which must
/// have what `need` says; or the smallest (by RAM, then vCPUs, then disk)
/// with at least that. The error says why none fits.
pub fn choose_flavor(
    flavors: &[Flavor],
    wanted: Option<&str>,
    need: Need,
) -> Result<Flavor, FlavorError> {
    if let Some(wanted) = wanted {
        let Some(flavor) = flavors
            .iter()
            .find(|f| f.name == wanted)
            .or_else(|| flavors.iter().find(|f| f.id == wanted))
        else {
            let mut names: Vec<String> = flavors.iter().map(|f| f.name.clone()).collect();
            names.sort_unstable();
            return Err(FlavorError::Unknown {
                wanted: wanted.to_owned(),
                names,
            });
        };
        let too_small = |what, has: String, needs: String, why| FlavorError::TooSmall {
            flavor: flavor.name.clone(),
            what,
            has,
            needs,
            why,
        };
        if flavor.disk < need.disk {
            return Err(too_small(
                "disk",
                format!("{} GiB", flavor.disk),
                format!("the image needs {} GiB", need.disk),
                "disk_size, or the base's size",
            ));
        }
        if flavor.ram < need.ram {
            return Err(too_small(
                "RAM",
                format!("{} MiB", flavor.ram),
                format!("the build needs {} MiB", need.ram),
                "build.memory",
            ));
        }
        if flavor.vcpus < need.cpus {
            return Err(too_small(
                "vCPU count",
                flavor.vcpus.to_string(),
                format!("the build needs {}", need.cpus),
                "build.cpus",
            ));
        }
        return Ok(flavor.clone());
    }
    flavors
        .iter()
        .filter(|f| f.vcpus >= need.cpus && f.ram >= need.ram && f.disk >= need.disk)
        .min_by_key(|f| (f.ram, f.vcpus, f.disk, f.name.clone()))
        .cloned()
        .ok_or(FlavorError::NoneFits { need })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flavor(name: &str, vcpus: u32, ram: u64, disk: u64) -> Flavor {
        Flavor {
            id: format!("id-{name}"),
            name: name.into(),
            vcpus,
            ram,
            disk,
        }
    }

    #[test]
    fn the_smallest_that_fits_or_the_one_named() {
        let flavors = [
            flavor("m1.large", 2, 2048, 4),
            flavor("m1.tiny", 1, 512, 1),
            flavor("m1.builder", 1, 1024, 3),
        ];
        let need = Need {
            cpus: 1,
            ram: 1024,
            disk: 2,
        };
        assert_eq!(
            choose_flavor(&flavors, None, need).unwrap().name,
            "m1.builder"
        );
        let big = Need { cpus: 2, ..need };
        assert_eq!(choose_flavor(&flavors, None, big).unwrap().name, "m1.large");
        assert_eq!(
            choose_flavor(&flavors, Some("id-m1.large"), need)
                .unwrap()
                .name,
            "m1.large"
        );
        let tiny = choose_flavor(&flavors, Some("m1.tiny"), need).unwrap_err();
        assert!(
            matches!(&tiny, FlavorError::TooSmall { flavor, what: "disk", .. } if flavor == "m1.tiny"),
            "{tiny:?}"
        );
        assert_eq!(
            tiny.to_string(),
            "flavor `m1.tiny` is too small: its disk is 1 GiB and the image needs 2 GiB (disk_size, or the base's size)"
        );
        let small_disk = Need { disk: 1, ..need };
        assert!(matches!(
            choose_flavor(&flavors, Some("m1.tiny"), small_disk),
            Err(FlavorError::TooSmall { what: "RAM", .. })
        ));
        let two = Need { cpus: 2, ..need };
        assert!(matches!(
            choose_flavor(&flavors, Some("m1.builder"), two),
            Err(FlavorError::TooSmall {
                what: "vCPU count",
                ..
            })
        ));
        let unknown = choose_flavor(&flavors, Some("x1"), need).unwrap_err();
        assert!(
            matches!(&unknown, FlavorError::Unknown { wanted, names } if wanted == "x1" && names.len() == 3)
        );
        assert_eq!(
            unknown.to_string(),
            "no flavor `x1`; the cloud has: m1.builder, m1.large, m1.tiny"
        );
        let huge = Need { cpus: 8, ..need };
        assert!(matches!(
            choose_flavor(&flavors, None, huge),
            Err(FlavorError::NoneFits { need }) if need == huge
        ));
    }
}
