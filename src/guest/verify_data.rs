//! The verify script, wrapped in a user-data script that the tool controls:
//! the guest runs pipeline's own checks of a fresh instance, then the
//! recipe's verify script, reports each on the nonce protocol and powers
//! off.

use super::user_data::{LINGER, POWER_OFF, WRAPPER_VERSION, base64_lines};
use super::{RESULT_PORT, UserData};

const WRAPPER: &str = include_str!("verify-data.sh");

/// What the verify boot knows about the build it checks.
pub struct VerifyFacts<'a> {
    /// The instance-id the verify boot gives the guest, when known before
    /// it starts (a NoCloud seed's; a cloud names its server later):
    /// cloud-init must run as it.
    pub instance_id: Option<&'a str>,
    /// The build's instance-id: cloud-init must not run as it.
    pub build_instance_id: &'a str,
    /// The build's nonce: in every copy of the build's user-data and logs,
    /// so no file of the image may hold it.
    pub build_nonce: &'a str,
    /// `image.disk_size` in bytes; 0 when the image keeps its base's size.
    pub disk_size: u64,
}

impl UserData {
    /// `script` (the rendered verify template) in the verify wrapper, with
    /// a fresh nonce.
    pub fn wrap_verify(script: &str, facts: &VerifyFacts) -> Self {
        let nonce = super::nonce();
        let text = WRAPPER
            .replace("@POWER_OFF@\n", POWER_OFF)
            .replace("@WRAPPER_VERSION@", WRAPPER_VERSION)
            .replace("@RESULT_PORT@", RESULT_PORT)
            .replace("@NONCE@", &nonce)
            .replace("@INSTANCE_ID@", facts.instance_id.unwrap_or(""))
            .replace(
                "@BUILD_INSTANCE_ID_BASE64@",
                &base64_lines(facts.build_instance_id.as_bytes()).replace('\n', ""),
            )
            .replace("@DISK_SIZE@", &facts.disk_size.to_string())
            .replace("@LINGER@", &LINGER.as_secs().to_string())
            .replace(
                "@FORBIDDEN_BASE64@",
                &base64_lines(format!("{}\n", facts.build_nonce).as_bytes()),
            )
            .replace("@SCRIPT_BASE64@", &base64_lines(script.as_bytes()));
        Self { text, nonce }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> VerifyFacts<'static> {
        VerifyFacts {
            instance_id: Some("pipeline-verify-1"),
            build_instance_id: "pipeline-0123456789abcdef",
            build_nonce: "0123456789abcdef",
            disk_size: 3 << 30,
        }
    }

    #[test]
    fn the_wrapper_is_posix_sh_that_shellcheck_accepts() {
        let data = UserData::wrap_verify("#!/bin/bash\ntrue\n", &facts());
        assert!(data.text.starts_with("#!/bin/sh\n"));
        assert!(!data.text.contains('@'), "a placeholder was left");
        // The run script is a quoted here-document: check it on its own too.
        let start = data.text.find("<<'PIPELINE_RUN_EOF'\n").unwrap() + 21;
        let end = data.text.find("\nPIPELINE_RUN_EOF").unwrap();
        for text in [&data.text[..], &data.text[start..end]] {
            crate::guest::assert_shellcheck_sh(text);
        }
    }

    #[test]
    fn the_build_nonce_is_never_in_the_user_data_as_is() {
        // cloud-init keeps this user-data on the disk under test: holding
        // the nonce itself, it would find itself.
        let data = UserData::wrap_verify("#!/bin/sh\n", &facts());
        assert!(!data.text.contains("0123456789abcdef"));
        assert!(data.text.contains("INSTANCE_ID='pipeline-verify-1'"));
        assert!(data.text.contains(&format!("NONCE='{}'", data.nonce)));
        assert!(data.text.contains("DISK_SIZE=3221225472"));
    }
}
