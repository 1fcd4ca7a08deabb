//! `goalpost schema`: a JSON Schema of the config file, built from the key tables in
//! `keys.rs` so that validation, the schema and the docs never disagree.

use super::keys::{self, Key};
use serde_json::{json, Map, Value};

fn object(table: &[Key], required: &[&str]) -> Value {
    let mut props = Map::new();
    for k in table {
        let mut schema: Value = serde_json::from_str(k.schema).expect("key schemas are valid JSON");
        if let Value::Object(o) = &mut schema {
            o.insert("description".into(), Value::String(k.doc.into()));
        }
        props.insert(k.name.into(), schema);
    }
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

/// The schema, for yaml-language-server (`# yaml-language-server: $schema=goalpost.schema.json`).
pub fn json_schema() -> Value {
    let mut root = object(keys::TOP, &[]);
    let metric = json!({ "oneOf": [
        { "type": "string", "pattern": "^[^.]+\\..+$" },
        { "type": "array", "items": { "type": "string" } },
        object(keys::METRIC, &["from"]),
    ]});
    let kpi = json!({ "oneOf": [ { "type": "string" }, object(keys::KPI, &["formula"]) ] });
    let defs = json!({
        "source": object(keys::SOURCE, &["type"]),
        "metric": metric,
        "kpi": kpi,
        "goal": object(keys::GOAL, &["kpi", "target"]),
        "target": object(keys::TARGET, &[]),
        "funnel": object(keys::FUNNEL, &["stages"]),
        "report": object(keys::REPORT, &[]),
        "channel": object(keys::CHANNEL, &["type"]),
        "delivery": object(keys::DELIVERY, &[]),
        "daemon": object(keys::DAEMON, &[]),
    });
    let o = root.as_object_mut().expect("an object");
    o.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    o.insert("title".into(), json!("Goalpost configuration"));
    o.insert("$defs".into(), defs);
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_lists_every_key_the_reader_accepts() {
        let s = json_schema();
        let goal_props = s["$defs"]["goal"]["properties"].as_object().unwrap();
        for k in keys::GOAL {
            assert!(goal_props.contains_key(k.name), "{}", k.name);
        }
        assert_eq!(s["$defs"]["goal"]["additionalProperties"], json!(false));
        assert!(s["properties"]["goals"]["additionalProperties"]["$ref"] == json!("#/$defs/goal"));
    }
}
