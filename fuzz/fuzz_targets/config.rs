//! Any bytes as a config file: errors are fine, panics are not.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut diags = goalpost::config::diagnostic::Diagnostics::default();
    let _ = goalpost::config::load_str(
        std::path::Path::new("/nonexistent/fuzz.yaml"),
        text,
        &|name| (name == "SET").then(|| "value".to_string()),
        &mut diags,
    );
});
