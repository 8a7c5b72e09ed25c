//! The corpus of broken and hostile kernels in tests/kernels/, run through the engine and
//! through the CLI. Each file's first line states what it must end in
//! (`-- expect: KIND [line N]`); every run must end that way within a second of its
//! timeout, touch no file, and leave the engine rendering a good kernel exactly as a fresh
//! engine does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use moonbrot::engine::{
    CancelToken, Engine, EngineOptions, KernelError, RenderError, RenderRequest,
};

use crate::support::shipped;

/// Timeout per corpus render of a kernel that must end in a timeout: runaway kernels end
/// with a timeout error.
const TIMEOUT: Duration = Duration::from_millis(300);
/// Timeout for every other corpus kernel: each ends by its own error (a memory bomb by the
/// memory limit) long before it, so a loaded CI machine cannot turn that error into a
/// timeout, as 300 ms once did for a memory bomb.
const TIMEOUT_OF_THE_REST: Duration = Duration::from_secs(3);
/// Memory limit per Lua state in the corpus runs, so memory bombs end quickly.
const MEMORY_LIMIT_MIB: usize = 64;
/// Where an escape attempt would leave a trace.
const ESCAPE_MARKER: &str = "/tmp/moonbrot-escape-marker";

/// What a corpus file expects: an outcome kind and, for some, the kernel line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    kind: String,
    line: Option<u32>,
}

fn corpus() -> Vec<(PathBuf, String, Outcome)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernels");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/kernels")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "lua"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "the corpus has {} kernels", files.len());
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("read kernel");
            let source = String::from_utf8_lossy(&bytes).into_owned();
            let header = source.lines().next().unwrap_or_default();
            let words: Vec<&str> = header
                .strip_prefix("-- expect: ")
                .unwrap_or_else(|| panic!("{}: no `-- expect:` line", path.display()))
                .split_whitespace()
                .collect();
            let line = match words.as_slice() {
                [_, "line", number] => Some(number.parse().expect("line number")),
                _ => None,
            };
            let expected = Outcome {
                kind: words[0].to_owned(),
                line,
            };
            (path, source, expected)
        })
        .collect()
}

fn outcome_of(result: &Result<(), RenderError>) -> Outcome {
    let (kind, line) = match result {
        Ok(()) => ("ok", None),
        Err(RenderError::Kernel(error)) => (
            match error {
                KernelError::Syntax { .. } => "syntax",
                KernelError::Load { .. } => "load",
                KernelError::Formula { .. } => "formula",
                KernelError::Runtime { .. } => "runtime",
                KernelError::WrongReturn { .. } => "wrong_return",
                KernelError::MissingPixel => "missing_pixel",
                KernelError::PixelNotAFunction { .. } => "not_a_function",
                KernelError::BadSetting { .. } => "bad_setting",
                KernelError::MemoryLimit { .. } => "memory",
            },
            error.line(),
        ),
        Err(RenderError::TimedOut { .. }) => ("timeout", None),
        Err(other) => {
            return Outcome {
                kind: format!("unexpected: {other}"),
                line: None,
            };
        }
    };
    Outcome {
        kind: kind.to_owned(),
        line,
    }
}

fn matches(expected: &Outcome, actual: &Outcome) -> bool {
    expected.kind == actual.kind && (expected.line.is_none() || expected.line == actual.line)
}

/// The timeout a corpus kernel runs under, by what it must end in.
fn timeout_for(expected: &Outcome) -> Duration {
    if expected.kind == "timeout" {
        TIMEOUT
    } else {
        TIMEOUT_OF_THE_REST
    }
}

fn corpus_request(source: &str, timeout: Duration) -> RenderRequest {
    RenderRequest {
        threads: 2,
        timeout: Some(timeout),
        ..RenderRequest::new(source, 24, 16)
    }
}

/// No kernel left a trace on the file system, and every expectation held.
fn assert_clean(failures: &[String]) {
    assert!(
        !Path::new(ESCAPE_MARKER).exists(),
        "a kernel reached the file system"
    );
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_kernel_ends_as_it_states_and_the_engine_stays_healthy() {
    let good = RenderRequest {
        threads: 2,
        ..RenderRequest::new(shipped("julia"), 48, 32)
    };
    let reference = Engine::default()
        .render(&good, &CancelToken::new())
        .expect("reference render");
    let engine = Engine::new(EngineOptions {
        memory_limit_bytes: MEMORY_LIMIT_MIB * 1024 * 1024,
        ..EngineOptions::default()
    });
    let mut failures = Vec::new();
    for (path, source, expected) in corpus() {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let started = Instant::now();
        let result = engine
            .render(
                &corpus_request(&source, timeout_for(&expected)),
                &CancelToken::new(),
            )
            .map(|_| ());
        let elapsed = started.elapsed();
        let actual = outcome_of(&result);
        if !matches(&expected, &actual) {
            failures.push(format!(
                "{name}: expected {expected:?}, got {actual:?} ({result:?})"
            ));
        }
        if elapsed > timeout_for(&expected) + Duration::from_secs(1) {
            failures.push(format!("{name}: took {elapsed:?}"));
        }
        let after = engine
            .render(&good, &CancelToken::new())
            .expect("a good kernel renders after it");
        if after.image != reference.image {
            failures.push(format!("{name}: the next good kernel rendered differently"));
        }
    }
    assert_clean(&failures);
}

#[test]
fn every_corpus_kernel_ends_as_it_states_through_the_cli() {
    let mut failures = Vec::new();
    for (path, _, expected) in corpus() {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = tempfile::tempdir().expect("temp dir");
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_moonbrot"))
            .current_dir(dir.path())
            .arg("render")
            .arg("--kernel")
            .arg(&path)
            .args(["--size", "24x16", "--threads", "2", "--timeout"])
            .arg(timeout_for(&expected).as_secs_f64().to_string())
            .arg("--memory-limit")
            .arg(MEMORY_LIMIT_MIB.to_string())
            .args(["-o", "out.png"])
            .output()
            .expect("run moonbrot");
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let written: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        let wanted_code = if expected.kind == "ok" { 0 } else { 1 };
        let wanted_files = if expected.kind == "ok" { 1 } else { 0 };
        let clue = match expected.kind.as_str() {
            "syntax" => "syntax error",
            "load" => "error while loading",
            "formula" => "formula: kernel line",
            "runtime" => "runtime error",
            "wrong_return" => "wrong return value",
            "missing_pixel" => "defines no function",
            "not_a_function" => "must be a function",
            "bad_setting" => "bad `",
            "memory" => "ran out of memory",
            "timeout" => "timeout",
            _ => "rendered",
        };
        let line_clue = expected.line.map(|line| format!("kernel line {line}"));
        if output.status.code() != Some(wanted_code)
            || !stderr.contains(clue)
            || line_clue
                .as_ref()
                .is_some_and(|line| !stderr.contains(line.as_str()))
            || stderr.contains("panicked")
        {
            failures.push(format!(
                "{name}: exit {:?}, stderr: {}",
                output.status.code(),
                stderr.trim()
            ));
        }
        if written.len() != wanted_files {
            failures.push(format!("{name}: left {} files", written.len()));
        }
        if elapsed > timeout_for(&expected) + Duration::from_secs(2) {
            failures.push(format!("{name}: took {elapsed:?}"));
        }
    }
    assert_clean(&failures);
}

/// A benchmark, not a test (run with `--ignored --nocapture`): for every corpus kernel that
/// ends in a timeout (every loop and library-call shape), the time from the deadline to the
/// render's return, 5 runs each; prints each shape's median and worst, then overall.
#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn stop_latency_benchmark() {
    let engine = Engine::new(EngineOptions {
        memory_limit_bytes: MEMORY_LIMIT_MIB * 1024 * 1024,
        ..EngineOptions::default()
    });
    let mut all = Vec::new();
    for (path, source, expected) in corpus() {
        if expected.kind != "timeout" {
            continue;
        }
        let mut latencies: Vec<f64> = (0..5)
            .map(|_| {
                let started = Instant::now();
                let result = engine.render(&corpus_request(&source, TIMEOUT), &CancelToken::new());
                assert!(
                    matches!(result, Err(RenderError::TimedOut { .. })),
                    "{result:?}"
                );
                (started.elapsed().saturating_sub(TIMEOUT)).as_secs_f64() * 1e3
            })
            .collect();
        latencies.sort_by(f64::total_cmp);
        eprintln!(
            "{:>8.2} ms median {:>8.2} ms worst  {}",
            latencies[2],
            latencies[4],
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        all.extend(latencies);
    }
    all.sort_by(f64::total_cmp);
    eprintln!(
        "all {} stops: median {:.2} ms, worst {:.2} ms",
        all.len(),
        all[all.len() / 2],
        all[all.len() - 1]
    );
}
