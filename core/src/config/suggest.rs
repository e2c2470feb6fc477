//! "Did you mean …?": the nearest known word to a misspelt property, node or value.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The candidate nearest to `word`, if one is close enough to be a typo of it: at most
/// one edit for words of up to five letters, two up to eight, three beyond (an edit is
/// an insertion, a deletion, a substitution or a swap of two neighbours; case is
/// ignored). Ties go to the first candidate.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == word {
            continue;
        }
        let longer = word.chars().count().max(candidate.chars().count());
        let limit = match longer {
            0..=5 => 1,
            6..=8 => 2,
            _ => 3,
        };
        let distance = distance(word, candidate);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// `reason` with ` (did you mean "<nearest>"?)` appended when a candidate is near `word`.
pub fn with_hint<'a>(
    reason: &str,
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match nearest(word, candidates) {
        Some(hint) => format!("{reason} (did you mean \"{hint}\"?)"),
        None => reason.into(),
    }
}

/// Optimal-string-alignment distance between `a` and `b`, ignoring ASCII case.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Three rows of the edit-distance matrix: two back (for swaps), previous, current.
    let mut before: Vec<usize> = Vec::new();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = alloc::vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        before = core::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_edits_and_swaps() {
        assert_eq!(distance("cpu", "cpus"), 1);
        assert_eq!(distance("restrat", "restart"), 1);
        assert_eq!(distance("KERNEL", "kernel"), 0);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggests_only_near_words() {
        let props = [
            "cpus",
            "kernel",
            "initrd",
            "dtb",
            "bootargs",
            "load-address",
        ];
        assert_eq!(nearest("cpu", props), Some("cpus"));
        assert_eq!(nearest("kernal", props), Some("kernel"));
        assert_eq!(nearest("load-addr", props), Some("load-address"));
        assert_eq!(nearest("colour", props), None);
        assert_eq!(nearest("cpus", props), None, "a known word needs no hint");
        assert_eq!(nearest("x", ["dtb"]), None);
    }

    #[test]
    fn hints_read_as_a_question() {
        assert_eq!(
            with_hint("unknown property", "cpu", ["cpus"]),
            r#"unknown property (did you mean "cpus"?)"#
        );
        assert_eq!(
            with_hint("unknown property", "colour", ["cpus"]),
            "unknown property"
        );
    }
}
