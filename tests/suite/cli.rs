//! The command line as a user runs it: outputs, messages on stderr and exit codes
//! (0 success, 1 kernel or input error, 2 usage error), never a panic.

use std::path::Path;
use std::process::{Command, Output};

fn moonbrot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moonbrot"))
        .args(args)
        .output()
        .expect("run moonbrot")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit code and that stderr says `expected`, and that nothing panicked.
fn assert_fails(output: &Output, code: i32, expected: &str) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {text}");
    assert!(
        text.contains(expected),
        "stderr should mention {expected:?}: {text}"
    );
    assert!(!text.contains("panicked"), "{text}");
}

fn write_kernel(dir: &Path, source: &str) -> String {
    let path = dir.join("kernel.lua");
    std::fs::write(&path, source).expect("write kernel");
    path.to_string_lossy().into_owned()
}

#[test]
fn render_writes_a_png_and_reports_its_timings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("julia.png");
    let output = moonbrot(&[
        "render",
        "--kernel",
        "julia",
        "--size",
        "160x90",
        "--threads",
        "2",
        "--palette",
        "ocean",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let image = image::open(&out).expect("PNG").to_rgb8();
    assert_eq!(image.dimensions(), (160, 90));
    let text = stderr(&output);
    assert!(
        text.contains("rendered julia 160x90") && text.contains("on 2 threads"),
        "{text}"
    );
    let metadata = moonbrot::engine::output::read_document(&out).expect("metadata");
    assert!(metadata.kernel_source.contains("Julia set"));
    assert_eq!(
        metadata.palette.gradient,
        moonbrot::engine::output::Gradient::shipped("ocean").expect("shipped")
    );
}

#[test]
fn render_takes_a_kernel_file_view_and_iteration_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kernel = write_kernel(dir.path(), "function pixel(x, y) return max_iter end");
    let out = dir.path().join("flat.png");
    let output = moonbrot(&[
        "render",
        "--kernel",
        &kernel,
        "--size",
        "8x8",
        "--center",
        "-1.5,0.25",
        "--span",
        "0.5",
        "--max-iter",
        "33",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let metadata = moonbrot::engine::output::read_document(&out).expect("metadata");
    assert_eq!(metadata.max_iter, 33);
    assert_eq!(metadata.view, moonbrot::engine::View::new(-1.5, 0.25, 0.5));
}

#[test]
fn kernel_errors_exit_1_naming_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x.png");
    let kernel = write_kernel(dir.path(), "function pixel(x, y)\n  return x +\nend\n");
    let output = moonbrot(&[
        "render",
        "--kernel",
        &kernel,
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert_fails(&output, 1, "kernel line 3");
    let kernel = write_kernel(
        dir.path(),
        "function pixel(x, y)\n  return undefined_thing.field\nend\n",
    );
    let output = moonbrot(&[
        "render",
        "--kernel",
        &kernel,
        "--size",
        "10x10",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert_fails(&output, 1, "kernel line 2");
    // Every pixel fails here; which one a render meets first depends on which thread
    // started first, but the message always names one, with its point.
    let message = stderr(&output);
    assert!(
        message.contains("pixel (") && message.contains(") at x = "),
        "{message}"
    );
    assert!(!out.exists(), "a failed render writes no file");
}

#[test]
fn bad_input_exits_1_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x.png");
    let out = out.to_str().expect("utf-8");
    for (args, expected) in [
        (vec!["--size", "0x10"], "out of range"),
        (vec!["--size=-5x10"], "image size -5x10 is out of range"),
        (vec!["--size", "70000x10"], "out of range"),
        (vec!["--threads", "0"], "thread count"),
        (vec!["--threads", "1000"], "thread count"),
        (vec!["--threads=-3"], "thread count -3 is out of range"),
        (vec!["--max-iter=-7"], "max_iter -7 is out of range"),
        (vec!["--span", "0"], "span"),
        (vec!["--center", "nan,0"], "centre"),
        (vec!["--palette", "plaid"], "unknown palette"),
        (
            vec!["--kernel", "/no/such/kernel.lua"],
            "cannot read kernel file",
        ),
        (vec!["--kernel", "nosuchkernel"], "shipped kernels"),
        (
            vec!["--timeout", "-1"],
            "--timeout: timeout -1 is not usable",
        ),
        (vec!["--timeout", "inf"], "--timeout"),
        (
            vec!["--max-iter", "0"],
            "--max-iter: max_iter 0 is out of range",
        ),
        (
            vec!["--memory-limit", "0"],
            "--memory-limit: memory limit 0 MiB",
        ),
        (vec!["--memory-limit=-1"], "--memory-limit"),
        (vec!["--threads", "65"], "--threads: thread count 65"),
    ] {
        let mut full = vec!["render"];
        full.extend(args.iter().copied());
        full.extend(["-o", out]);
        assert_fails(&moonbrot(&full), 1, expected);
    }
    let output = moonbrot(&[
        "render",
        "--size",
        "8x8",
        "-o",
        dir.path().join("missing/x.png").to_str().expect("utf-8"),
    ]);
    assert_fails(&output, 1, "does not exist");
    assert!(!Path::new(out).exists());
}

#[test]
fn non_utf8_and_oversized_kernel_files_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x.png");
    let binary = dir.path().join("binary.lua");
    std::fs::write(&binary, [0x66, 0x6f, 0xff, 0xfe, 0x00]).expect("write");
    assert_fails(
        &moonbrot(&[
            "render",
            "--kernel",
            binary.to_str().expect("utf-8"),
            "-o",
            out.to_str().expect("utf-8"),
        ]),
        1,
        "not UTF-8",
    );
    let huge = dir.path().join("huge.lua");
    std::fs::write(&huge, "-".repeat(10 * 1024 * 1024)).expect("write");
    assert_fails(
        &moonbrot(&[
            "render",
            "--kernel",
            huge.to_str().expect("utf-8"),
            "-o",
            out.to_str().expect("utf-8"),
        ]),
        1,
        "is 10240 KiB, more than the limit",
    );
    // A device gives bytes without end and has no size: the message says so, not "0 KiB".
    if Path::new("/dev/zero").exists() {
        for args in [
            vec!["info", "/dev/zero"],
            vec![
                "render",
                "--kernel",
                "/dev/zero",
                "-o",
                out.to_str().expect("utf-8"),
            ],
        ] {
            let output = moonbrot(&args);
            assert_fails(
                &output,
                1,
                "/dev/zero is not a regular file and gives more than 1024 KiB",
            );
        }
    }
}

#[test]
fn a_timeout_stops_a_runaway_kernel_with_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kernel = write_kernel(dir.path(), "function pixel(x, y) while true do end end");
    let out = dir.path().join("x.png");
    let output = moonbrot(&[
        "render",
        "--kernel",
        &kernel,
        "--timeout",
        "0.3",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert_fails(&output, 1, "timeout of 0.3 s");
}

#[test]
fn usage_errors_exit_2() {
    assert_fails(&moonbrot(&["render"]), 2, "--output");
    assert_fails(
        &moonbrot(&["render", "--size", "big", "-o", "x.png"]),
        2,
        "WIDTHxHEIGHT",
    );
    assert_fails(
        &moonbrot(&["paint"]),
        2,
        "\"paint\" is neither a command (render, bench, info, stitch, api) nor an existing file",
    );
    assert_fails(&moonbrot(&["bench", "--sizes", "a,b"]), 2, "--sizes");
    assert_fails(
        &moonbrot(&["render", "--no-such-flag"]),
        2,
        "--no-such-flag",
    );
    assert_eq!(moonbrot(&["--help"]).status.code(), Some(0));
    let help = String::from_utf8_lossy(&moonbrot(&["--help"]).stdout).into_owned();
    assert!(
        help.contains("70 internal error"),
        "--help documents the exit codes: {help}"
    );
}

#[test]
fn render_help_says_what_precision_auto_may_choose_and_that_f64_is_the_kernel_s_pixel() {
    let help = String::from_utf8_lossy(&moonbrot(&["render", "--help"]).stdout).into_owned();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for said in [
        "interleaved pixels (three a loop)",
        "1.15 times as fast as the kernel's `pixel`",
        "f64 (always the kernel's `pixel`)",
    ] {
        assert!(help.contains(said), "render --help lacks {said:?}: {help}");
    }
}

#[test]
fn bench_refuses_bad_values_naming_the_flag_with_exit_1() {
    for (args, expected) in [
        (
            vec!["--sizes", "0,64"],
            "--sizes: image size 0x0 is out of range",
        ),
        (vec!["--threads", "1,99"], "--threads: thread count 99"),
        (
            vec!["--runs", "0"],
            "--runs: runs per cell 0 is out of range",
        ),
        (vec!["--runs=-2"], "--runs"),
        (vec!["--kernel", "missing.lua"], "cannot read kernel file"),
    ] {
        let mut full = vec!["bench"];
        full.extend(args.iter().copied());
        assert_fails(&moonbrot(&full), 1, expected);
    }
}

#[test]
fn without_a_command_and_without_a_display_the_window_fails_cleanly() {
    let output = Command::new(env!("CARGO_BIN_EXE_moonbrot"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("run moonbrot");
    assert_fails(&output, 1, "cannot open the window");
}

#[test]
fn bench_views_times_the_four_standard_views_with_each_shortcut_setting() {
    let output = moonbrot(&[
        "bench",
        "--views",
        "--threads",
        "2",
        "--runs",
        "1",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    let rows = report["views"].as_array().expect("views");
    assert_eq!(rows.len(), 4 * 4, "four views, four settings each");
    for row in rows {
        let view = row["view"].as_str().expect("a name");
        assert_eq!(row["threads"], 2);
        assert!(row["best_secs"].as_f64().expect("seconds") > 0.0);
        assert!(row["megapixels_per_sec"].as_f64().expect("rate") > 0.0);
        assert_eq!(row["pixels"], 1280 * 720);
        let mirrored = row["mirrored_pixels"].as_u64().expect("mirrored");
        // V1 and V3 straddle the real axis; V2 lies off it, and the Julia set does not
        // declare the symmetry.
        let straddles = view.starts_with("V1") || view.starts_with("V3");
        assert_eq!(mirrored > 0, straddles && row["symmetry"] == true, "{row}");
        if row["guessing"] == false {
            assert_eq!(row["inexact_pixels"], 0, "symmetry is exact: {row}");
        }
    }
    assert_fails(&moonbrot(&["bench", "--views", "--pan"]), 2, "--pan");
}

#[test]
fn bench_prints_one_json_object_with_lua_and_native_cells() {
    let output = moonbrot(&[
        "bench",
        "--sizes",
        "32,48",
        "--threads",
        "1,2",
        "--runs",
        "2",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    let runs = report["runs"].as_array().expect("runs");
    assert_eq!(
        runs.len(),
        2 * 2 * 2,
        "lua and native for each size and thread count"
    );
    for run in runs {
        assert!(run["engine"] == "lua" || run["engine"] == "native");
        assert_eq!(run["kernel"], "seed");
        assert_eq!(run["runs"], 2);
        let (best, median) = (
            run["best_secs"].as_f64().expect("best"),
            run["median_secs"].as_f64().expect("median"),
        );
        assert!(best > 0.0 && best <= median);
        assert!(run["pixels_per_sec"].as_f64().expect("rate") > 0.0);
    }
}

#[test]
fn bench_prints_the_table_beside_the_articles_figures() {
    let output = moonbrot(&["bench", "--sizes", "32", "--threads", "1,2", "--runs", "1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    for row in [
        "| 32 | lua |",
        "| 32 | native |",
        "| 32 | lua/native |",
        "| 32 | lua speedup |",
        "| 1280 | 2.71 |",
    ] {
        assert!(table.contains(row), "missing {row:?} in\n{table}");
    }
}

/// A disk that fills up mid-write, simulated with a file-size limit (RLIMIT_FSIZE: writes
/// past it fail as they would on a full device; SIGXFSZ is ignored so the write returns
/// the error instead of killing the process): the old file stays and no temporary is left.
#[test]
fn a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_partial_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("keep.png");
    std::fs::write(&out, b"the user's earlier export").expect("write");
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 4 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_moonbrot"))
        .args(["render", "--size", "400x400", "--palette", "fire", "-o"])
        .arg(&out)
        .output()
        .expect("run moonbrot under a file-size limit");
    assert_fails(&output, 1, "cannot write");
    assert!(
        !stderr(&output).contains(".part"),
        "the message names the user's file, not the temporary one: {}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read(&out).expect("read"),
        b"the user's earlier export"
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("keep.png")]);
}

#[test]
fn api_gives_the_language_server_definitions_printed_or_written_beside_kernels() {
    let printed = moonbrot(&["api", "--lua-ls"]);
    assert_eq!(printed.status.code(), Some(0), "{}", stderr(&printed));
    let definitions = String::from_utf8_lossy(&printed.stdout).into_owned();
    for declared in [
        "---@meta moonbrot",
        "function pixel(x, y) end",
        "function parameter(spec) end",
        "function formula(spec) end",
        "function dd.new(hi, lo) end",
    ] {
        assert!(definitions.contains(declared), "{declared:?} missing");
    }
    assert_fails(&moonbrot(&["api"]), 2, "--lua-ls");

    let dir = tempfile::tempdir().expect("dir");
    let folder = dir.path().to_str().expect("utf-8 path");
    let written = moonbrot(&["api", "--lua-ls", "--write", folder]);
    assert_eq!(written.status.code(), Some(0), "{}", stderr(&written));
    let file = std::fs::read_to_string(dir.path().join("moonbrot-api.lua")).expect("written");
    assert_eq!(file, definitions);
    let luarc = std::fs::read_to_string(dir.path().join(".luarc.json")).expect("luarc");
    assert!(
        luarc.contains("\"runtime.version\": \"LuaJIT\"") && luarc.contains("\"io\": \"disable\"")
    );

    // The user's own settings stay; written again, the definitions are replaced.
    std::fs::write(dir.path().join(".luarc.json"), "{ \"mine\": true }").expect("write");
    let again = moonbrot(&["api", "--lua-ls", "--write", folder]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("is left as it is"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".luarc.json")).expect("read"),
        "{ \"mine\": true }"
    );
    // A file of that name that moonbrot did not write is not replaced.
    std::fs::write(dir.path().join("moonbrot-api.lua"), "-- my notes").expect("write");
    assert_fails(
        &moonbrot(&["api", "--lua-ls", "--write", folder]),
        1,
        "was not written by moonbrot",
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("moonbrot-api.lua")).expect("read"),
        "-- my notes"
    );
}
