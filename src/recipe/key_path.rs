use toml::de::{DeTable, DeValue};

/// The dotted key path (e.g. `target[1].keep`) of the deepest key whose key or
/// value covers `offset`, so that any error with a span can name its key.
pub fn key_path_at(table: &DeTable<'_>, offset: usize) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    walk_table(table, offset, "", 0, &mut best);
    best.map(|(_, path)| path)
}

// A table written as `[header]` only spans its header, so every entry is
// visited, not just those whose parent span covers the offset; the deepest
// match wins.
fn walk_table(
    table: &DeTable<'_>,
    offset: usize,
    prefix: &str,
    depth: usize,
    best: &mut Option<(usize, String)>,
) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        let span = value.span();
        let covers = key.span().contains(&offset) || span.contains(&offset) || span.end == offset;
        if covers && best.as_ref().is_none_or(|(d, _)| *d <= depth) {
            *best = Some((depth, path.clone()));
        }
        walk_value(value.get_ref(), offset, &path, depth + 1, best);
    }
}

fn walk_value(
    value: &DeValue<'_>,
    offset: usize,
    path: &str,
    depth: usize,
    best: &mut Option<(usize, String)>,
) {
    match value {
        DeValue::Table(table) => walk_table(table, offset, path, depth, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                if item.span().contains(&offset) && best.as_ref().is_none_or(|(d, _)| *d <= depth) {
                    *best = Some((depth, item_path.clone()));
                }
                walk_value(item.get_ref(), offset, &item_path, depth + 1, best);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(text: &str, needle: &str) -> Option<String> {
        let (doc, errors) = DeTable::parse_recoverable(text);
        assert!(errors.is_empty());
        key_path_at(doc.get_ref(), text.find(needle).unwrap())
    }

    #[test]
    fn names_nested_keys_and_array_items() {
        let text = "[matrix]\njuju = [\"\", \"3.1\"]\n\n[[target]]\nname = \"a\"\n\n[[target]]\nname = \"b\"\nkeep = 1\n";
        assert_eq!(path_of(text, "\"3.1\"").as_deref(), Some("matrix.juju[1]"));
        assert_eq!(path_of(text, "keep").as_deref(), Some("target[1].keep"));
        assert_eq!(path_of(text, "juju").as_deref(), Some("matrix.juju"));
    }
}
