//! spec-runner: runs the MongoDB driver specification tests (unified test format) against
//! causeway on its embedded deployment.
//!
//! ```text
//! cargo run --release -p spec-runner -- [FILE_OR_FOLDER...]
//! ```
//!
//! Without arguments it runs every `.json` file under the spec-tests folder:
//! `$CAUSEWAY_SPEC_TESTS`, else `<repository>/../shared/spec-tests`. It prints one line per
//! test (`pass`, `FAIL` with the first difference, or `skip` with the reason), then
//! `N passed, N failed, N skipped`, and exits non-zero if a test failed or a path is missing.

mod bulk;
mod entities;
mod events;
mod expect;
mod matching;
mod operations;
mod requirements;
mod runner;
mod special;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use requirements::Deployment;
use runner::Verdict;

/// The folder of spec tests: `$CAUSEWAY_SPEC_TESTS`, else `<repository>/../shared/spec-tests`.
fn spec_tests_folder() -> PathBuf {
    match std::env::var_os("CAUSEWAY_SPEC_TESTS") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/spec-tests"),
    }
}

/// Every `.json` file under `dir`, recursively.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// A file's name as printed: relative to the spec-tests folder when it is inside it.
fn display_name(file: &Path, folder: Option<&Path>) -> String {
    if let (Ok(file), Some(folder)) = (file.canonicalize(), folder) {
        if let Ok(relative) = file.strip_prefix(folder) {
            return relative.display().to_string();
        }
    }
    file.display().to_string()
}

/// One line of output, without line breaks.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn main() -> ExitCode {
    let folder = spec_tests_folder();
    let arguments: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let targets = if arguments.is_empty() {
        vec![folder.clone()]
    } else {
        arguments
    };
    let mut missing = false;
    let mut files = Vec::new();
    for target in &targets {
        if target.is_dir() {
            let mut found = Vec::new();
            if let Err(e) = collect_files(target, &mut found) {
                eprintln!("error: cannot read {}: {e}", target.display());
                missing = true;
            }
            found.sort();
            files.extend(found);
        } else if target.is_file() {
            files.push(target.clone());
        } else {
            eprintln!(
                "error: {} does not exist (set CAUSEWAY_SPEC_TESTS to the spec-tests folder)",
                target.display()
            );
            missing = true;
        }
    }
    if files.is_empty() && !missing {
        eprintln!("error: no .json test files found");
        missing = true;
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let deployment = match runtime.block_on(Deployment::discover()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: cannot query the embedded deployment: {e}");
            return ExitCode::FAILURE;
        }
    };

    let canonical_folder = folder.canonicalize().ok();
    let (mut passed, mut failed, mut skipped) = (0_usize, 0_usize, 0_usize);
    let stdout = std::io::stdout();
    for file in &files {
        let name = display_name(file, canonical_folder.as_deref());
        for result in runtime.block_on(runner::run_file(file, &deployment)) {
            let description = one_line(&result.description);
            let line = match &result.verdict {
                Verdict::Pass => {
                    passed += 1;
                    format!("pass {name}: {description}")
                }
                Verdict::Fail(difference) => {
                    failed += 1;
                    format!("FAIL {name}: {description}: {}", one_line(difference))
                }
                Verdict::Skip(reason) => {
                    skipped += 1;
                    format!("skip {name}: {description}: {}", one_line(reason))
                }
            };
            let mut out = stdout.lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 || missing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
