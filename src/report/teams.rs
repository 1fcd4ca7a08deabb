//! Microsoft Teams message: an Adaptive Card (schema 1.4) in the envelope Teams
//! incoming webhooks take, built from the view. Plain `TextBlock`s only: Teams renders
//! a subset of Markdown in them, so outside names are escaped for it.

use super::view::View;
use serde_json::{json, Value};

/// Escapes the Markdown characters Teams interprets in a TextBlock.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '`' | '<' | '>') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn card(body: Vec<Value>) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            }
        }]
    })
}

fn text(t: &str, extra: Value) -> Value {
    let mut block = json!({ "type": "TextBlock", "text": t, "wrap": true });
    if let (Value::Object(b), Value::Object(e)) = (&mut block, extra) {
        b.extend(e);
    }
    block
}

pub fn message(view: &View) -> Value {
    let rtl = view.dir == "rtl";
    let mut body = vec![
        text(
            &escape(&view.title),
            json!({ "weight": "Bolder", "size": "Medium", "rtl": rtl }),
        ),
        text(&escape(&view.headline), json!({ "size": "Large", "weight": "Bolder" })),
        text(
            &escape(&view.period_status),
            json!({ "isSubtle": true, "spacing": "None" }),
        ),
    ];
    for g in &view.goals {
        let color = match g.status {
            "met" | "on_track" => "Good",
            "at_risk" => "Warning",
            "off_track" => "Attention",
            _ => "Default",
        };
        body.push(text(
            &format!("{} {}", g.emoji, escape(&g.name)),
            json!({ "weight": "Bolder", "separator": true }),
        ));
        body.push(text(
            &escape(&g.status_label),
            json!({ "color": color, "spacing": "None" }),
        ));
        let mut line = format!("{} ({})", escape(&g.actual), escape(&g.target));
        for extra in [&g.attainment, &g.projected, &g.change, &g.owner].into_iter().flatten() {
            line.push_str(&format!(" · {}", escape(extra)));
        }
        body.push(text(&line, json!({ "spacing": "None" })));
    }
    if let Some(more) = &view.more_goals {
        body.push(text(&escape(more), json!({ "isSubtle": true })));
    }
    for n in &view.notes.items {
        body.push(text(
            &format!("• {}", escape(n)),
            json!({ "isSubtle": true, "size": "Small" }),
        ));
    }
    card(body)
}

/// A failure notice as a card.
pub fn notice(subject: &str, body: &str) -> Value {
    card(vec![
        text(&escape(subject), json!({ "weight": "Bolder" })),
        text(&escape(body), json!({})),
    ])
}
