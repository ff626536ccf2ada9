/// What the guest reported, from its result lines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GuestResult {
    /// Exit status of the provisioning script.
    pub script: Option<i32>,
    /// Status of the clean-up that makes the image boot fresh.
    pub clean: Option<i32>,
    /// A verify boot: how many of pipeline's own checks failed.
    pub checks: Option<i32>,
}

/// One of pipeline's own checks of a verify boot, as the guest reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub ok: bool,
    pub text: String,
}

/// The `PIPELINE_CHECK <nonce> ok|fail <text>` lines, in order.
pub fn parse_checks(text: &str, nonce: &str) -> Vec<CheckLine> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim_end().strip_prefix("PIPELINE_CHECK ")?;
            let rest = rest.strip_prefix(nonce)?.strip_prefix(' ')?;
            let (verdict, text) = rest.split_once(' ')?;
            let ok = match verdict {
                "ok" => true,
                "fail" => false,
                _ => return None,
            };
            Some(CheckLine {
                ok,
                text: text.to_owned(),
            })
        })
        .collect()
}

/// The result lines of `text` with `nonce`; the first of each kind wins.
pub fn parse_result(text: &str, nonce: &str) -> GuestResult {
    let mut result = GuestResult::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("PIPELINE_RESULT") || words.next() != Some(nonce) {
            continue;
        }
        let Some((key, value)) = words.next().and_then(|kv| kv.split_once('=')) else {
            continue;
        };
        let Ok(value) = value.parse() else {
            continue;
        };
        // The first of each kind counts: what follows the wrapper's own
        // line was written by something else.
        let slot = match key {
            "script" => &mut result.script,
            "clean" => &mut result.clean,
            "checks" => &mut result.checks,
            _ => continue,
        };
        slot.get_or_insert(value);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lines_with_the_nonce_count() {
        let text = "PIPELINE_RESULT old script=0\nnoise\nPIPELINE_RESULT n1 script=3\nPIPELINE_RESULT n1 clean=0\n";
        assert_eq!(
            parse_result(text, "n1"),
            GuestResult {
                script: Some(3),
                clean: Some(0),
                checks: None,
            }
        );
        assert_eq!(parse_result(text, "n2"), GuestResult::default());
    }

    #[test]
    fn check_lines_carry_the_nonce_and_a_verdict() {
        let text = "PIPELINE_CHECK n1 ok cloud-init reached done
PIPELINE_CHECK n0 fail old
PIPELINE_CHECK n1 fail disk is 1 MiB
PIPELINE_CHECK n1 maybe x
";
        assert_eq!(
            parse_checks(text, "n1"),
            [
                CheckLine {
                    ok: true,
                    text: "cloud-init reached done".into()
                },
                CheckLine {
                    ok: false,
                    text: "disk is 1 MiB".into()
                },
            ]
        );
    }
}
