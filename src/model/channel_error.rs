/// Why a string is not a snap channel `<track>/<risk>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error(
        "`{channel}` is not a channel: expected `<track>/<risk>` (like `3.1/stable`) or \"\" for none"
    )]
    NotTrackAndRisk { channel: String },
    #[error(
        "`{channel}` is not a channel: the track `{track}` must be a name: letters and digits, with single `.`, `-` or `_` between them"
    )]
    Track { channel: String, track: String },
    #[error("`{channel}` is not a channel: the risk `{risk}` must be one of {}", .risks.join(", "))]
    Risk {
        channel: String,
        risk: String,
        risks: &'static [&'static str],
    },
}
