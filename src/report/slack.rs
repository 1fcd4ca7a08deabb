//! Slack Block Kit message for an incoming webhook, built from the view.
//!
//! Built as data rather than from a template: Slack's limits (50 blocks, 3,000
//! characters per section text, 150 per header, 10 fields, 10 context elements) are
//! enforced here, and every outside value is escaped for mrkdwn (`&`, `<`, `>`), so a
//! campaign named `<@channel>` cannot ping anyone. A report too long for one message
//! is cut with a line that says how much was left out.

use super::locale::Locale;
use super::view::View;
use serde_json::{json, Value};

pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_HEADER: usize = 150;
pub const MAX_FIELDS: usize = 10;
pub const MAX_FIELD_TEXT: usize = 2000;
pub const MAX_CONTEXT_ELEMENTS: usize = 10;

/// Escapes text for Slack mrkdwn (the three characters Slack asks apps to escape).
pub fn escape(s: &str) -> String {
    if !s.contains(['&', '<', '>']) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": cut(text, MAX_SECTION_TEXT) } })
}

fn context(items: &[String]) -> Value {
    let elements: Vec<Value> = items
        .iter()
        .take(MAX_CONTEXT_ELEMENTS)
        .map(|t| json!({ "type": "mrkdwn", "text": cut(t, MAX_FIELD_TEXT) }))
        .collect();
    json!({ "type": "context", "elements": elements })
}

/// The webhook payload: `text` (the notification fallback) and `blocks`.
pub fn message(view: &View, loc: &Locale) -> Value {
    let e = |s: &str| escape(&loc.isolate(s));
    let mut blocks: Vec<Value> = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": cut(&view.title, MAX_HEADER), "emoji": true } }),
        section(&format!(
            "*{}*\n_{}_",
            escape(&view.headline),
            escape(&view.period_status)
        )),
        json!({ "type": "divider" }),
    ];
    let mut body: Vec<Value> = Vec::new();
    for g in &view.goals {
        let mut lines = vec![
            format!("{} *{}* · {}", g.emoji, e(&g.name), escape(&g.status_label)),
            format!(
                "{} ({}{})",
                escape(&g.actual),
                escape(&g.target),
                g.attainment
                    .as_ref()
                    .map(|a| format!("{}{}", view.labels.sep, escape(a)))
                    .unwrap_or_default()
            ),
        ];
        let extra: Vec<String> = [&g.projected, &g.change, &g.owner]
            .into_iter()
            .flatten()
            .map(|s| escape(s))
            .collect();
        if !extra.is_empty() {
            lines.push(extra.join(" · "));
        }
        if let Some(n) = &g.note {
            lines.push(format!("_{}_", e(n)));
        }
        body.push(section(&lines.join("\n")));
    }
    if let Some(more) = &view.more_goals {
        body.push(context(&[escape(more)]));
    }
    for f in &view.funnels {
        let stages: Vec<String> = f
            .stages
            .iter()
            .map(|s| format!("{} {}", e(&s.label), escape(&s.value)))
            .collect();
        let steps: Vec<String> = f
            .steps
            .iter()
            .map(|s| format!("{} {}", e(&s.label), escape(&s.value)))
            .collect();
        body.push(section(&format!(
            "*{}: {}*\n{}\n{} · {}",
            escape(&view.labels.funnel),
            e(&f.name),
            stages.join(" → "),
            steps.join(", "),
            escape(&f.overall)
        )));
    }
    for b in &view.breakdowns {
        let list = |cells: &[super::view::Cell]| -> String {
            if cells.is_empty() {
                return "—".into();
            }
            cells
                .iter()
                .map(|c| format!("{}: {}", e(&c.label), escape(&c.value)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let fields = [
            format!("*{}*\n{}", escape(&view.labels.worked), list(&b.worked)),
            format!("*{}*\n{}", escape(&view.labels.didnt), list(&b.didnt)),
        ];
        body.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": cut(&format!("*{}*", escape(&b.title)), MAX_SECTION_TEXT) },
            "fields": fields.iter().take(MAX_FIELDS).map(|f| json!({ "type": "mrkdwn", "text": cut(f, MAX_FIELD_TEXT) })).collect::<Vec<_>>(),
        }));
    }
    if !view.notes.items.is_empty() {
        let notes: Vec<String> = view.notes.items.iter().map(|n| e(n)).collect();
        body.push(section(&format!(
            "*{}*\n{}",
            escape(&view.labels.notes),
            notes.iter().map(|n| format!("• {n}")).collect::<Vec<_>>().join("\n")
        )));
    }
    // Room for the footer context; if the body does not fit, cut it and say how much.
    let room = MAX_BLOCKS - blocks.len() - 1;
    if body.len() > room {
        let kept = room - 1;
        let left = body.len() - kept;
        body.truncate(kept);
        body.push(context(&[escape(
            &loc.fill("more_blocks", &[("count", &loc.number(left as f64, 0))]),
        )]));
    }
    blocks.extend(body);
    blocks.push(context(&[escape(&view.footer)]));
    json!({
        "text": cut(&format!("{}: {}", view.title, view.headline), MAX_SECTION_TEXT),
        "blocks": blocks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        assert_eq!(escape("<@channel> & <script>"), "&lt;@channel&gt; &amp; &lt;script&gt;");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let s = "x".repeat(200);
        assert_eq!(cut(&s, 150).chars().count(), 150);
        assert!(cut(&s, 150).ends_with('…'));
        assert_eq!(cut("short", 150), "short");
    }
}
