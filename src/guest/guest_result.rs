/// What the guest reported, from its result lines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GuestResult {
    /// Exit status of the provisioning script.
    pub script: Option<i32>,
    /// Status of the clean-up that makes the image boot fresh.
    pub clean: Option<i32>,
}

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
        match key {
            "script" => result.script = Some(value),
            "clean" => result.clean = Some(value),
            _ => {}
        }
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
                clean: Some(0)
            }
        );
        assert_eq!(parse_result(text, "n2"), GuestResult::default());
    }
}
