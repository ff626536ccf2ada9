//! What a store holds of one image name, as [`Store::list`] finds it:
//! the revisions that count, the ones of ours that are damaged, and what
//! the user should hear about.
//!
//! [`Store::list`]: super::Store::list

use super::Revision;

/// One image name on one target, for one owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Complete revisions, newest first: what the target holds.
    pub revisions: Vec<Revision>,
    /// Revisions of this owner that do not count (an image shorter than its
    /// metadata says, or missing: a failed disk, a delete cut short),
    /// newest first. Prune removes them.
    pub damaged: Vec<Damaged>,
    /// What the user should know, one sentence each, naming the file or
    /// image (without `warning: `): metadata that could not be read, the
    /// damaged revisions.
    pub warnings: Vec<String>,
}

/// A revision of ours whose image does not match its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// As its metadata describes it.
    pub revision: Revision,
    /// What is wrong, for "… is damaged ({problem})": `3.qcow2 has 0 bytes
    /// of 17.3 MiB`.
    pub problem: String,
}

impl Listing {
    /// The newest complete revision.
    pub fn newest(&self) -> Option<&Revision> {
        self.revisions.first()
    }

    /// The newest revision of all when it is a damaged one: the target
    /// lacks what it last received.
    pub fn damaged_newest(&self) -> Option<&Damaged> {
        let damaged = self.damaged.first()?;
        match self.newest() {
            Some(complete) if !newer(&damaged.revision, complete) => None,
            _ => Some(damaged),
        }
    }
}

/// Whether `a` was made after `b`: by number where both have one (a
/// directory store), else by creation time.
pub fn newer(a: &Revision, b: &Revision) -> bool {
    if let (Some(x), Some(y)) = (a.number, b.number) {
        return x > y;
    }
    let t = |r: &Revision| r.created_at.parse::<jiff::Timestamp>().ok();
    match (t(a), t(b)) {
        (Some(x), Some(y)) => x > y,
        _ => a.created_at > b.created_at,
    }
}

/// `0 bytes`, `812 bytes`, `3.5 KiB`, `17.3 MiB`, `1.2 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} byte{}", if bytes == 1 { "" } else { "s" });
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `have` against `want`, in sizes that show the difference: `0 bytes of
/// 17.3 MiB`, `17.3 MiB (18140159 bytes) of 17.3 MiB (18140160 bytes)`.
pub fn size_against(have: u64, want: u64) -> String {
    let (h, w) = (human_size(have), human_size(want));
    let (h, w) = if h == w && have != want {
        (format!("{h} ({have} bytes)"), format!("{w} ({want} bytes)"))
    } else {
        (h, w)
    };
    if have < want {
        format!("{h} of {w}")
    } else {
        format!("{h}, more than {w}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(number: Option<u64>, created_at: &str) -> Revision {
        Revision::for_test(&format!("n/{}", number.unwrap_or(0)), number, created_at)
    }

    fn damaged(r: Revision) -> Damaged {
        Damaged {
            revision: r,
            problem: "x".into(),
        }
    }

    #[test]
    fn a_damaged_revision_is_the_newest_only_when_it_is_newer() {
        let mut l = Listing {
            revisions: vec![rev(Some(2), "")],
            damaged: vec![damaged(rev(Some(3), ""))],
            warnings: Vec::new(),
        };
        assert_eq!(l.damaged_newest().unwrap().revision.number, Some(3));
        l.damaged = vec![damaged(rev(Some(1), ""))];
        assert!(l.damaged_newest().is_none());
        l.revisions.clear();
        assert_eq!(l.damaged_newest().unwrap().revision.number, Some(1));
        // Glance: by creation time.
        let l = Listing {
            revisions: vec![rev(None, "2026-01-02T00:00:00Z")],
            damaged: vec![damaged(rev(None, "2026-01-01T23:00:00+02:00"))],
            warnings: Vec::new(),
        };
        assert!(l.damaged_newest().is_none());
        assert!(Listing::default().damaged_newest().is_none());
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(3584), "3.5 KiB");
        assert_eq!(human_size(18_140_160), "17.3 MiB");
        assert_eq!(size_against(0, 18_140_160), "0 bytes of 17.3 MiB");
        assert_eq!(
            size_against(18_140_159, 18_140_160),
            "17.3 MiB (18140159 bytes) of 17.3 MiB (18140160 bytes)"
        );
        assert_eq!(size_against(2048, 1024), "2.0 KiB, more than 1.0 KiB");
        assert_eq!(human_size(u64::MAX), "16777216.0 TiB");
    }
}
