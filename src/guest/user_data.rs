//! The cell's provisioning script, wrapped in a user-data script that the
//! tool controls, so that the guest always reports the script's result and
//! powers off.

use super::RESULT_PORT;
use base64::Engine;

/// What the render step makes: the user-data of one build, and the nonce
/// its result lines carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    pub text: String,
    pub nonce: String,
}

impl UserData {
    /// `script` (the rendered template) in the wrapper, with a fresh nonce.
    pub fn wrap(script: &str) -> Self {
        let nonce = super::nonce();
        Self {
            text: user_data(script, &nonce),
            nonce,
        }
    }
}

/// Bumped whenever the wrapper changes what ends up in an image.
pub const WRAPPER_VERSION: &str = "1";

const WRAPPER: &str = include_str!("user-data.sh");

/// The `power_off` shell function that ends every guest script: the build
/// wrapper, its finish script and the verify script each define it (the
/// two latter run on their own, from files the wrappers write).
pub(super) const POWER_OFF: &str = include_str!("power-off.sh");

/// How long a guest without a result port stays up after its last line.
pub const LINGER: std::time::Duration = std::time::Duration::from_secs(120);

/// The user-data for one build: `script` (the rendered template) embedded
/// in the wrapper, with the build's nonce.
pub fn user_data(script: &str, nonce: &str) -> String {
    WRAPPER
        .replace("@POWER_OFF@\n", POWER_OFF)
        .replace("@WRAPPER_VERSION@", WRAPPER_VERSION)
        .replace("@RESULT_PORT@", RESULT_PORT)
        .replace("@NONCE@", nonce)
        .replace("@LINGER@", &LINGER.as_secs().to_string())
        .replace("@SCRIPT_BASE64@", &base64_lines(script.as_bytes()))
}

/// `bytes` in base64, in lines of 76 characters as base64(1) writes them.
pub(super) fn base64_lines(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_is_posix_sh_that_shellcheck_accepts() {
        let text = user_data("#!/bin/bash\necho hi\n", "abc123");
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(!text.contains('@'), "a placeholder was left: {text}");
        // The finish script is a quoted here-document: check it on its own too.
        let start = text.find("<<'PIPELINE_FINISH_EOF'\n").unwrap() + 24;
        let end = text.find("\nPIPELINE_FINISH_EOF").unwrap();
        for text in [&text[..], &text[start..end]] {
            crate::guest::assert_shellcheck_sh(text);
        }
    }

    #[test]
    fn the_embedded_script_decodes_back() {
        let script = "#!/bin/bash\nprintf '%s\\n' \"$HOME\" 'a'\"b\"\n".repeat(20);
        let text = user_data(&script, "n");
        let start = text.find("<<'PIPELINE_PROVISION_EOF'\n").unwrap() + 27;
        let end = text.find("\nPIPELINE_PROVISION_EOF").unwrap();
        let b64: String = text[start..end].lines().collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), script);
    }
}
