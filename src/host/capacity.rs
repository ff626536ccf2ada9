//! How much of this machine a run may use.

/// Bytes of memory available for new work (`MemAvailable`), if known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Bytes free for us on the file system that holds `path` (or would: the
/// nearest existing parent is asked).
pub fn free_disk(path: &camino::Utf8Path) -> Option<u64> {
    let mut dir = Some(path);
    while let Some(d) = dir {
        if d.exists() {
            let stat = rustix::fs::statvfs(d.as_std_path()).ok()?;
            return Some(stat.f_bavail.saturating_mul(stat.f_frsize));
        }
        dir = d.parent();
    }
    None
}

/// Bytes of memory one VM needs: its guest RAM and QEMU's own.
pub fn vm_memory(guest: u64) -> u64 {
    guest + VM_OVERHEAD
}

/// `12.3 GiB`.
/// Cache space for `at_once` builds from bases of at most `largest_base`
/// bytes: an overlay and a snapshot each, at most about the base's size each
/// (more if the script writes more), and a margin.
pub fn cache_need(at_once: usize, largest_base: u64) -> u64 {
    at_once as u64 * 2 * largest_base + (1 << 30)
}

pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Memory a VM costs beyond its guest RAM (QEMU itself, TCG's code cache).
const VM_OVERHEAD: u64 = 384 << 20;

/// Default VMs at once: one per core, never more than the available memory
/// holds. Measured with benches/build-vs-baselines.sh on 2 cores under TCG
/// (4 cells): 2 at a time was fastest; 1 at a time took 1.76× as long and 4
/// at a time 1.32× (more VMs than cores only add contention).
pub fn default_jobs(cores: usize, available: Option<u64>, memory_per_vm: u64) -> usize {
    let by_memory = available.map_or(usize::MAX, |a| (a / vm_memory(memory_per_vm)) as usize);
    cores.min(by_memory).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_cores_and_memory() {
        assert_eq!(default_jobs(2, Some(24 << 30), 2 << 30), 2);
        assert_eq!(default_jobs(16, Some(8 << 30), 2 << 30), 3);
        assert_eq!(default_jobs(4, Some(1 << 30), 2 << 30), 1);
        assert_eq!(default_jobs(4, None, 2 << 30), 4);
    }
}
