//! Index and alias name validation (ES's `MetadataCreateIndexService.validateIndexOrAliasName`).

use crate::error::ClusterError;

/// ES caps index names at 255 bytes of UTF-8.
pub const MAX_INDEX_NAME_BYTES: usize = 255;

/// The characters ES forbids in index and alias names (`Strings.INVALID_FILENAME_CHARS`).
pub const INVALID_FILENAME_CHARS: [char; 10] = ['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ','];

/// How ES prints that set (the iteration order of Java's `HashSet` of those characters).
const INVALID_FILENAME_CHARS_TEXT: &str = "[ , \", *, \\, <, |, ,, >, /, ?]";

/// The checks shared by index and alias names; returns the reason text of the first violation.
fn index_or_alias_name_problem(name: &str) -> Option<String> {
    if name.chars().any(|c| INVALID_FILENAME_CHARS.contains(&c)) {
        return Some(format!("must not contain the following characters {INVALID_FILENAME_CHARS_TEXT}"));
    }
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.contains('#') {
        return Some("must not contain '#'".into());
    }
    if name.contains(':') {
        return Some("must not contain ':'".into());
    }
    if name.starts_with(['_', '-', '+']) {
        return Some("must not start with '_', '-', or '+'".into());
    }
    let bytes = name.len();
    if bytes > MAX_INDEX_NAME_BYTES {
        return Some(format!("index name is too long, ({bytes} > {MAX_INDEX_NAME_BYTES})"));
    }
    if name == "." || name == ".." {
        return Some("must not be '.' or '..'".into());
    }
    None
}

/// Validates the syntax of an index name (not whether it already exists).
pub fn validate_index_name(name: &str) -> Result<(), ClusterError> {
    let invalid = |reason: String| ClusterError::InvalidIndexName { index: name.to_string(), reason };
    if let Some(reason) = index_or_alias_name_problem(name) {
        return Err(invalid(reason));
    }
    if name.to_lowercase() != name {
        return Err(invalid("must be lowercase".into()));
    }
    Ok(())
}

/// Validates the syntax of an alias name (ES's `AliasValidator.validateAliasStandalone`).
pub fn validate_alias_name(name: &str) -> Result<(), ClusterError> {
    if name.trim().is_empty() {
        return Err(ClusterError::illegal_argument("alias name is required"));
    }
    if let Some(reason) = index_or_alias_name_problem(name) {
        return Err(ClusterError::InvalidAliasName { alias: name.to_string(), reason, index: None });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(name: &str) -> String {
        validate_index_name(name).unwrap_err().to_string()
    }

    #[test]
    fn index_names_like_es() {
        assert!(validate_index_name("foo").is_ok());
        assert!(validate_index_name("foo-bar_1.2").is_ok());
        assert!(validate_index_name(".hidden").is_ok());
        assert_eq!(reason("FOO"), "Invalid index name [FOO], must be lowercase");
        assert_eq!(
            reason("foo bar"),
            "Invalid index name [foo bar], must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]"
        );
        assert_eq!(reason("_foo"), "Invalid index name [_foo], must not start with '_', '-', or '+'");
        assert_eq!(reason("-foo"), "Invalid index name [-foo], must not start with '_', '-', or '+'");
        assert_eq!(reason("."), "Invalid index name [.], must not be '.' or '..'");
        assert_eq!(reason(".."), "Invalid index name [..], must not be '.' or '..'");
        assert_eq!(reason("a#b"), "Invalid index name [a#b], must not contain '#'");
        assert_eq!(reason("a:b"), "Invalid index name [a:b], must not contain ':'");
        assert_eq!(reason(""), "Invalid index name [], must not be empty");
        let long = "a".repeat(256);
        assert_eq!(reason(&long), format!("Invalid index name [{long}], index name is too long, (256 > 255)"));
        assert!(validate_index_name(&"a".repeat(255)).is_ok());
        for c in INVALID_FILENAME_CHARS {
            assert!(validate_index_name(&format!("a{c}b")).is_err(), "{c}");
        }
    }

    #[test]
    fn invalid_chars_are_checked_before_case() {
        assert!(reason("FOO*").contains("must not contain the following characters"));
    }

    #[test]
    fn alias_names_like_es() {
        assert!(validate_alias_name("MyAlias").is_ok());
        assert_eq!(
            validate_alias_name("_a").unwrap_err().to_string(),
            "Invalid alias name [_a]: must not start with '_', '-', or '+'"
        );
        assert_eq!(validate_alias_name("a*").unwrap_err().es_type(), "invalid_alias_name_exception");
        assert_eq!(validate_alias_name("").unwrap_err().to_string(), "alias name is required");
    }
}
