//! The default templates (`templates/report.html.hbs`, `report.txt.hbs` and their
//! partials) written out in Rust, used when a config overrides no template.
//!
//! Why: handlebars interprets a template over a JSON copy of the view, which cost more
//! than everything else in a report (20 goals: ~170 µs of ~250 µs for four formats). This
//! writes the same bytes straight from the view. The `.hbs` files stay the reference and
//! what users copy to restyle: `tests/it/render.rs` renders views through both and
//! requires identical output, so a change to one without the other fails the suite.
//!
//! Whitespace follows handlebars' rules: a line holding only a block tag (`{{#if}}`,
//! `{{/each}}`…) disappears with its line break; an inline block leaves its line.

use super::view::{BreakdownView, Cell, FunnelView, GoalView, ImageRef, Notes, View};

/// Appends `s` escaped as handlebars escapes `{{value}}`.
fn esc(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '&' => "&amp;",
            '\'' => "&#x27;",
            '`' => "&#x60;",
            '=' => "&#x3D;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// `{{#if x}}` on an optional string: present and not empty.
fn some(x: &Option<String>) -> Option<&str> {
    x.as_deref().filter(|s| !s.is_empty())
}

pub fn html(v: &View) -> String {
    let mut o = String::with_capacity(8192 + v.goals.len() * 2048);
    o.push_str("<!DOCTYPE html>\n<html lang=\"");
    esc(&mut o, &v.lang);
    o.push_str("\" dir=\"");
    esc(&mut o, v.dir);
    o.push_str("\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"color-scheme\" content=\"light dark\">\n<meta name=\"supported-color-schemes\" content=\"light dark\">\n<title>");
    esc(&mut o, &v.title);
    o.push_str(HEAD_STYLE);
    esc(&mut o, v.dir);
    o.push_str("\" style=\"width:600px;max-width:600px;background:#ffffff;border:1px solid #d0d7de;border-radius:6px;font-family:-apple-system,'Segoe UI',Tahoma,Arial,sans-serif;font-size:14px;line-height:1.45;text-align:");
    esc(&mut o, v.align);
    o.push_str(";\">\n<tr><td style=\"padding:20px 24px 8px 24px;\" align=\"");
    esc(&mut o, v.align);
    o.push_str("\">\n  <div class=\"gp-muted\" style=\"font-size:12px;color:#59636e;\">");
    esc(&mut o, &v.title);
    o.push_str(" · ");
    esc(&mut o, &v.period_status);
    o.push_str("</div>\n  <h1 style=\"margin:4px 0 0 0;font-size:20px;line-height:1.3;font-weight:600;\">");
    esc(&mut o, &v.headline);
    o.push_str("</h1>\n</td></tr>\n");
    if !v.goals.is_empty() {
        o.push_str("<tr><td style=\"padding:8px 24px 0 24px;\" align=\"");
        esc(&mut o, v.align);
        o.push_str("\">\n  <h2 style=\"margin:8px 0;font-size:15px;font-weight:600;\">");
        esc(&mut o, &v.labels.goals);
        o.push_str("</h2>\n  <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\">\n  ");
        for g in &v.goals {
            goal_html(&mut o, g, v.align);
        }
        o.push_str("  </table>\n  ");
        if let Some(m) = some(&v.more_goals) {
            o.push_str("<p class=\"gp-muted\" style=\"margin:8px 0 0 0;color:#59636e;\">");
            esc(&mut o, m);
            o.push_str("</p>");
        }
        o.push_str("\n</td></tr>\n");
    }
    for f in &v.funnels {
        funnel_html(&mut o, f, v);
    }
    if !v.breakdowns.is_empty() {
        o.push_str("<tr><td style=\"padding:8px 24px 0 24px;\" align=\"");
        esc(&mut o, v.align);
        o.push_str("\">\n");
        for b in &v.breakdowns {
            breakdown_html(&mut o, b, v);
        }
        o.push_str("</td></tr>\n");
    }
    notes_html(&mut o, &v.notes);
    o.push_str(
        "<tr><td class=\"gp-muted\" style=\"padding:16px 24px 20px 24px;font-size:11px;color:#59636e;\" align=\"",
    );
    esc(&mut o, v.align);
    o.push_str("\">");
    esc(&mut o, &v.footer);
    o.push_str("</td></tr>\n</table>\n</td></tr>\n</table>\n</body>\n</html>\n");
    o
}

const HEAD_STYLE: &str = "</title>\n<style>\n  @media (prefers-color-scheme: dark) {\n    .gp-body, .gp-card { background: #0d1117 !important; color: #e6edf3 !important; }\n    .gp-muted { color: #9198a1 !important; }\n    .gp-track { background: #30363d !important; }\n    .gp-rule { border-color: #30363d !important; }\n  }\n  @media only screen and (max-width: 620px) { .gp-card { width: 100% !important; } }\n</style>\n</head>\n<body class=\"gp-body\" style=\"margin:0;padding:0;background:#f6f8fa;color:#1f2328;\">\n<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"background:#f6f8fa;\" class=\"gp-body\">\n<tr><td align=\"center\" style=\"padding:16px 0;\">\n<table role=\"presentation\" class=\"gp-card\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" dir=\"";

fn img(o: &mut String, i: &ImageRef, alt: &str) {
    o.push_str("<img src=\"");
    esc(o, &i.src);
    o.push_str("\" width=\"");
    o.push_str(&i.width.to_string());
    o.push_str("\" height=\"");
    o.push_str(&i.height.to_string());
    o.push_str("\" alt=\"");
    esc(o, alt);
    o.push_str("\" style=\"display:block;border:0;width:");
    o.push_str(&i.width.to_string());
    o.push_str("px;height:");
    o.push_str(&i.height.to_string());
    o.push_str("px;\">");
}

fn goal_html(o: &mut String, g: &GoalView, root_align: &str) {
    o.push_str("<tr><td class=\"gp-rule\" style=\"padding:10px 0;border-top:1px solid #d8dee4;\">\n  <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\">\n  <tr>\n    <td valign=\"top\">\n      <div style=\"font-weight:600;\"><bdi>");
    esc(o, &g.name);
    o.push_str("</bdi></div>\n      <div><span style=\"font-size:16px;font-weight:600;\">");
    esc(o, &g.actual);
    o.push_str("</span> <span class=\"gp-muted\" style=\"color:#59636e;\">");
    esc(o, &g.target);
    o.push_str("</span></div>\n      <table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"margin:4px 0;\"><tr>\n        <td class=\"gp-track\" width=\"160\" height=\"6\" style=\"width:160px;height:6px;background:#d8dee4;border-radius:3px;font-size:0;line-height:0;\">\n          <table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" width=\"");
    o.push_str(&g.bar.to_string());
    o.push_str("%\"><tr><td height=\"6\" style=\"height:6px;background:");
    esc(o, g.color);
    o.push_str(";border-radius:3px;font-size:0;line-height:0;\">&nbsp;</td></tr></table>\n        </td>\n        <td style=\"padding:0 8px;font-size:12px;\" class=\"gp-muted\">");
    if let Some(a) = &g.attainment {
        esc(o, a);
    }
    o.push_str("</td>\n      </tr></table>\n      <div class=\"gp-muted\" style=\"font-size:12px;color:#59636e;\">");
    esc(o, &g.details);
    o.push_str("</div>\n      ");
    if let Some(n) = some(&g.note) {
        o.push_str("<div class=\"gp-muted\" style=\"font-size:12px;color:#59636e;\"><bdi>");
        esc(o, n);
        o.push_str("</bdi></div>");
    }
    o.push_str("\n    </td>\n    <td valign=\"top\" width=\"130\" style=\"width:130px;\" align=\"");
    esc(o, root_align);
    o.push_str("\">\n      <div style=\"display:inline-block;padding:2px 8px;border-radius:10px;background:");
    esc(o, g.color);
    o.push_str(";color:#ffffff;font-size:12px;font-weight:600;white-space:nowrap;\">");
    esc(o, &g.status_label);
    o.push_str("</div>\n      ");
    if let Some(s) = &g.sparkline {
        o.push_str("<div style=\"margin-top:6px;\">");
        img(o, s, &g.sparkline_alt);
        o.push_str("</div>");
    }
    o.push_str("\n    </td>\n  </tr>\n  </table>\n</td></tr>\n");
}

/// `<bdi>label</bdi>`-style cells joined by `sep`, as the `{{#each}}…{{#unless @last}}` loops write them.
fn cells(o: &mut String, cells: &[Cell], open: &str, mid: &str, close: &str, sep: &str) {
    for (i, c) in cells.iter().enumerate() {
        o.push_str(open);
        esc(o, &c.label);
        o.push_str(mid);
        esc(o, &c.value);
        o.push_str(close);
        if i + 1 < cells.len() {
            o.push_str(sep);
        }
    }
}

fn funnel_html(o: &mut String, f: &FunnelView, v: &View) {
    o.push_str("<tr><td style=\"padding:8px 24px 0 24px;\" align=\"");
    esc(o, v.align);
    o.push_str("\">\n  <h2 style=\"margin:12px 0 6px 0;font-size:15px;font-weight:600;\">");
    esc(o, &v.labels.funnel);
    o.push_str(": <bdi>");
    esc(o, &f.name);
    o.push_str("</bdi></h2>\n  <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr>\n    <td valign=\"top\">\n      <table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\">\n      ");
    cells(
        o,
        &f.stages,
        "<tr><td height=\"22\" style=\"height:22px;padding:0 6px;\"><bdi>",
        "</bdi></td><td style=\"padding:0 6px;font-weight:600;\">",
        "</td></tr>",
        "",
    );
    o.push_str("\n      </table>\n    </td>\n    ");
    if let Some(c) = &f.chart {
        o.push_str("<td valign=\"top\" width=\"240\" style=\"width:240px;\">");
        img(o, c, &f.chart_alt);
        o.push_str("</td>");
    }
    o.push_str("\n  </tr></table>\n  <div class=\"gp-muted\" style=\"font-size:12px;color:#59636e;margin-top:4px;\">");
    cells(
        o,
        &f.steps,
        "<span style=\"white-space:nowrap;\"><bdi>",
        "</bdi> ",
        "</span>",
        " · ",
    );
    o.push_str(" · ");
    esc(o, &f.overall);
    o.push_str("</div>\n</td></tr>\n");
}

fn breakdown_html(o: &mut String, b: &BreakdownView, v: &View) {
    o.push_str("  <h2 style=\"margin:12px 0 6px 0;font-size:15px;font-weight:600;\">");
    esc(o, &b.title);
    o.push_str("</h2>\n  <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\">\n    <tr>\n      <td width=\"50%\" valign=\"top\" style=\"padding:0 4px;\">\n        <div style=\"font-weight:600;color:#1a7f37;\">");
    esc(o, &v.labels.worked);
    o.push_str("</div>\n        ");
    cells(o, &b.worked, "<div><bdi>", "</bdi>: ", "</div>", "");
    o.push_str("\n      </td>\n      <td width=\"50%\" valign=\"top\" style=\"padding:0 4px;\">\n        <div style=\"font-weight:600;color:#cf222e;\">");
    esc(o, &v.labels.didnt);
    o.push_str("</div>\n        ");
    cells(o, &b.didnt, "<div><bdi>", "</bdi>: ", "</div>", "");
    o.push_str("\n      </td>\n    </tr>\n  </table>\n  ");
    if let Some(n) = some(&b.no_value) {
        o.push_str("<div class=\"gp-muted\" style=\"color:#59636e;font-size:12px;\"><bdi>");
        esc(o, n);
        o.push_str("</bdi></div>");
    }
    o.push('\n');
}

fn notes_html(o: &mut String, n: &Notes) {
    if n.items.is_empty() {
        return;
    }
    // The line break after `{{#with notes}}{{#if items}}`: two tags on a line are not a
    // standalone line to handlebars, so it stays.
    o.push_str("\n<tr><td style=\"padding:8px 24px 0 24px;\" align=\"");
    esc(o, n.align);
    o.push_str("\">\n  <h2 style=\"margin:12px 0 6px 0;font-size:15px;font-weight:600;\">");
    esc(o, &n.title);
    o.push_str("</h2>\n  <ul style=\"margin:0;padding-inline-start:20px;\">\n  ");
    for item in &n.items {
        o.push_str("<li class=\"gp-muted\" style=\"color:#59636e;\">");
        esc(o, item);
        o.push_str("</li>");
    }
    o.push_str("\n  </ul>\n</td></tr>\n");
}

/// The plain-text part; `rtl` wraps outside text in Unicode isolates (the `iso` helper).
pub fn text(v: &View, rtl: bool) -> String {
    let iso = |o: &mut String, s: &str| {
        if rtl {
            o.push('\u{2068}');
            o.push_str(s);
            o.push('\u{2069}');
        } else {
            o.push_str(s);
        }
    };
    let mut o = String::with_capacity(1024 + v.goals.len() * 256);
    iso(&mut o, &v.title);
    o.push_str(" — ");
    o.push_str(&v.headline);
    o.push('\n');
    o.push_str(&v.period_status);
    o.push('\n');
    if !v.goals.is_empty() {
        o.push('\n');
        o.push_str(&v.labels.goals);
        o.push('\n');
        for g in &v.goals {
            o.push_str("  [");
            o.push_str(&g.status_label);
            o.push_str("] ");
            iso(&mut o, &g.name);
            o.push_str(": ");
            o.push_str(&g.actual);
            o.push_str(" (");
            o.push_str(&g.target);
            if let Some(a) = some(&g.attainment) {
                o.push_str(&v.labels.sep);
                o.push_str(a);
            }
            o.push_str(")\n");
            o.push_str(&g.details_text);
            if let Some(n) = some(&g.note) {
                o.push_str("      ");
                iso(&mut o, n);
                o.push('\n');
            }
        }
        if let Some(m) = some(&v.more_goals) {
            o.push_str("  ");
            o.push_str(m);
            o.push('\n');
        }
    }
    for f in &v.funnels {
        o.push('\n');
        o.push_str(&v.labels.funnel);
        o.push_str(": ");
        iso(&mut o, &f.name);
        o.push_str("\n  ");
        for (i, c) in f.stages.iter().enumerate() {
            iso(&mut o, &c.label);
            o.push(' ');
            o.push_str(&c.value);
            if i + 1 < f.stages.len() {
                o.push_str(" → ");
            }
        }
        o.push_str("\n  ");
        for (i, c) in f.steps.iter().enumerate() {
            iso(&mut o, &c.label);
            o.push(' ');
            o.push_str(&c.value);
            if i + 1 < f.steps.len() {
                o.push_str(", ");
            }
        }
        o.push_str("; ");
        o.push_str(&f.overall);
        o.push('\n');
    }
    for b in &v.breakdowns {
        o.push('\n');
        o.push_str(&b.title);
        o.push_str("\n  ");
        o.push_str(&v.labels.worked);
        o.push_str(": ");
        text_cells(&mut o, &b.worked, &iso);
        o.push('\n');
        if !b.didnt.is_empty() {
            o.push_str("  ");
            o.push_str(&v.labels.didnt);
            o.push_str(": ");
            text_cells(&mut o, &b.didnt, &iso);
            o.push('\n');
        }
        if let Some(n) = some(&b.no_value) {
            o.push_str("  ");
            iso(&mut o, n);
            o.push('\n');
        }
    }
    if !v.notes.items.is_empty() {
        o.push('\n');
        o.push_str(&v.notes.title);
        o.push('\n');
        for item in &v.notes.items {
            o.push_str("  - ");
            o.push_str(item);
            o.push('\n');
        }
    }
    // The notes partial's last line break, there whether or not it had items.
    o.push_str("\n-- \n");
    o.push_str(&v.footer);
    o.push('\n');
    o
}

fn text_cells(o: &mut String, cells: &[Cell], iso: &dyn Fn(&mut String, &str)) {
    for (i, c) in cells.iter().enumerate() {
        iso(o, &c.label);
        o.push(' ');
        o.push_str(&c.value);
        if i + 1 < cells.len() {
            o.push_str("; ");
        }
    }
}
