//! The config file as a tree of located nodes, with `${VAR}` filled in from the environment.
//!
//! `saphyr` parses YAML 1.2 and keeps each node's position; this module turns that
//! into a small owned tree ([`Node`]) that the config reader walks while collecting
//! every problem (see `reader.rs`). Environment interpolation happens here so that a
//! missing variable is reported at the key that uses it.

use super::diagnostic::{Diagnostics, Location};
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in file order, with the key's own location.
    Map(Vec<(String, Location, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub loc: Location,
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as text (numbers and booleans too), for fields that accept both `10` and `"10%"`.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match &self.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

/// Parses `text` (the contents of `file`) into a node tree, interpolating `${VAR}`
/// from `env`. Returns `None` when the YAML itself cannot be read; the reason is in `diags`.
pub fn parse(file: &str, text: &str, env: &dyn Fn(&str) -> Option<String>, diags: &mut Diagnostics) -> Option<Node> {
    let docs = match MarkedYaml::load_from_str(text) {
        Ok(docs) => docs,
        Err(e) => {
            let m = e.marker();
            diags.error(
                &Location {
                    file: file.to_string(),
                    line: m.line(),
                    column: m.col() + 1,
                },
                format!("this is not valid YAML: {}", e.info()),
            );
            return None;
        }
    };
    let Some(doc) = docs.into_iter().next() else {
        diags.error(
            &Location {
                file: file.to_string(),
                line: 1,
                column: 1,
            },
            "the file is empty",
        );
        return None;
    };
    Some(convert(file, &doc, "", env, diags))
}

fn convert(
    file: &str,
    n: &MarkedYaml<'_>,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> Node {
    let loc = Location {
        file: file.to_string(),
        line: n.span.start.line().max(1),
        column: n.span.start.col() + 1,
    };
    let value = match &n.data {
        YamlData::Value(s) => match s {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::Int(*i),
            Scalar::FloatingPoint(f) => Value::Float(f.into_inner()),
            Scalar::String(s) => Value::Str(interpolate(s, path, &loc, env, diags)),
        },
        YamlData::Representation(s, _, _) => Value::Str(interpolate(s, path, &loc, env, diags)),
        YamlData::Sequence(items) => Value::Seq(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| convert(file, item, &format!("{path}[{i}]"), env, diags))
                .collect(),
        ),
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key_loc = Location {
                    file: file.to_string(),
                    line: k.span.start.line().max(1),
                    column: k.span.start.col() + 1,
                };
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                    YamlData::Value(Scalar::FloatingPoint(f)) => f.to_string(),
                    _ => {
                        diags.error(&key_loc, "a key must be plain text");
                        continue;
                    }
                };
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let value = convert(file, v, &child_path, env, diags);
                entries.push((key, key_loc, value));
            }
            Value::Map(entries)
        }
        YamlData::Tagged(_, inner) => return convert(file, inner, path, env, diags),
        YamlData::Alias(_) => {
            diags.error(&loc, "YAML aliases (*name) are not supported here: repeat the value");
            Value::Null
        }
        YamlData::BadValue => {
            diags.error(&loc, "this value cannot be read");
            Value::Null
        }
    };
    Node { value, loc }
}

/// Replaces `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`.
fn interpolate(
    s: &str,
    path: &str,
    loc: &Location,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> String {
    if !s.contains('$') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let Some(close) = inner.find('}') else {
                diags.error(
                    loc,
                    format!("`{path}`: `${{` is not closed; write `$${{` for a literal `${{`"),
                );
                return out;
            };
            let spec = &inner[..close];
            let (name, default) = match spec.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (spec, None),
            };
            match env(name).or_else(|| default.map(str::to_string)) {
                Some(v) => out.push_str(&v),
                None => {
                    diags.error(
                        loc,
                        format!("`{path}` uses the environment variable `{name}`, which is not set"),
                    );
                    // Keep the text as written so later checks do not report a second, confusing error.
                    out.push_str(&rest[i..i + 3 + close]);
                }
            }
            rest = &inner[close + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.local".into()),
            _ => None,
        }
    }

    #[test]
    fn nodes_carry_line_and_column() {
        let mut d = Diagnostics::default();
        let n = parse("g.yaml", "a:\n  b: 1\n  c: [x, y]\n", &env, &mut d).unwrap();
        let b = n.get("a").unwrap().get("b").unwrap();
        assert_eq!((b.loc.line, b.loc.column), (2, 6));
        assert_eq!(b.as_f64(), Some(1.0));
        assert!(d.items.is_empty());
    }

    #[test]
    fn environment_variables_are_interpolated_and_a_missing_one_names_the_key() {
        let mut d = Diagnostics::default();
        let n = parse(
            "g.yaml",
            "url: postgres://${HOST}/x\nkey: ${API_KEY}\nd: ${NOPE:-fallback}\nlit: $${X}\n",
            &env,
            &mut d,
        )
        .unwrap();
        assert_eq!(n.get("url").unwrap().as_str(), Some("postgres://db.local/x"));
        assert_eq!(n.get("d").unwrap().as_str(), Some("fallback"));
        assert_eq!(n.get("lit").unwrap().as_str(), Some("${X}"));
        assert_eq!(d.items.len(), 1);
        assert_eq!(
            d.items[0].to_string(),
            "g.yaml:2:6: error: `key` uses the environment variable `API_KEY`, which is not set"
        );
    }

    #[test]
    fn invalid_yaml_and_duplicate_keys_are_located() {
        let mut d = Diagnostics::default();
        assert!(parse("g.yaml", "a: 1\na: 2\n", &env, &mut d).is_none());
        assert!(d.items[0].to_string().starts_with("g.yaml:2:"), "{}", d.items[0]);
        let mut d = Diagnostics::default();
        assert!(parse("g.yaml", "a: [1, 2\n", &env, &mut d).is_none());
        assert!(d.has_errors());
    }
}
