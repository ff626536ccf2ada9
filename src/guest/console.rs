use crate::host::process;

/// Console lines quoted in an error.
const CONSOLE_TAIL: usize = 25;

/// The console lines that explain a failure: those before the guest's
/// result line when there is one (what follows is only the shutdown).
pub fn console_tail(console: &str, nonce: &str) -> String {
    let text = process::strip_controls(console);
    let marker = format!("PIPELINE_RESULT {nonce} script=");
    let upto = match text.find(&marker) {
        Some(at) => text[at..].find('\n').map_or(text.len(), |nl| at + nl),
        None => text.len(),
    };
    process::last_lines(&text[..upto], CONSOLE_TAIL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_stops_at_the_result_line() {
        let console = "boot\n\x1b[1mstarting\x1b[0m\nPIPELINE_RESULT n script=1\npower off\n";
        assert_eq!(
            console_tail(console, "n"),
            "boot\nstarting\nPIPELINE_RESULT n script=1"
        );
        assert_eq!(
            console_tail(console, "other"),
            "boot\nstarting\nPIPELINE_RESULT n script=1\npower off"
        );
    }
}
