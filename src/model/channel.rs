/// Axes whose values are snap channels, checked as such.
pub use crate::recipe::rules::CHANNEL_AXES;

use super::ChannelError;

const RISKS: &[&str] = &["stable", "candidate", "beta", "edge"];

/// Check a snap channel `<track>/<risk>`; the empty string means "not installed".
pub fn check_channel(channel: &str) -> Result<(), ChannelError> {
    if channel.is_empty() {
        return Ok(());
    }
    let Some((track, risk)) = channel.split_once('/') else {
        return Err(ChannelError::NotTrackAndRisk {
            channel: channel.to_owned(),
        });
    };
    if !is_track(track) {
        return Err(ChannelError::Track {
            channel: channel.to_owned(),
            track: track.to_owned(),
        });
    }
    if !RISKS.contains(&risk) {
        return Err(ChannelError::Risk {
            channel: channel.to_owned(),
            risk: risk.to_owned(),
            risks: RISKS,
        });
    }
    Ok(())
}

/// A track is a name, never a path: `3.1`, `1.28-strict`, `latest`; not
/// `..`, `-x` or `a..b`.
fn is_track(track: &str) -> bool {
    let bytes = track.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes
            .iter()
            .all(|b| alnum(b) || matches!(b, b'.' | b'-' | b'_'))
        && bytes.windows(2).all(|w| alnum(&w[0]) || alnum(&w[1]))
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
            "../stable",
            "./stable",
            "-3.1/stable",
            "3.1./stable",
            "3..1/stable",
            "3.-1/stable",
        ] {
            assert!(check_channel(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            check_channel("3.1"),
            Err(ChannelError::NotTrackAndRisk { .. })
        ));
        assert!(matches!(
            check_channel("../stable"),
            Err(ChannelError::Track { track, .. }) if track == ".."
        ));
        let stabel = check_channel("3.1/stabel").unwrap_err();
        assert!(matches!(&stabel, ChannelError::Risk { risk, .. } if risk == "stabel"));
        assert_eq!(
            stabel.to_string(),
            "`3.1/stabel` is not a channel: the risk `stabel` must be one of stable, candidate, beta, edge"
        );
    }
}
