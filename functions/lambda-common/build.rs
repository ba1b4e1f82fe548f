//! Embeds every `rates/*.rates` file of the workspace into the Lambdas: writes
//! `$OUT_DIR/embedded_rates.rs`, a sorted list of `(file name, include_str!(path))`.
//! The books are compiled and checked at init (`credits_lambda::rate_library`), and by this
//! crate's tests, so a book that does not check fails the build's tests and never deploys.

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let rates = manifest_dir.join("../../rates").canonicalize()?;
    // The directory itself: a file added or removed changes it.
    println!("cargo::rerun-if-changed={}", rates.display());
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(&rates)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "rates") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or("a rates file has no name")?;
            println!("cargo::rerun-if-changed={}", path.display());
            files.push((name, path));
        }
    }
    if files.is_empty() {
        return Err(format!("no `.rates` file in {}", rates.display()).into());
    }
    files.sort();
    let mut code = String::from("/// Every `rates/*.rates` file, by name, as built.\n");
    code.push_str("pub static EMBEDDED_RATES: &[(&str, &str)] = &[\n");
    for (name, path) in &files {
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )?;
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("embedded_rates.rs");
    std::fs::write(out, code)?;
    Ok(())
}
