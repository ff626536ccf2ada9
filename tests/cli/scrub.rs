//! Secrets never appear in what pipeline prints or logs: a secret placed
//! in each kind of message (a recipe error's snippet, a Keystone error
//! body, an `auth_url`'s userinfo, a failing step's error) comes out as
//! `********`, or not at all, on stdout, stderr and in the run's files.

use crate::support::{
    Loopback, Recipe, Reply, Sandbox, Target, loopback_clouds_yaml, redacted, stderr, stdout, tree,
    with_clouds,
};
use serde_json::{Value, json};
use std::process::Output;

const MASK: &str = "********";

/// Neither stream of `out` holds `secret`.
fn clean(out: &Output, secret: &str) {
    for (name, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
        assert!(!text.contains(secret), "{secret:?} on {name}:\n{text}");
    }
}

/// `cloudy.toml`: one cell on a base that is never fetched, one OpenStack
/// target on cloud `leaky` of `clouds_yaml`.
fn cloudy(sb: &Sandbox, clouds_yaml: &str) -> std::path::PathBuf {
    Recipe::new("cloudy", "cl", "#!/bin/sh\ntrue\n")
        .base("https://images.invalid/base.qcow2", &"0".repeat(64))
        .targets(vec![Target::openstack("cloud", "leaky", 2)])
        .write(sb);
    sb.write("clouds.yaml", clouds_yaml)
}

#[test]
fn a_secret_on_an_offending_recipe_line_is_masked_in_the_snippet() {
    let secret = "s3cr3t-in-the-recipe";
    let sb = Sandbox::new();
    Recipe::new("leaky", &format!("x {secret}"), "#!/bin/sh\ntrue\n")
        .base("https://images.invalid/base.qcow2", &"0".repeat(64))
        .write(&sb);
    for verb in ["validate", "plan", "run"] {
        let out = sb
            .command(&[verb, "leaky.toml"])
            .env("PIPELINE_SECRET_TOKEN", secret)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{verb}");
        clean(&out, secret);
        let err = stderr(&out);
        assert!(err.contains(MASK), "{verb}: {err}");
        if verb == "validate" {
            // The underline still sits under the value, now its mask.
            redacted().bind(|| insta::assert_snapshot!("recipe-snippet", err));
        }
    }
}

#[test]
fn a_keystone_error_that_echoes_the_password_is_masked() {
    let password = "hunter2-cloud-password";
    // The password as Keystone received it, in its message...
    let echo = Loopback::start(|request, _| {
        let body: Value = serde_json::from_str(&request.body).unwrap_or_default();
        let password = &body["auth"]["identity"]["password"]["user"]["password"];
        Reply::json(
            401,
            &json!({"error": {"code": 401, "title": "Unauthorized",
                "message": format!("invalid password {password} for user u")}}),
        )
    });
    // ...and the whole request echoed back as the error body.
    let mirror = Loopback::start(|request, _| Reply::Answer {
        status: 400,
        headers: vec![],
        body: request.body.clone(),
    });
    for (server, expected) in [
        (&echo, "authentication failed for cloud `leaky`"),
        (&mirror, "http 400"),
    ] {
        let sb = Sandbox::new();
        let clouds = cloudy(
            &sb,
            &loopback_clouds_yaml("leaky", &format!("{}/v3", server.url()), password, &[]),
        );
        for args in [
            &["latest", "cloudy.toml"][..],
            &["latest", "cloudy.toml", "--json"],
        ] {
            let mut cmd = sb.command(args);
            with_clouds(&mut cmd, &clouds);
            let out = cmd.output().unwrap();
            assert!(!out.status.success());
            clean(&out, password);
            let err = stderr(&out);
            assert!(err.contains(expected) && err.contains(MASK), "{err}");
        }
    }
}

#[test]
fn a_password_in_the_auth_url_is_never_printed() {
    // A port that nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "url-password-77";
    let sb = Sandbox::new();
    let clouds = cloudy(
        &sb,
        &loopback_clouds_yaml(
            "leaky",
            &format!("http://admin:{secret}@127.0.0.1:{port}/v3"),
            "the-real-password",
            &["api_timeout: 1"],
        ),
    );
    let mut cmd = sb.command(&["latest", "cloudy.toml"]);
    with_clouds(&mut cmd, &clouds);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    clean(&out, secret);
    clean(&out, "admin:");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}/v3/auth/tokens")),
        "{err}"
    );
}

#[test]
fn a_failing_steps_error_is_masked_on_every_stream_and_in_every_file() {
    let secret = "s3cr3t-in-a-step-error";
    let server = Loopback::start(|_, _| Reply::Answer {
        status: 404,
        headers: vec![],
        body: "not here".to_owned(),
    });
    let sb = Sandbox::new();
    // The base's URL holds the secret; its fetch fails with a 404 that
    // quotes the URL. No VM is started: the cell fails before.
    Recipe::new("leaky", "lk", "#!/bin/sh\ntrue\n")
        .base(
            format!("{}/{secret}/base.qcow2", server.url()),
            &"0".repeat(64),
        )
        .write(&sb);
    let out = sb
        .command(&["run", "leaky.toml", "--json"])
        .env("PIPELINE_SECRET_TOKEN", secret)
        .env("PIPELINE_ACCEL", "tcg")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", stderr(&out));
    clean(&out, secret);
    let err = stderr(&out);
    assert!(err.contains(&format!("/{MASK}/base.qcow2")), "{err}");
    let json = stdout(&out);
    assert!(json.contains(MASK), "{json}");
    assert!(sb.run_log().contains(MASK), "{}", sb.run_log());
    // Nothing pipeline wrote holds it: run log, step logs, cache, state.
    for dir in ["state", "cache"] {
        let root = sb.path().join(dir);
        for file in tree(&root) {
            let path = root.join(&file);
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(secret),
                    "{secret:?} in {dir}/{file}"
                );
            }
        }
    }
    assert!(server.lines().iter().any(|l| l.contains(secret)));
}

#[test]
fn a_secret_too_short_to_scrub_is_refused() {
    let sb = Sandbox::new();
    Recipe::new("short", "sh", "#!/bin/sh\ntrue\n")
        .base("https://images.invalid/base.qcow2", &"0".repeat(64))
        .write(&sb);
    let out = sb
        .command(&["run", "short.toml"])
        .env("PIPELINE_SECRET_PIN", "123")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(
            "invalid secret variable `PIPELINE_SECRET_PIN`: its value is shorter than 4 bytes"
        ),
        "{err}"
    );
}
