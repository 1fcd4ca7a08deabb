//! The config file: load, interpolate `${VAR}`, validate, and compile into a [`Plan`].
//!
//! `load` returns every problem found (errors and warnings, each with file:line:column)
//! rather than the first one; a plan is only built from a file with no errors.

pub mod diagnostic;
pub mod keys;
pub mod plan;
pub mod reader;
pub mod schema;
pub mod yaml;

use diagnostic::{Diagnostics, Location};
pub use plan::{Plan, StoreLocation};
use std::path::{Path, PathBuf};

/// Whether two paths name the same file (compared by real path when both exist).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The default config location when neither `--config` nor `GOALPOST_CONFIG` is given.
pub const DEFAULT_PATH: &str = "config/goalpost.yaml";

/// The outcome of loading a config: a plan when there are no errors, and all diagnostics.
pub struct Loaded {
    pub plan: Option<Plan>,
    pub diagnostics: Diagnostics,
}

/// Loads `path`, reading `${VAR}` from the process environment.
pub fn load(path: &Path) -> Loaded {
    load_with_env(path, &|name| std::env::var(name).ok())
}

pub fn load_with_env(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Loaded {
    let mut diagnostics = Diagnostics::default();
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            diagnostics.error(
                &Location {
                    file,
                    line: 1,
                    column: 1,
                },
                format!("cannot read the config file: {e}"),
            );
            return Loaded {
                plan: None,
                diagnostics,
            };
        }
    };
    let plan = load_str(path, &text, env, &mut diagnostics);
    Loaded { plan, diagnostics }
}

/// Parses and validates config text as if it were the file at `path`.
pub fn load_str(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    diagnostics: &mut Diagnostics,
) -> Option<Plan> {
    let file = path.display().to_string();
    let root = yaml::parse(&file, text, env, diagnostics)?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut reader = reader::Reader {
        diags: diagnostics,
        dir,
        timezone: chrono_tz::Tz::UTC,
    };
    let plan = reader.read(path, &root);
    diagnostics.sort();
    plan
}
