//! Number formatting for people: grouping, money, percentages, durations.
//! Rates are stored as fractions everywhere and turned into percentages only here.

/// `1234567.891` → `1,234,568` (counts) with `decimals` places.
pub fn grouped(v: f64, decimals: usize) -> String {
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

    #[test]
    fn numbers_group_by_thousands_and_rates_become_percent_once() {
        assert_eq!(grouped(1_234_567.891, 0), "1,234,568");
        assert_eq!(grouped(-1234.5, 2), "-1,234.50");
        assert_eq!(percent(0.0834), "8.34%");
        assert_eq!(percent(1.5), "150%");
        assert_eq!(change(Some(-0.03)), "−3.00%");
        assert_eq!(duration(5400.0), "1h 30m");
    }
}
