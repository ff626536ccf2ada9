//! A cloud that answers slowly, or not at all, or with a 503 first: `latest`
//! against a loopback Keystone and Glance ([`Loopback`]) ends within the
//! cloud's `api_timeout` with an error that says so, and gets through a
//! Keystone that is briefly unavailable.

use crate::support::{
    Loopback, Recipe, Reply, Sandbox, Target, keystone_token, loopback_clouds_yaml, output_within,
    redacted, stderr, stdout, with_clouds,
};
use serde_json::json;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Far more than any of these runs needs (2 s deadlines), far less than
/// the 300 s a silent cloud cost before.
const GENEROUS: Duration = Duration::from_secs(40);

/// `latest cloudy.toml` (one cell, one OpenStack target on cloud `slow`)
/// with a clouds.yaml for `server`'s Keystone and `extra` settings; the
/// output and how long it took.
fn latest(server: &Loopback, extra: &[&str], json: bool) -> (Output, Duration) {
    let sb = Sandbox::new();
    Recipe::new("cloudy", "cl", "#!/bin/sh\ntrue\n")
        .base("https://images.invalid/base.qcow2", &"0".repeat(64))
        .targets(vec![Target::openstack("cloud", "slow", 2)])
        .write(&sb);
    let clouds = sb.write(
        "clouds.yaml",
        &loopback_clouds_yaml(
            "slow",
            &format!("{}/v3", server.url()),
            "pw-of-the-slow-cloud",
            extra,
        ),
    );
    let mut cmd = sb.command(&["latest", "cloudy.toml"]);
    if json {
        cmd.arg("--json");
    }
    with_clouds(&mut cmd, &clouds);
    let start = Instant::now();
    // Killed, and the test failed, should it hang as it did.
    let out = output_within(&mut cmd, GENEROUS);
    (out, start.elapsed())
}

/// A failure, in time, that names the deadline; its stderr.
fn gave_up(out: &Output, took: Duration) -> String {
    assert!(!out.status.success(), "{}", stdout(out));
    assert!(took < GENEROUS, "took {took:?}");
    let err = stderr(out);
    assert!(
        err.contains("no complete answer within 2 s (the api_timeout of cloud `slow`)"),
        "{err}"
    );
    err
}

#[test]
fn a_keystone_that_trickles_costs_the_deadline_not_for_ever() {
    let server = Loopback::start(|_, _| Reply::Trickle {
        every: Duration::from_millis(300),
    });
    let (out, took) = latest(&server, &["api_timeout: 2"], false);
    let err = gave_up(&out, took);
    redacted().bind(|| insta::assert_snapshot!("keystone-trickles", err));
    // Not tried again: the deadline is spent.
    assert_eq!(server.lines(), ["POST /v3/auth/tokens"]);
}

#[test]
fn a_silent_keystone_costs_the_deadline() {
    let server = Loopback::start(|_, _| Reply::Silent);
    let (out, took) = latest(&server, &["api_timeout: 2"], false);
    gave_up(&out, took);
}

#[test]
fn a_glance_that_trickles_costs_the_deadline() {
    let server = Loopback::start(|request, url| match request.line().as_str() {
        "POST /v3/auth/tokens" => keystone_token(url),
        _ => Reply::Trickle {
            every: Duration::from_millis(300),
        },
    });
    let (out, took) = latest(&server, &["api_timeout: 2"], false);
    let err = gave_up(&out, took);
    redacted().bind(|| insta::assert_snapshot!("glance-trickles", err));
}

#[test]
fn a_503_from_keystone_is_tried_again() {
    let logins = AtomicUsize::new(0);
    let server = Loopback::start(move |request, url| match request.line().as_str() {
        "POST /v3/auth/tokens" if logins.fetch_add(1, Ordering::SeqCst) == 0 => Reply::json(
            503,
            &json!({"error": {"message": "keystone is restarting"}}),
        ),
        "POST /v3/auth/tokens" => keystone_token(url),
        line if line.starts_with("GET /v2/images?") => Reply::json(
            200,
            &json!({"images": [{
                "id": "6c1f8a0e-1d5b-4c8e-9a53-2b7f0e4d9c11",
                "name": "cl-tiny-x64",
                "status": "active",
                "created_at": "2026-01-02T03:04:05Z",
                "updated_at": "2026-01-02T03:04:05Z",
                "size": 1,
                "pipeline_owner": "pipeline:cloudy",
            }]}),
        ),
        _ => Reply::json(404, &json!({})),
    });
    // The default api_timeout (60 s) leaves room for the pause.
    let (out, took) = latest(&server, &[], true);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took < GENEROUS, "took {took:?}");
    let latest: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        latest[0]["images"]["cloud"],
        "6c1f8a0e-1d5b-4c8e-9a53-2b7f0e4d9c11"
    );
    let lines = server.lines();
    assert_eq!(lines[..2], ["POST /v3/auth/tokens", "POST /v3/auth/tokens"]);
}

#[test]
fn an_api_timeout_that_is_not_seconds_is_refused() {
    let server = Loopback::start(|_, _| Reply::Silent);
    let (out, _) = latest(&server, &["api_timeout: soon"], false);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("invalid api_timeout `soon`: expected a number of seconds"),
        "{err}"
    );
    assert!(server.lines().is_empty(), "{:?}", server.lines());
}
