//! The configs the daemon serves: one file, or a folder where each `*.yaml` is one
//! client's config (an agency's case), loaded and reloaded on its own so one bad file
//! does not stop the others.

use crate::config::{self, Plan};
use std::path::{Path, PathBuf};

/// The config files under `path`: itself, or the `*.yaml` / `*.yml` files in it, sorted.
pub fn config_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("cannot read the folder {}: {e}", path.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// A client's name: its file's stem (`clients/acme.yaml` → `acme`).
pub fn client_name(file: &Path) -> String {
    file.file_stem()
        .map_or_else(|| file.display().to_string(), |s| s.to_string_lossy().into_owned())
}

/// Loads and validates one config, templates included (a broken template is found now,
/// not when the report is due). `Err` holds every problem, one `file:line:col: …` each.
pub fn load(file: &Path) -> Result<Plan, Vec<String>> {
    let loaded = config::load(file);
    for w in loaded.diagnostics.warnings() {
        tracing::warn!(config = %file.display(), "{w}");
    }
    let Some(plan) = loaded.plan else {
        return Err(loaded.diagnostics.errors().map(|e| e.to_string()).collect());
    };
    if let Err(e) = crate::report::render::Renderer::for_plan(&plan) {
        return Err(vec![format!("{}: template: {e}", file.display())]);
    }
    give_back_freed_memory();
    Ok(plan)
}

/// At most two malloc arenas: without this the SQLite worker threads each grow one of
/// their own, resident for the life of the daemon. Called before any thread starts.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Reading a config briefly needs several times the plan's size (the YAML trees); the C
/// allocator keeps what was freed for reuse, so a long-running daemon would carry that
/// peak as its resident size forever. Hand it back to the OS once the plan is built.
pub fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
