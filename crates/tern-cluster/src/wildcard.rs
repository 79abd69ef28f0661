//! ES's simple wildcard patterns: `*` matches any run of characters, `?` one character.
//!
//! ES itself only treats `*` as a wildcard in index expressions (`Regex.simpleMatch`); `?` can never
//! occur in an index or alias name (it is an invalid file-name character), so also accepting it as a
//! one-character wildcard cannot change which names match a legal expression.

/// Whether the expression contains a wildcard character.
pub fn is_wildcard(pattern: &str) -> bool {
    pattern.contains('*') || pattern.contains('?')
}

/// Whether `pattern` is ES's match-all pattern (only stars).
pub fn is_match_all(pattern: &str) -> bool {
    !pattern.is_empty() && pattern.chars().all(|c| c == '*')
}

/// Matches `text` against `pattern` in linear-ish time (greedy star with backtracking to the last star).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<usize> = None;
    let mut star_ti = 0usize;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            star_ti = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            star_ti += 1;
            ti = star_ti;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Whether some string matches both patterns (used to detect overlapping index templates).
pub fn patterns_intersect(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // memo[i][j]: Some(result) for suffixes a[i..], b[j..]
    let mut memo = vec![vec![None; b.len() + 1]; a.len() + 1];
    intersect_from(&a, &b, 0, 0, &mut memo)
}

fn intersect_from(a: &[char], b: &[char], i: usize, j: usize, memo: &mut Vec<Vec<Option<bool>>>) -> bool {
    if let Some(r) = memo[i][j] {
        return r;
    }
    let result = if i == a.len() && j == b.len() {
        true
    } else if i < a.len() && a[i] == '*' {
        intersect_from(a, b, i + 1, j, memo) || (j < b.len() && intersect_from(a, b, i, j + 1, memo))
    } else if j < b.len() && b[j] == '*' {
        intersect_from(a, b, i, j + 1, memo) || (i < a.len() && intersect_from(a, b, i + 1, j, memo))
    } else if i < a.len() && j < b.len() {
        (a[i] == b[j] || a[i] == '?' || b[j] == '?') && intersect_from(a, b, i + 1, j + 1, memo)
    } else {
        false
    };
    memo[i][j] = Some(result);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_stars_and_questions() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("log-*", "log-2024"));
        assert!(!wildcard_match("log-*", "logs-2024"));
        assert!(wildcard_match("*-2024", "log-2024"));
        assert!(wildcard_match("l*g*4", "log-2024"));
        assert!(!wildcard_match("l*g*5", "log-2024"));
        assert!(wildcard_match("te?t", "test"));
        assert!(!wildcard_match("te?t", "tet"));
        assert!(wildcard_match("a**b", "ab"));
        assert!(wildcard_match("exact", "exact"));
        assert!(!wildcard_match("exact", "exactly"));
    }

    #[test]
    fn match_all_detection() {
        assert!(is_match_all("*"));
        assert!(is_match_all("**"));
        assert!(!is_match_all("a*"));
        assert!(!is_match_all(""));
        assert!(is_wildcard("a*"));
        assert!(!is_wildcard("abc"));
    }

    #[test]
    fn intersections() {
        assert!(patterns_intersect("a*", "*b"));
        assert!(patterns_intersect("log-*", "log-2*"));
        assert!(patterns_intersect("*", "x"));
        assert!(!patterns_intersect("a*", "b*"));
        assert!(!patterns_intersect("abc", "abd"));
        assert!(patterns_intersect("abc", "abc"));
        assert!(!patterns_intersect("a*c", "a*d"));
        assert!(patterns_intersect("a*c", "ab*"));
    }
}
