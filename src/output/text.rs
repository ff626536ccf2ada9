//! Small text helpers for messages.

/// Messages fit after "failed to …": lowercase their first letter, but keep
/// acronyms and names that start with two capitals (`HTTP`, `URL`).
pub fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(_) if chars.clone().next().is_some_and(char::is_uppercase) => text.to_owned(),
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_words_not_acronyms() {
        assert_eq!(lowercase_first("Connection refused"), "connection refused");
        assert_eq!(lowercase_first("HTTP 500"), "HTTP 500");
        assert_eq!(lowercase_first(""), "");
    }
}
