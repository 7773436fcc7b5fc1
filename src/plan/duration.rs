//! Go-style durations (`5s`, `1m30s`, `500ms`, `1.5h`), the form `kubectl` users know.

use std::time::Duration;

/// Parses a Go-style duration: one or more `<number><unit>` with units `ms`, `s`, `m` and `h`.
/// Returns `None` for anything else, including an empty string and a bare number.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_len);
        // Only plain decimals: f64's parser also takes "inf" and "1e3", which never reach here
        // because the number ends at the first non-digit.
        if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let (unit_secs, unit_len) = if tail.starts_with("ms") {
            (0.001, 2)
        } else if tail.starts_with('s') {
            (1.0, 1)
        } else if tail.starts_with('m') {
            (60.0, 1)
        } else if tail.starts_with('h') {
            (3600.0, 1)
        } else {
            return None;
        };
        total = total.checked_add(Duration::try_from_secs_f64(value * unit_secs).ok()?)?;
        rest = &tail[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let ok: &[(&str, u64)] = &[
            ("5s", 5000),
            ("1s", 1000),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("1.5h", 5_400_000),
            ("0s", 0),
            ("2m", 120_000),
        ];
        for (text, ms) in ok {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_millis(*ms)),
                "{text}"
            );
        }
        for bad in [
            "", "5", "s", "5x", "-5s", "1.s", ".5s", "5 s", "5s\n", "infs", "1e3s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
