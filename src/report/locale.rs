//! Report language: translated strings (`templates/i18n/LANG.yaml`), direction, and
//! numbers, money, percentages, durations and dates formatted the way a reader of
//! that language expects (Arabic-Indic digits when `digits: arab`, the currency's
//! symbol before or after the number).
//!
//! Data values that come from outside (campaign names, goal names, owners) are wrapped
//! in Unicode isolates (FSI…PDI) in right-to-left text so a Latin name inside Arabic
//! does not reorder its neighbours; HTML uses `<bdi>` for the same purpose.

use crate::kpi::Unit;
use crate::report::format;
use chrono::{Datelike, NaiveDate};
use saphyr::{LoadableYamlNode, Scalar, Yaml};
use std::collections::HashMap;
use std::path::Path;

const EN: &str = include_str!("../../templates/i18n/en.yaml");
const AR: &str = include_str!("../../templates/i18n/ar.yaml");

pub const LANGUAGES: &[&str] = &["en", "ar"];

#[derive(Debug, Clone)]
pub struct Locale {
    pub lang: String,
    pub rtl: bool,
    pub arabic_digits: bool,
    pub currency: String,
    strings: HashMap<String, String>,
    fallback: HashMap<String, String>,
    months: Vec<String>,
}

/// A strings file that cannot be used; names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocaleError(pub String);

impl std::fmt::Display for LocaleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LocaleError {}

fn parse_strings(name: &str, text: &str) -> Result<(HashMap<String, String>, Vec<String>), LocaleError> {
    let docs = Yaml::load_from_str(text).map_err(|e| {
        LocaleError(format!(
            "{name}:{}:{}: not valid YAML: {}",
            e.marker().line(),
            e.marker().col() + 1,
            e.info()
        ))
    })?;
    let Some(Yaml::Mapping(map)) = docs.into_iter().next() else {
        return Err(LocaleError(format!("{name}: expected a mapping of key: text")));
    };
    let mut strings = HashMap::new();
    let mut months = Vec::new();
    for (k, v) in map {
        let Some(key) = k.as_str().map(str::to_string) else {
            continue;
        };
        match v {
            Yaml::Value(Scalar::String(s)) => {
                strings.insert(key, s.to_string());
            }
            Yaml::Value(s) => {
                let text = match s {
                    Scalar::Integer(i) => i.to_string(),
                    Scalar::FloatingPoint(f) => f.to_string(),
                    Scalar::Boolean(b) => b.to_string(),
                    Scalar::Null => String::new(),
                    Scalar::String(t) => t.to_string(),
                };
                strings.insert(key, text);
            }
            Yaml::Sequence(items) if key == "months" => {
                months = items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect();
            }
            _ => return Err(LocaleError(format!("{name}: `{key}` must be text"))),
        }
    }
    if !months.is_empty() && months.len() != 12 {
        return Err(LocaleError(format!("{name}: `months` must list 12 names")));
    }
    Ok((strings, months))
}

impl Locale {
    /// Loads the built-in strings for `lang`, overlaid by `DIR/i18n/LANG.yaml` when a template folder is given.
    pub fn load(
        lang: &str,
        arabic_digits: bool,
        currency: &str,
        overrides: Option<&Path>,
    ) -> Result<Locale, LocaleError> {
        let (fallback, en_months) = parse_strings("templates/i18n/en.yaml", EN)?;
        let (mut strings, mut months) = match lang {
            "ar" => parse_strings("templates/i18n/ar.yaml", AR)?,
            _ => (fallback.clone(), en_months.clone()),
        };
        if let Some(dir) = overrides {
            let path = dir.join("i18n").join(format!("{lang}.yaml"));
            if path.exists() {
                let text =
                    std::fs::read_to_string(&path).map_err(|e| LocaleError(format!("{}: {e}", path.display())))?;
                let (more, more_months) = parse_strings(&path.display().to_string(), &text)?;
                strings.extend(more);
                if !more_months.is_empty() {
                    months = more_months;
                }
            }
        }
        if months.is_empty() {
            months = en_months;
        }
        Ok(Locale {
            lang: lang.to_string(),
            rtl: strings.get("dir").is_some_and(|d| d == "rtl"),
            arabic_digits,
            currency: currency.to_string(),
            strings,
            fallback,
            months,
        })
    }

    /// The string for `key`, falling back to English, then to the key itself.
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.strings
            .get(key)
            .or_else(|| self.fallback.get(key))
            .map_or(key, String::as_str)
    }

    /// The translation of `key` with `{name}` placeholders filled.
    pub fn fill(&self, key: &str, args: &[(&str, &str)]) -> String {
        let template = self.t(key);
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        // One pass: copy text, replace each `{name}` found in `args`, keep unknown ones as written.
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    let name = &after[..close];
                    match args.iter().find(|(n, _)| *n == name) {
                        Some((_, v)) => out.push_str(v),
                        None => out.push_str(&rest[open..open + close + 2]),
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// A reason in this language: `reason.CODE` with its arguments; metric names and
    /// baselines are translated, other values isolated.
    pub fn reason(&self, r: &crate::reason::Reason) -> String {
        let args: Vec<(&str, String)> =
            r.args
                .iter()
                .map(|(k, v)| {
                    let shown = match *k {
                        "metric" | "divisor" => self.kpi_name(v, v),
                        "baseline" => self.t(&format!("baseline.{v}")).to_string(),
                        "date" => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                            .map_or_else(|_| v.clone(), |d| self.date(d)),
                        "message" | "source" => self.isolate(v),
                        _ => self.digits(v),
                    };
                    (*k, shown)
                })
                .collect();
        let refs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.fill(&format!("reason.{}", r.code), &refs)
    }

    /// A translated KPI name when the language has one, else `default`.
    pub fn kpi_name(&self, id: &str, default: &str) -> String {
        self.strings
            .get(&format!("kpi.{id}"))
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    pub fn dimension_name(&self, dim: &str) -> String {
        self.strings
            .get(&format!("dim.{dim}"))
            .cloned()
            .unwrap_or_else(|| dim.to_string())
    }

    /// Wraps outside text in Unicode isolates in right-to-left reports.
    pub fn isolate(&self, s: &str) -> String {
        if self.rtl {
            format!("\u{2068}{s}\u{2069}")
        } else {
            s.to_string()
        }
    }

    /// Latin digits and separators → this locale's.
    pub fn digits(&self, s: &str) -> String {
        self.digits_owned(s.to_string())
    }

    /// As `digits`, without a copy when the locale keeps Latin digits.
    fn digits_owned(&self, s: String) -> String {
        if !self.arabic_digits {
            return s;
        }
        s.chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(0x0660 + (c as u32 - '0' as u32)).unwrap_or(c),
                ',' => '٬',
                '.' => '٫',
                '%' => '٪',
                _ => c,
            })
            .collect()
    }

    pub fn number(&self, v: f64, decimals: usize) -> String {
        self.digits_owned(format::grouped(v, decimals))
    }

    pub fn percent(&self, v: f64) -> String {
        self.digits_owned(format::percent(v))
    }

    pub fn change(&self, v: Option<f64>) -> String {
        self.digits_owned(format::change(v))
    }

    pub fn money(&self, v: f64) -> String {
        let n = self.number(v, 2);
        let (symbol, before) = currency_symbol(&self.currency, &self.lang);
        if before {
            format!("{symbol}{n}")
        } else {
            format!("{n} {symbol}")
        }
    }

    pub fn duration(&self, secs: f64) -> String {
        self.digits_owned(format::duration(secs))
    }

    /// A KPI value in its unit; `—` when there is none.
    pub fn value(&self, v: Option<f64>, unit: Unit) -> String {
        let Some(v) = v else { return "—".into() };
        match unit {
            Unit::Money => self.money(v),
            Unit::Fraction => self.percent(v),
            Unit::Duration => self.duration(v),
            Unit::Count => self.number(
                v,
                if v.fract().abs() < 1e-9 || v.abs() >= 100.0 {
                    0
                } else {
                    1
                },
            ),
            Unit::Ratio | Unit::Score => self.number(v, 2),
        }
    }

    pub fn month_name(&self, month: u32) -> &str {
        &self.months[(month as usize).clamp(1, 12) - 1]
    }

    /// `31 October 2026` / `٣١ أكتوبر ٢٠٢٦`.
    pub fn date(&self, d: NaiveDate) -> String {
        self.digits(&format!("{} {} {}", d.day(), self.month_name(d.month()), d.year()))
    }

    /// A period as people say it: `October 2026`, `Q4 2026`, `week 46, 9 November 2026 to …`.
    pub fn period(&self, grain: &str, start: NaiveDate, end: NaiveDate) -> String {
        match grain {
            "month" => self.digits(&format!("{} {}", self.month_name(start.month()), start.year())),
            "year" => self.digits(&start.year().to_string()),
            "day" => self.date(start),
            "quarter" => {
                let q = ((start.month() - 1) / 3 + 1).to_string();
                let y = start.year().to_string();
                self.digits(&self.fill("period.quarter", &[("quarter", &q), ("year", &y)]))
            }
            "week" => {
                let w = start.iso_week().week().to_string();
                let (s, e) = (self.date(start), self.date(end));
                self.fill("period.week", &[("week", &self.digits(&w)), ("start", &s), ("end", &e)])
            }
            _ => self.fill(
                "period.complete",
                &[("start", &self.date(start)), ("end", &self.date(end))],
            ),
        }
    }
}

/// The symbol for a currency in a language, and whether it goes before the number.
fn currency_symbol(code: &str, lang: &str) -> (String, bool) {
    if lang == "ar" {
        let s = match code {
            "SAR" => "ر.س.",
            "AED" => "د.إ.",
            "EGP" => "ج.م.",
            "KWD" => "د.ك.",
            "QAR" => "ر.ق.",
            "BHD" => "د.ب.",
            "OMR" => "ر.ع.",
            "JOD" => "د.أ.",
            "MAD" => "د.م.",
            "USD" => "US$",
            "EUR" => "€",
            "GBP" => "£",
            other => other,
        };
        return (s.to_string(), false);
    }
    match code {
        "USD" => ("$".into(), true),
        "EUR" => ("€".into(), true),
        "GBP" => ("£".into(), true),
        "JPY" => ("¥".into(), true),
        other => (format!("{other} "), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arabic_reports_use_arabic_indic_digits_and_the_riyal_after_the_number() {
        let ar = Locale::load("ar", true, "SAR", None).unwrap();
        assert!(ar.rtl);
        assert_eq!(ar.money(1234.5), "١٬٢٣٤٫٥٠ ر.س.");
        assert_eq!(ar.percent(0.0834), "٨٫٣٤٪");
        assert_eq!(
            ar.date(NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()),
            "٣١ أكتوبر ٢٠٢٦"
        );
        assert_eq!(ar.isolate("brand-search"), "\u{2068}brand-search\u{2069}");
        let latn = Locale::load("ar", false, "SAR", None).unwrap();
        assert_eq!(latn.money(1234.5), "1,234.50 ر.س.");
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_kept() {
        let en = Locale::load("en", false, "EUR", None).unwrap();
        assert_eq!(
            en.fill("headline", &[("good", "3"), ("total", "5"), ("period", "October")]),
            "3 of 5 goals on track for October"
        );
        assert_eq!(
            en.fill("headline", &[("good", "3")]),
            "3 of {total} goals on track for {period}"
        );
    }

    #[test]
    fn english_reports_put_the_symbol_first_and_leave_names_alone() {
        let en = Locale::load("en", false, "EUR", None).unwrap();
        assert!(!en.rtl);
        assert_eq!(en.money(1234.5), "€1,234.50");
        assert_eq!(Locale::load("en", false, "SAR", None).unwrap().money(3.0), "SAR 3.00");
        assert_eq!(en.isolate("x"), "x");
        let oct = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        assert_eq!(
            en.period("month", oct, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()),
            "October 2026"
        );
        assert_eq!(
            en.period("quarter", oct, NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()),
            "Q4 2026"
        );
    }

    #[test]
    fn every_english_string_has_an_arabic_translation() {
        let (en, _) = parse_strings("en", EN).unwrap();
        let (ar, months) = parse_strings("ar", AR).unwrap();
        for key in en.keys() {
            assert!(ar.contains_key(key), "ar.yaml lacks {key}");
        }
        assert_eq!(months.len(), 12);
        for b in crate::kpi::library::BUILT_INS {
            assert!(ar.contains_key(&format!("kpi.{}", b.id)), "ar.yaml lacks kpi.{}", b.id);
        }
    }
}
