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

/// The flavor for builds: the one `wanted` names (by name or id), which must
/// have room for the image's disk; or the smallest (by RAM, then vCPUs,
/// then disk) with at least what `need` says. The error says why none fits.
pub fn choose_flavor(
    flavors: &[Flavor],
    wanted: Option<&str>,
    need: Need,
) -> Result<Flavor, String> {
    if let Some(wanted) = wanted {
        let Some(flavor) = flavors
            .iter()
            .find(|f| f.name == wanted)
            .or_else(|| flavors.iter().find(|f| f.id == wanted))
        else {
            let mut names: Vec<&str> = flavors.iter().map(|f| f.name.as_str()).collect();
            names.sort_unstable();
            return Err(format!(
                "no flavor `{wanted}`; the cloud has: {}",
                names.join(", ")
            ));
        };
        if flavor.disk < need.disk {
            return Err(format!(
                "flavor `{}` is too small: its disk is {} GiB and the image needs {} GiB (disk_size, or the base's size)",
                flavor.name, flavor.disk, need.disk
            ));
        }
        return Ok(flavor.clone());
    }
    flavors
        .iter()
        .filter(|f| f.vcpus >= need.cpus && f.ram >= need.ram && f.disk >= need.disk)
        .min_by_key(|f| (f.ram, f.vcpus, f.disk, f.name.clone()))
        .cloned()
        .ok_or_else(|| {
            format!(
                "no flavor has {} vCPU, {} MiB and a {} GiB disk (build.cpus, build.memory, disk_size or the base's size); set build.flavor or change them",
                need.cpus, need.ram, need.disk
            )
        })
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
        assert_eq!(
            choose_flavor(&flavors, Some("m1.tiny"), need).unwrap_err(),
            "flavor `m1.tiny` is too small: its disk is 1 GiB and the image needs 2 GiB (disk_size, or the base's size)"
        );
        assert!(
            choose_flavor(&flavors, Some("x1"), need)
                .unwrap_err()
                .starts_with("no flavor `x1`; the cloud has: m1.builder, m1.large, m1.tiny")
        );
        let huge = Need { cpus: 8, ..need };
        assert!(
            choose_flavor(&flavors, None, huge)
                .unwrap_err()
                .starts_with("no flavor has 8 vCPU")
        );
    }
}
