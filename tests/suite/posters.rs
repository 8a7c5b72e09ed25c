//! Posters through the CLI: images written band by band in bounded memory, supersampled in
//! linear light, and split into shards by separate processes whose bands `moonbrot stitch`
//! joins into the very image a single process writes.

use std::path::{Path, PathBuf};

use crate::support::{moonbrot, path_text, pixels, render_file as render, text};
use std::process::Command;

#[test]
fn shards_rendered_by_separate_processes_stitch_into_the_single_render() {
    let dir = tempfile::tempdir().expect("temp dir");
    let common = [
        "--kernel",
        "mandelbrot",
        "--size",
        "240x200",
        "--center",
        "-0.7453,0.1127",
        "--span",
        "0.02",
        "--threads",
        "2",
    ];
    let (single, _) = render(dir.path(), "single.png", &common);
    let mut bands = Vec::new();
    for shard in ["2/3", "0/3", "1/3"] {
        let mut args = common.to_vec();
        args.extend(["--shard", shard]);
        let name = format!("band{}.png", &shard[..1]);
        let (band, summary) = render(dir.path(), &name, &args);
        assert!(summary.contains("rows "), "{summary}");
        bands.push(band);
    }
    let poster = dir.path().join("poster.png");
    let mut args = vec!["stitch", "-o", path_text(&poster)];
    args.extend(bands.iter().map(|band| path_text(band)));
    let output = moonbrot(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(pixels(&poster), pixels(&single), "pixel for pixel");
    let read = moonbrot::engine::output::read_document;
    assert_eq!(
        read(&poster).expect("poster"),
        read(&single).expect("single")
    );

    // A missing band is refused, and nothing is written.
    let incomplete = dir.path().join("incomplete.png");
    let output = moonbrot(&[
        "stitch",
        "-o",
        path_text(&incomplete),
        path_text(&bands[0]),
        path_text(&bands[1]),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("cannot stitch"),
        "{}",
        text(&output.stderr)
    );
    assert!(!incomplete.exists());
}

#[test]
fn a_poster_is_written_in_bands_with_memory_below_its_own_image_size() {
    // 3072 x 3072: its values and colours alone would take 63 MiB.
    let dir = tempfile::tempdir().expect("temp dir");
    let (poster, summary) = render(
        dir.path(),
        "poster.png",
        &[
            "--kernel",
            "seed",
            "--size",
            "3072x3072",
            "--band-memory",
            "16",
        ],
    );
    let peak_mib: u64 = summary
        .split("peak memory ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in {summary}"));
    eprintln!("3072x3072 poster in 16 MiB bands: peak memory {peak_mib} MiB ({summary})");
    assert!(peak_mib < 60, "peak memory {peak_mib} MiB: {summary}");
    assert!(summary.contains("bands of up to"), "{summary}");
    assert_eq!(pixels(&poster).dimensions(), (3072, 3072));
}

#[test]
fn supersampling_averages_an_edge_in_linear_light() {
    // Escapes (value 1) left of x = 0, inside right of it; the edge runs down the middle of
    // column 1, so half of that pixel's samples are each colour.
    let dir = tempfile::tempdir().expect("temp dir");
    let kernel = dir.path().join("edge.lua");
    std::fs::write(
        &kernel,
        "function pixel(x, y) if x < 0 then return 1 end return nil end\n",
    )
    .expect("write");
    let base = [
        "--kernel",
        path_text(&kernel),
        "--size",
        "4x2",
        "--center",
        "0.5,0",
        "--span",
        "2",
    ];
    let (sharp, _) = render(dir.path(), "sharp.png", &base);
    let mut args = base.to_vec();
    args.extend(["--supersample", "2"]);
    let (smooth, _) = render(dir.path(), "smooth.png", &args);
    let (sharp, smooth) = (pixels(&sharp), pixels(&smooth));
    let outside = sharp.get_pixel(0, 0).0;
    let inside = sharp.get_pixel(3, 0).0;
    assert_ne!(outside, inside);
    let block = [outside, inside, outside, inside].concat();
    let expected = moonbrot::engine::output::downsample(&block, 2, 2);
    assert_eq!(smooth.get_pixel(1, 0).0.to_vec(), expected);
    assert_eq!(
        smooth.get_pixel(0, 0).0,
        outside,
        "whole pixels keep their colour"
    );
    assert_eq!(smooth.get_pixel(3, 1).0, inside);
    let metadata =
        moonbrot::engine::output::read_document(&dir.path().join("smooth.png")).expect("metadata");
    assert_eq!(metadata.supersample, 2);
}

#[test]
fn bad_supersampling_and_shards_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("x.png");
    for (args, code, expected) in [
        (
            vec!["--supersample", "9"],
            1,
            "--supersample: supersampling 9 is out of range",
        ),
        (vec!["--shard", "3/3"], 2, "expected I/N with 0 <= I < N"),
    ] {
        let mut full = vec!["render"];
        full.extend(args.iter().copied());
        full.extend(["-o", path_text(&out)]);
        let output = moonbrot(&full);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert!(
            text(&output.stderr).contains(expected),
            "{}",
            text(&output.stderr)
        );
        assert!(!out.exists());
    }
}

/// Runs examples/cluster/render-shard.sh as a scheduler would, with `env` set.
fn run_shard_script(document: &Path, bands: &Path, env: &[(&str, String)]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster/render-shard.sh");
    let mut command = Command::new("bash");
    command
        .arg(&script)
        .arg(document)
        .arg(bands)
        .args(["--threads", "2"])
        .env("MOONBROT", env!("CARGO_BIN_EXE_moonbrot"))
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SHARDS");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("run render-shard.sh");
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn the_cluster_examples_shards_stitch_into_the_document_rendered_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (document, _) = render(
        dir.path(),
        "poster.png",
        &[
            "--kernel",
            "julia",
            "--size",
            "200x260",
            "--set",
            "c=-0.4,0.6",
        ],
    );
    let bands = dir.path().join("bands");
    // Two shards as Slurm array tasks, two as Kubernetes Indexed Job pods.
    for index in 0..2 {
        run_shard_script(
            &document,
            &bands,
            &[
                ("SLURM_ARRAY_TASK_ID", index.to_string()),
                ("SLURM_ARRAY_TASK_COUNT", "4".to_owned()),
            ],
        );
    }
    for index in 2..4 {
        run_shard_script(
            &document,
            &bands,
            &[
                ("JOB_COMPLETION_INDEX", index.to_string()),
                ("SHARDS", "4".to_owned()),
            ],
        );
    }
    let mut band_files: Vec<PathBuf> = std::fs::read_dir(&bands)
        .expect("bands")
        .map(|entry| entry.expect("entry").path())
        .collect();
    band_files.sort();
    assert_eq!(band_files.len(), 4);
    let poster = dir.path().join("stitched.png");
    let mut args = vec!["stitch", "-o", path_text(&poster)];
    args.extend(band_files.iter().map(|band| path_text(band)));
    let output = moonbrot(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(pixels(&poster), pixels(&document));

    // More tasks than bands: the extra tasks succeed and write nothing.
    let few = dir.path().join("few");
    for index in 0..12 {
        run_shard_script(
            &document,
            &few,
            &[
                ("JOB_COMPLETION_INDEX", index.to_string()),
                ("SHARDS", "12".to_owned()),
            ],
        );
    }
    let written = std::fs::read_dir(&few).expect("dir").count();
    assert!(written < 12 && written > 0, "{written} band files");

    // The Kubernetes Job's SHARDS matches its completions; the Slurm array counts from 0.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
    let job = std::fs::read_to_string(examples.join("kubernetes/poster-job.yaml")).expect("job");
    let completions = job
        .lines()
        .find_map(|line| line.trim().strip_prefix("completions: "))
        .expect("completions");
    assert!(
        job.contains(&format!("value: \"{completions}\"")),
        "SHARDS = completions"
    );
    assert!(job.contains("completionMode: Indexed"));
    let sbatch = std::fs::read_to_string(examples.join("slurm/poster.sbatch")).expect("sbatch");
    assert!(sbatch.contains("#SBATCH --array=0-"), "a 0-based array");
}

#[test]
fn a_zoom_film_goes_geometrically_from_the_view_to_the_target_in_documents() {
    let dir = tempfile::tempdir().expect("temp dir");
    let film = dir.path().join("film");
    let args = [
        "render",
        "--kernel",
        "mandelbrot",
        "--size",
        "48x32",
        "--center",
        "-0.5,0",
        "--span",
        "2",
        "--frames",
        "5",
        "--zoom-to",
        "-0.7453,0.1127,0.02",
        "-o",
        path_text(&film),
    ];
    let output = moonbrot(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let view_of = |frame: u32| {
        moonbrot::engine::output::read_document(&film.join(format!("frame-{frame:05}.png")))
            .expect("a frame document")
            .view
    };
    assert_eq!(view_of(0), moonbrot::engine::View::new(-0.5, 0.0, 2.0));
    // The target as typed: exact decimals.
    assert_eq!(
        view_of(4),
        moonbrot::engine::View::parse_location("-0.7453 0.1127 0.02").expect("location")
    );
    // Geometric: the middle frame's span is the geometric mean.
    assert!((view_of(2).span_f64() - (2.0_f64 * 0.02).sqrt()).abs() < 1e-12);
    for frame in 0..4 {
        assert!(view_of(frame + 1).span < view_of(frame).span);
    }

    // A shard renders every N-th frame only.
    let shard = dir.path().join("shard");
    let mut sharded = args.to_vec();
    sharded.truncate(sharded.len() - 1);
    sharded.extend([path_text(&shard), "--shard", "1/2"]);
    let output = moonbrot(&sharded);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&shard)
        .expect("frames")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["frame-00001.png", "frame-00003.png"]);
}

#[test]
fn raw_values_are_written_as_a_numpy_array_with_nan_inside() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("values.npy");
    let output = moonbrot(&[
        "render",
        "--kernel",
        "julia",
        "--size",
        "64x48",
        "--threads",
        "2",
        "-o",
        path_text(&out),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let bytes = std::fs::read(&out).expect("npy");
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("text");
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'shape': (48, 64)"),
        "{header}"
    );
    assert_eq!((10 + header_len) % 64, 0, "data aligned");
    let values: Vec<f32> = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect();
    assert_eq!(values.len(), 64 * 48);
    // The same render through the engine: NaN exactly where it is inside.
    let source = moonbrot::engine::kernel::shipped_kernel("julia")
        .expect("julia")
        .source;
    let rendered = moonbrot::engine::Engine::default()
        .render(
            &moonbrot::engine::RenderRequest {
                threads: 2,
                ..moonbrot::engine::RenderRequest::new(source, 64, 48)
            },
            &moonbrot::engine::CancelToken::new(),
        )
        .expect("renders");
    for (raw, value) in values.iter().zip(&rendered.image.values) {
        if *value < 0.0 {
            assert!(raw.is_nan());
        } else {
            assert_eq!(raw, value);
        }
    }
    assert!(
        values.iter().any(|value| value.is_nan()),
        "some pixels are inside"
    );

    let refused = moonbrot(&[
        "render",
        "--kernel",
        "julia",
        "--supersample",
        "2",
        "-o",
        path_text(&dir.path().join("x.npy")),
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("not supersampled"));
}
