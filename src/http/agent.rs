//! The settings every HTTP agent in pipeline starts from: bounded connect
//! and stall timeouts, an explicit proxy (which also stops ureq from reading
//! the environment its own way), statuses as answers rather than errors.

use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
pub const USER_AGENT: &str = concat!("pipeline/", env!("CARGO_PKG_VERSION"));

/// A configuration to finish and build: `proxy` for every request, and a
/// transfer fails when no byte moves either way for `stall`.
pub fn config(
    proxy: Option<ureq::Proxy>,
    stall: Duration,
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .proxy(proxy)
        .timeout_resolve(Some(CONNECT_TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(stall))
        .timeout_per_write(Some(stall))
        .http_status_as_error(false)
        .user_agent(USER_AGENT)
}
