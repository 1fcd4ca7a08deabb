//! Why a value is missing, or what a status rests on: a code with arguments, so that
//! every report language can say it (`reason.*` in `templates/i18n/`), and English
//! for the JSON contract's `note` and for error messages.

use serde::ser::{Serialize, SerializeMap, Serializer};
use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub code: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Reason {
    pub fn new(code: &'static str, args: &[(&'static str, &str)]) -> Reason {
        Reason {
            code,
            args: args.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }

    /// The English sentence.
    pub fn english(&self) -> String {
        static EN: OnceLock<crate::report::locale::Locale> = OnceLock::new();
        let en = EN.get_or_init(|| {
            crate::report::locale::Locale::load("en", false, "USD", None).expect("the built-in English strings parse")
        });
        en.reason(self)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.english())
    }
}

/// `{"code": "division_by_zero", "divisor": "leads"}`.
impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.args.len() + 1))?;
        m.serialize_entry("code", self.code)?;
        for (k, v) in &self.args {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Joins reasons in English, for the JSON `note`.
pub fn english_note(reasons: &[Reason]) -> Option<String> {
    if reasons.is_empty() {
        None
    } else {
        Some(reasons.iter().map(Reason::english).collect::<Vec<_>>().join("; "))
    }
}
