//! Number formatting for people: grouping, money, percentages, durations.
//! Rates are stored as fractions everywhere and turned into percentages only here.

/// `1234567.891` → `1,234,568` (counts) with `decimals` places.
///
/// Integer arithmetic for the values reports hold (below 9·10^15 once scaled), which is
/// several times faster than float formatting, with the same digits.
pub fn grouped(v: f64, decimals: usize) -> String {
    let scale = 10u64.pow(decimals.min(6) as u32);
    let x = v.abs() * scale as f64;
    let scaled = x.round();
    // Near a half, the product may have rounded the other way than the exact value:
    // those few go through exact formatting, so the digits match it everywhere.
    if decimals > 6 || !scaled.is_finite() || scaled >= 9.0e15 || ((x - x.floor()) - 0.5).abs() < 1e-6 {
        return grouped_slow(v, decimals);
    }
    let n = scaled as u64;
    let (int, frac) = (n / scale, n % scale);
    let digits = int.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + decimals + 2);
    if v < 0.0 && n != 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if decimals > 0 {
        out.push('.');
        let f = frac.to_string();
        for _ in f.len()..decimals {
            out.push('0');
        }
        out.push_str(&f);
    }
    out
}

fn grouped_slow(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v.abs());
    let (int, frac) = s.split_once('.').map_or((s.as_str(), None), |(a, b)| (a, Some(b)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    if v < 0.0 && out.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, '-');
    }
    out
}

/// 0.0834 → `8.34%`.
pub fn percent(v: f64) -> String {
    let p = v * 100.0;
    let decimals = if p.abs() >= 100.0 {
        0
    } else if p.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{}%", grouped(p, decimals))
}

/// A signed change: +12.5% / −3.0%.
pub fn change(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) => {
            let p = percent(v.abs());
            if v >= 0.0 {
                format!("+{p}")
            } else {
                format!("−{p}")
            }
        }
    }
}

/// Seconds → `1h 30m`, `2d 4h`, `45s`.
pub fn duration(secs: f64) -> String {
    let s = secs.round() as i64;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_fast_path_gives_the_digits_of_exact_formatting(v in -1.0e12f64..1.0e12, d in 0usize..4) {
            prop_assert_eq!(grouped(v, d), grouped_slow(v, d));
        }
    }

    #[test]
    fn numbers_group_by_thousands_and_rates_become_percent_once() {
        assert_eq!(grouped(1_234_567.891, 0), "1,234,568");
        assert_eq!(grouped(-1234.5, 2), "-1,234.50");
        assert_eq!(grouped(-0.004, 2), "0.00");
        assert_eq!(grouped(3.025, 2), format!("{:.2}", 3.025));
        assert_eq!(grouped(2.675, 2), "2.67");
        assert_eq!(grouped(1e20, 0), "100,000,000,000,000,000,000");
        assert_eq!(grouped(7.0, 3), "7.000");
        assert_eq!(percent(0.0834), "8.34%");
        assert_eq!(percent(1.5), "150%");
        assert_eq!(change(Some(-0.03)), "−3.00%");
        assert_eq!(duration(5400.0), "1h 30m");
    }
}
