//! Rendering the view with handlebars templates (HTML email and plain text), with
//! charts attached as inline images. Templates are embedded defaults from
//! `templates/`, overridable file by file from the config's `templates:` folder.
//! Strict mode: a template that names a field the view lacks is an error naming the
//! template and line, not an empty string in someone's inbox.

use super::chart::{self, Png};
use super::locale::Locale;
use super::model::ReportModel;
use super::view::{self, ImageRef, View};
use handlebars::{handlebars_helper, Handlebars, RenderErrorReason};
use std::path::Path;

const DEFAULTS: &[(&str, &str)] = &[
    ("report.html", include_str!("../../templates/report.html.hbs")),
    ("goal.html", include_str!("../../templates/partials/goal.html.hbs")),
    ("funnel.html", include_str!("../../templates/partials/funnel.html.hbs")),
    ("notes.html", include_str!("../../templates/partials/notes.html.hbs")),
    ("report.txt", include_str!("../../templates/report.txt.hbs")),
    ("goal.txt", include_str!("../../templates/partials/goal.txt.hbs")),
    ("funnel.txt", include_str!("../../templates/partials/funnel.txt.hbs")),
    ("notes.txt", include_str!("../../templates/partials/notes.txt.hbs")),
];

/// The file a template comes from, for error messages and overrides.
fn file_of(name: &str) -> String {
    match name {
        "report.html" | "report.txt" => format!("{name}.hbs"),
        other => format!("partials/{other}.hbs"),
    }
}

/// A template problem, naming the template file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

/// An image attached to the HTML email by Content-ID.
#[derive(Debug, Clone, PartialEq)]
pub struct InlineImage {
    pub cid: String,
    pub filename: String,
    pub alt: String,
    pub png: Png,
}

#[derive(Debug, Clone)]
pub struct Html {
    pub html: String,
    pub images: Vec<InlineImage>,
}

pub struct Renderer {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
    /// Where each registered template came from (`templates/…` or the override's path).
    origins: std::collections::HashMap<String, String>,
    pub locale: Locale,
    /// No template is overridden: render with `fast`, the defaults written in Rust.
    fast: bool,
}

handlebars_helper!(isolate_rtl: |s: str| format!("\u{2068}{s}\u{2069}"));
handlebars_helper!(isolate_none: |s: str| s.to_string());

/// A loaded config's renderer, built on its first use and shared by all the config's runs:
/// templates are compiled once per load (a reload brings a new plan, so edited templates
/// are picked up), not once per report — compiling them was a fifth of a run's CPU.
#[derive(Clone, Default)]
pub struct RendererCache(std::sync::Arc<std::sync::OnceLock<Result<std::sync::Arc<Renderer>, TemplateError>>>);

impl std::fmt::Debug for RendererCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RendererCache")
    }
}

impl Renderer {
    /// The plan's renderer (see `RendererCache`).
    pub fn shared(plan: &crate::config::Plan) -> Result<std::sync::Arc<Renderer>, TemplateError> {
        plan.renderer
            .0
            .get_or_init(|| Renderer::for_plan(plan).map(std::sync::Arc::new))
            .clone()
    }

    /// Builds the renderer for a language, with overrides from `templates` when given.
    pub fn new(locale: Locale, templates: Option<&Path>) -> Result<Renderer, TemplateError> {
        let mut html = Handlebars::new();
        let mut text = Handlebars::new();
        html.set_strict_mode(true);
        text.set_strict_mode(true);
        // Partials are not re-indented line by line (costly, and whitespace in email HTML is insignificant).
        html.set_prevent_indent(true);
        text.set_prevent_indent(true);
        text.register_escape_fn(handlebars::no_escape);
        if locale.rtl {
            text.register_helper("iso", Box::new(isolate_rtl));
        } else {
            text.register_helper("iso", Box::new(isolate_none));
        }
        let mut origins = std::collections::HashMap::new();
        let mut sources: Vec<(&str, String)> = Vec::new();
        let mut overridden = false;
        for (name, default) in DEFAULTS {
            let file = file_of(name);
            let (source, origin) = match templates.map(|d| d.join(&file)).filter(|p| p.exists()) {
                Some(p) => {
                    overridden = true;
                    (
                        std::fs::read_to_string(&p).map_err(|e| TemplateError(format!("{}: {e}", p.display())))?,
                        p.display().to_string(),
                    )
                }
                None => (default.to_string(), format!("templates/{file}")),
            };
            let (registry, short) = if let Some(s) = name.strip_suffix(".html") {
                (&mut html, s)
            } else {
                (&mut text, name.trim_end_matches(".txt"))
            };
            origins.insert(name.to_string(), origin.clone());
            // Each file is compiled on its own first, so a syntax error names its own file and line.
            registry.register_template_string(short, &source).map_err(|e| {
                let at = e.pos().map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
                TemplateError(format!("{origin}{at}: {}", e.reason()))
            })?;
            sources.push((name, source));
        }
        // The reports are then registered with their partials expanded in place: handlebars
        // copies the whole context at every partial call, which cost more than the rest of
        // the rendering for a 20-goal report. Same output, partials still overridable.
        for (main, ext) in [("report.html", "html"), ("report.txt", "txt")] {
            let source = &sources.iter().find(|(n, _)| *n == main).expect("a report template").1;
            let partials: std::collections::HashMap<String, String> = sources
                .iter()
                .filter_map(|(n, s)| {
                    n.strip_suffix(&format!(".{ext}"))
                        .map(|short| (short.to_string(), s.clone()))
                })
                .collect();
            let expanded = expand_partials(source, &partials);
            let registry = if ext == "html" { &mut html } else { &mut text };
            registry.register_template_string("report", expanded).map_err(|e| {
                let at = e.pos().map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
                TemplateError(format!("{}{at} (with its partials): {}", origins[main], e.reason()))
            })?;
        }
        Ok(Renderer {
            html,
            text,
            origins,
            locale,
            fast: !overridden,
        })
    }

    /// Always through handlebars, as with overridden templates (to compare the two paths).
    pub fn without_fast_path(mut self) -> Renderer {
        self.fast = false;
        self
    }

    /// For a plan: its locale, digits, currency and template folder.
    pub fn for_plan(plan: &crate::config::Plan) -> Result<Renderer, TemplateError> {
        let locale = Locale::load(
            &plan.locale,
            plan.arabic_digits,
            &plan.currency,
            plan.templates.as_deref(),
        )
        .map_err(|e| TemplateError(e.to_string()))?;
        Renderer::new(locale, plan.templates.as_deref())
    }

    pub fn view(&self, m: &ReportModel, max_goals: usize) -> View {
        view::build(m, &self.locale, max_goals)
    }

    /// The HTML email and the plain-text part of one view, sharing one template context
    /// (converting the view for the template engine is a good part of the cost).
    pub fn email(&self, view: &View, charts: bool) -> Result<(Html, String), TemplateError> {
        let (view, images) = self.with_charts(view, charts);
        if self.fast {
            let html = super::fast::html(&view);
            return Ok((Html { html, images }, super::fast::text(&view, self.locale.rtl)));
        }
        let ctx = handlebars::Context::wraps(&view).map_err(|e| TemplateError(format!("the report view: {e}")))?;
        let html = self
            .html
            .render_with_context("report", &ctx)
            .map_err(|e| self.render_error(&e, "html"))?;
        let text = self
            .text
            .render_with_context("report", &ctx)
            .map_err(|e| self.render_error(&e, "txt"))?;
        Ok((Html { html, images }, text))
    }

    /// The HTML email; with `charts`, sparklines and funnels as `cid:` images.
    pub fn html(&self, view: &View, charts: bool) -> Result<Html, TemplateError> {
        let (view, images) = self.with_charts(view, charts);
        if self.fast {
            let html = super::fast::html(&view);
            return Ok(Html { html, images });
        }
        let html = self
            .html
            .render("report", &view)
            .map_err(|e| self.render_error(&e, "html"))?;
        Ok(Html { html, images })
    }

    /// The view with chart images attached (and the images), or the view as it is.
    fn with_charts<'v>(&self, view: &'v View, charts: bool) -> (std::borrow::Cow<'v, View>, Vec<InlineImage>) {
        if !charts {
            return (std::borrow::Cow::Borrowed(view), Vec::new());
        }
        let mut view = view.clone();
        let mut images = Vec::new();
        {
            for g in &mut view.goals {
                if g.history.len() < 2 {
                    continue;
                }
                let values: Vec<String> = g.history.iter().map(|x| self.locale.value(*x, g.unit)).collect();
                g.sparkline_alt = self.locale.fill(
                    "sparkline_alt",
                    &[
                        ("name", &g.name),
                        ("count", &self.locale.number(g.history.len() as f64, 0)),
                        ("values", &values.join(", ")),
                    ],
                );
                let png = chart::sparkline(&g.history, g.target_value, g.color);
                let cid = format!("spark-{}@goalpost", sanitize(&g.id));
                g.sparkline = Some(ImageRef {
                    src: format!("cid:{cid}"),
                    width: png.width,
                    height: png.height,
                });
                images.push(InlineImage {
                    filename: format!("spark-{}.png", sanitize(&g.id)),
                    cid,
                    alt: g.sparkline_alt.clone(),
                    png,
                });
            }
            for (i, f) in view.funnels.iter_mut().enumerate() {
                let png = chart::funnel(&f.values, "#0969da", self.locale.rtl);
                let cid = format!("funnel-{i}@goalpost");
                f.chart = Some(ImageRef {
                    src: format!("cid:{cid}"),
                    width: png.width,
                    height: png.height,
                });
                images.push(InlineImage {
                    filename: format!("funnel-{i}.png"),
                    cid,
                    alt: f.chart_alt.clone(),
                    png,
                });
            }
        }
        (std::borrow::Cow::Owned(view), images)
    }

    pub fn text(&self, view: &View) -> Result<String, TemplateError> {
        if self.fast {
            return Ok(super::fast::text(view, self.locale.rtl));
        }
        self.text
            .render("report", view)
            .map_err(|e| self.render_error(&e, "txt"))
    }

    fn render_error(&self, e: &handlebars::RenderError, ext: &str) -> TemplateError {
        let name = format!("{}.{ext}", e.template_name.as_deref().unwrap_or("report"));
        let file = self.origins.get(&name).cloned().unwrap_or(name);
        let at = e
            .line_no
            .map(|l| format!(":{l}:{}", e.column_no.unwrap_or(0)))
            .unwrap_or_default();
        let reason = match e.reason() {
            RenderErrorReason::MissingVariable(Some(v)) => format!("`{v}` is not in the report view (strict mode)"),
            other => other.to_string(),
        };
        TemplateError(format!("{file}{at}: {reason}"))
    }
}

/// Replaces `{{> name}}` with the partial's text and `{{> name path}}` with
/// `{{#with path}}…{{/with}}`; other partial forms (hash arguments, blocks) are left to
/// handlebars. A partial that includes itself is left as a call.
fn expand_partials(source: &str, partials: &std::collections::HashMap<String, String>) -> String {
    let partial = |name: &str| partials.get(name).map(String::as_str);
    let mut out = String::with_capacity(source.len() * 2);
    let mut rest = source;
    while let Some(i) = rest.find("{{>") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 3..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[i..]);
            return out;
        };
        let words: Vec<&str> = after[..close].split_whitespace().collect();
        let simple = |w: &str| w.chars().all(|c| c.is_ascii_alphanumeric() || "_.@/".contains(c));
        match (words.as_slice(), words.first().and_then(|n| partial(n))) {
            ([name], Some(text)) if !text.contains(&format!("{{{{> {name}")) => out.push_str(text),
            ([name, path], Some(text)) if simple(path) && !text.contains(&format!("{{{{> {name}")) => {
                out.push_str(&format!("{{{{#with {path}}}}}{}{{{{/with}}}}", text))
            }
            _ => out.push_str(&rest[i..i + 3 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Keeps ids safe inside Content-IDs and file names.
fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
