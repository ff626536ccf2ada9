//! "Did you mean …?" for a name that is close to one that exists.

/// The candidate nearest to `word`, if it is near enough to be the typo it
/// looks like: at most a third of its letters apart (Damerau-Levenshtein,
/// so a swapped pair counts once), and at least one.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "did you mean `x`?", for a help line.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_and_nothing_else() {
        assert_eq!(closest("flavour", ["flavor", "base"]), Some("flavor"));
        assert_eq!(closest("exlude", ["include", "exclude"]), Some("exclude"));
        assert_eq!(closest("cpu", ["cpus", "memory"]), Some("cpus"));
        assert_eq!(closest("imgae_name", ["image_name"]), Some("image_name"));
        assert_eq!(closest("x", ["image_name", "arch"]), None);
        assert_eq!(closest("colour", ["flavor"]), None);
    }
}
