//! Runs the spec runner over the whole spec-tests folder (`$CAUSEWAY_SPEC_TESTS`, else
//! `<repository>/../shared/spec-tests`) and requires that no test fails.

use std::process::Command;

/// The counts of the runner's closing line `N passed, N failed, N skipped`.
fn summary(stdout: &str) -> Option<(usize, usize, usize)> {
    let line = stdout.lines().rev().find(|l| l.ends_with(" skipped"))?;
    let mut numbers = line
        .split(", ")
        .map(|part| part.split(' ').next().and_then(|n| n.parse().ok()));
    Some((numbers.next()??, numbers.next()??, numbers.next()??))
}

#[test]
fn every_spec_test_passes() {
    let output = Command::new(env!("CARGO_BIN_EXE_spec-runner"))
        .output()
        .expect("the spec-runner binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let Some((passed, failed, skipped)) = summary(&stdout) else {
        panic!("the runner printed no summary line\nstdout:\n{stdout}\nstderr:\n{stderr}");
    };
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(
        failed,
        0,
        "{failed} spec tests failed ({passed} passed, {skipped} skipped):\n{}",
        failures.join("\n")
    );
    assert!(passed > 0, "no spec test ran\n{stdout}");
    assert!(
        output.status.success(),
        "the runner exited with {}\nstderr:\n{stderr}",
        output.status
    );
}

#[test]
fn reads_the_summary_line() {
    assert_eq!(
        summary("pass a: b\n164 passed, 18 failed, 8 skipped\n"),
        Some((164, 18, 8))
    );
    assert_eq!(summary("nothing"), None);
}
