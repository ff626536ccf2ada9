/// Axes whose values are snap channels, checked as such.
pub use crate::recipe::rules::CHANNEL_AXES;

const RISKS: &[&str] = &["stable", "candidate", "beta", "edge"];

/// Check a snap channel `<track>/<risk>`; the empty string means "not installed".
pub fn check_channel(channel: &str) -> Result<(), String> {
    if channel.is_empty() {
        return Ok(());
    }
    let Some((track, risk)) = channel.split_once('/') else {
        return Err(format!(
            "`{channel}` is not a channel: expected `<track>/<risk>` (like `3.1/stable`) or \"\" for none"
        ));
    };
    let track_ok = !track.is_empty()
        && track
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !track_ok {
        return Err(format!(
            "`{channel}` is not a channel: the track `{track}` must be letters, digits, `.`, `-` or `_`"
        ));
    }
    if !RISKS.contains(&risk) {
        return Err(format!(
            "`{channel}` is not a channel: the risk `{risk}` must be one of {}",
            RISKS.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_track_risk_and_empty() {
        for ok in [
            "",
            "3.1/stable",
            "1.28-strict/stable",
            "1.29-strict/edge",
            "latest/beta",
        ] {
            assert!(check_channel(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "3.1",
            "3.1/",
            "/stable",
            "3.1/stabel",
            "3.1/stable/x",
            "a b/stable",
        ] {
            assert!(check_channel(bad).is_err(), "{bad}");
        }
    }
}
