//! The real window, opened by the real binary under Xvfb. `moonbrot --screenshot FILE`
//! waits for the first full render, saves a screenshot of the window and exits: one test
//! checks that the picture shows the fractal, not a blank or half-drawn window. Another
//! types into the editor with `xdotool`, stays idle, kills the process (SIGKILL) and starts
//! it again: the typed text must survive. Without `xvfb-run` (or `xdotool`) they are
//! fail saying what to install, unless MOONBROT_SKIP_GUI_TESTS=1 asks to skip them.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::cannot_run_gui_test;

fn have_tool(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|output| output.status.success())
}

fn have_xvfb() -> bool {
    have_tool("xvfb-run")
}

/// Distinct colours and the share of near-black pixels in a region of the screenshot.
fn region_stats(image: &image::RgbImage, x: (f32, f32), y: (f32, f32)) -> (usize, f64) {
    let (width, height) = image.dimensions();
    let mut colours = HashSet::new();
    let (mut dark, mut total) = (0_usize, 0_usize);
    for row in (y.0 * height as f32) as u32..(y.1 * height as f32) as u32 {
        for column in (x.0 * width as f32) as u32..(x.1 * width as f32) as u32 {
            let pixel = image.get_pixel(column, row).0;
            colours.insert(pixel);
            if pixel.iter().all(|channel| *channel < 12) {
                dark += 1;
            }
            total += 1;
        }
    }
    (colours.len(), dark as f64 / total.max(1) as f64)
}

#[test]
fn the_real_window_opens_and_draws_the_fractal() {
    if !have_xvfb() {
        cannot_run_gui_test("xvfb-run is not installed (apt-get install xvfb xauth)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let shot = dir.path().join("window.png");
    let runtime_dir = dir.path().join("runtime");
    std::fs::create_dir(&runtime_dir).expect("runtime dir");
    let output = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_moonbrot"))
        .arg("--screenshot")
        .arg(&shot)
        // A private home and runtime dir: the test never touches the user's saved state.
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .output()
        .expect("run xvfb-run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && !Path::new(&shot).exists() {
        cannot_run_gui_test(&format!(
            "the window could not open under Xvfb here: {stderr}"
        ));
        return;
    }
    assert!(
        output.status.success(),
        "moonbrot --screenshot failed: {stderr}"
    );
    let image = image::open(&shot).expect("a PNG screenshot").to_rgb8();
    let (width, height) = image.dimensions();
    assert!(
        width >= 1000 && height >= 600,
        "the window is {width}x{height}"
    );

    // The view area lies between the editor (left third) and the settings (right quarter).
    // Both halves must be drawn: a half-drawn render shows the dark background in one.
    for (name, rows) in [("top half", (0.08, 0.45)), ("bottom half", (0.55, 0.92))] {
        let (colours, dark_share) = region_stats(&image, (0.40, 0.70), rows);
        assert!(
            colours > 200,
            "the {name} of the view shows {colours} colours: not a fractal"
        );
        assert!(
            (0.02..0.9).contains(&dark_share),
            "the {name} of the view is {:.0}% black: blank or not drawn",
            dark_share * 100.0
        );
    }
    // The editor shows the kernel's text: light glyphs on a dark background.
    let (editor_colours, _) = region_stats(&image, (0.01, 0.30), (0.05, 0.50));
    assert!(
        editor_colours > 20,
        "the editor looks empty ({editor_colours} colours)"
    );
}

/// A private X server (`Xvfb -displayfd`, so it picks a free display itself), stopped on
/// drop.
struct VirtualDisplay {
    server: Child,
    display: String,
}

impl VirtualDisplay {
    fn start() -> Option<Self> {
        // -noreset: by default the server resets when its last client leaves (the killed
        // window, each xdotool call), and a connection made during the reset fails.
        let mut server = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1600x1000x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // Xvfb writes the display number once it accepts connections (or exits, closing
        // the pipe, when it cannot start).
        let mut line = String::new();
        let stdout = server.stdout.take()?;
        BufReader::new(stdout).read_line(&mut line).ok()?;
        let number = line.trim();
        if number.is_empty() {
            let _ = server.kill();
            let _ = server.wait();
            return None;
        }
        Some(Self {
            display: format!(":{number}"),
            server,
        })
    }
}

/// A private X server, once `tools` (each a command and the apt package that has it) and
/// Xvfb are there; None, having said what is missing (a failure unless told to skip).
fn display_with_tools(tools: &[(&str, &str)]) -> Option<VirtualDisplay> {
    let missing: Vec<&str> = std::iter::once(("Xvfb", "xvfb"))
        .chain(tools.iter().copied())
        .filter(|(command, _)| !have_tool(command))
        .map(|(_, package)| package)
        .collect();
    if !missing.is_empty() {
        cannot_run_gui_test(&format!(
            "a tool is missing (apt-get install {})",
            missing.join(" ")
        ));
        return None;
    }
    let display = VirtualDisplay::start();
    if display.is_none() {
        cannot_run_gui_test("Xvfb did not start");
    }
    display
}

impl Drop for VirtualDisplay {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The window app started as a user starts it (no arguments), with a private home, so its
/// saved state lies under `home/data/moonbrot`.
fn start_window(display: &VirtualDisplay, home: &Path) -> Child {
    start_window_with(display, home, &[])
}

/// As `start_window`, with command-line arguments.
fn start_window_with(display: &VirtualDisplay, home: &Path, args: &[&Path]) -> Child {
    let runtime_dir = home.join("runtime");
    std::fs::create_dir_all(&runtime_dir).expect("runtime dir");
    Command::new(env!("CARGO_BIN_EXE_moonbrot"))
        .args(args)
        .env("DISPLAY", &display.display)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(home.join("moonbrot.stderr"))
                .map_or_else(|_| Stdio::null(), Stdio::from),
        )
        .spawn()
        .expect("start moonbrot")
}

fn xdotool(display: &VirtualDisplay, args: &[&str]) -> String {
    let output = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", &display.display)
        .output()
        .expect("run xdotool");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Polls `condition` every 100 ms until it holds or `limit` passes; true if it held.
fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    condition()
}

/// The autosaved kernel of the window process `pid` started with its private `home`, in
/// the window folder named after that process, once it is written.
fn kernel_file_of(home: &Path, pid: u32) -> Option<PathBuf> {
    let windows = home.join("data").join("moonbrot").join("windows");
    std::fs::read_dir(windows)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|folder| {
            folder
                .file_name()
                .is_some_and(|name| name.to_string_lossy().contains(&format!("-{pid}-")))
        })
        .map(|folder| folder.join("kernel.lua"))
        .filter(|file| file.exists())
}

/// The window of the process `pid` (the one whose title ends in "moonbrot").
fn window_of(display: &VirtualDisplay, pid: u32) -> String {
    xdotool(
        display,
        &[
            "search",
            "--all",
            "--pid",
            &pid.to_string(),
            "--name",
            "moonbrot$",
        ],
    )
    .lines()
    .next()
    .unwrap_or_default()
    .to_owned()
}

/// Waits for the window to draw, then clicks into the editor's text, moves to its end and
/// types `line` on a new line, as a user would, until the autosaved kernel holds it. A
/// click that comes before the window has laid its editor out, or keys that arrive before
/// the click's focus took effect, have no outside sign: such an attempt is seen by the
/// line not reaching the saved kernel, and made again. The window's autosaved kernel is
/// `taken_up` for a window that took up an earlier window's folder, else in the folder
/// named after the process. Returns the window, its autosaved kernel and when the line
/// that reached the kernel was typed.
fn type_at_end_of_kernel(
    display: &VirtualDisplay,
    app: &mut Child,
    home: &Path,
    taken_up: Option<&Path>,
    line: &str,
) -> (String, PathBuf, Instant) {
    let mut window = String::new();
    let mut kernel_file = None;
    let found = wait_until(Duration::from_secs(120), || {
        window = window_of(display, app.id());
        kernel_file = match taken_up {
            Some(file) => Some(file.to_owned()).filter(|file| file.exists()),
            None => kernel_file_of(home, app.id()),
        };
        !window.is_empty() && kernel_file.is_some()
    });
    let stderr = || std::fs::read_to_string(home.join("moonbrot.stderr")).unwrap_or_default();
    assert!(
        found,
        "the window did not open or did not autosave (window: {window:?}, kernel file: \
         {kernel_file:?}, exit: {:?}, stderr: {})",
        app.try_wait(),
        stderr()
    );
    let kernel_file = kernel_file.unwrap_or_default();
    let kernel_file = kernel_file.as_path();
    // The window names its kernel in the title at the end of its first frame.
    let mut title = String::new();
    let drawn = wait_until(Duration::from_secs(60), || {
        title = xdotool(display, &["getwindowname", &window]);
        title.ends_with(" — moonbrot")
    });
    assert!(drawn, "the window never drew a frame (title {title:?})");
    let saved = || {
        std::fs::read_to_string(kernel_file)
            .unwrap_or_default()
            .contains(line)
    };
    for _ in 0..5 {
        // There is no window manager to raise the window or give it the keyboard focus on
        // a click (and with two windows, both lie at the same place).
        xdotool(display, &["windowraise", &window]);
        xdotool(display, &["windowfocus", "--sync", &window]);
        // Inside the editor's text, below the banner a safe start may show.
        xdotool(display, &["mousemove", "--window", &window, "150", "300"]);
        xdotool(display, &["click", "1"]);
        // egui's editor handles a frame's keys before its clicks, so keys drawn into the
        // same frame as the focusing click go nowhere (a missed ctrl+End puts the line where
        // the click left the caret). Under load a frame of software GL takes over half a
        // second; the pause lets the click's frame end first.
        std::thread::sleep(Duration::from_millis(2000));
        xdotool(display, &["key", "ctrl+End"]);
        std::thread::sleep(Duration::from_millis(200));
        // xdotool types "\n" as a key X does not map (the window sees nothing): Return.
        xdotool(display, &["key", "Return"]);
        // `--args 1 --`: the one argument is text, even where it starts with "--".
        xdotool(
            display,
            &["type", "--delay", "20", "--args", "1", "--", line],
        );
        let typed_at = Instant::now();
        if wait_until(Duration::from_secs(5), saved) {
            // Once, or an earlier attempt's keys did reach the editor and were saved only
            // when this attempt's input drew frames: saving must not wait for frames.
            let text = std::fs::read_to_string(kernel_file).unwrap_or_default();
            assert_eq!(
                text.matches(line).count(),
                1,
                "typed once, saved once, with nothing touched after:\n{text}"
            );
            assert!(
                text.trim_end().ends_with(line),
                "the line was saved, but not at the end of the kernel (ctrl+End was missed):\n{text}"
            );
            return (window, kernel_file.to_owned(), typed_at);
        }
    }
    panic!(
        "five times typed, {line:?} never reached the saved kernel:\n{}\nstderr: {}",
        std::fs::read_to_string(kernel_file).unwrap_or_default(),
        stderr()
    );
}

#[test]
fn typed_text_survives_a_kill_of_the_idle_window_and_is_there_after_a_restart() {
    let Some(display) = display_with_tools(&[("xdotool", "xdotool")]) else {
        return;
    };
    let home = tempfile::tempdir().expect("temp dir");

    // Type a line, then touch nothing: no frame needs to be drawn for it to be saved.
    let mut app = start_window(&display, home.path());
    let first_line = "-- typed before the first kill";
    let (window, kernel_file, typed_at) =
        type_at_end_of_kernel(&display, &mut app, home.path(), None, first_line);
    let saved_kernel = || std::fs::read_to_string(&kernel_file).unwrap_or_default();
    // The title bar names the kernel and marks the unsaved change.
    let mut title = String::new();
    let marked = wait_until(Duration::from_secs(5), || {
        title = xdotool(&display, &["getwindowname", &window]);
        title == "mandelbrot • — moonbrot"
    });
    let saved = wait_until(Duration::from_secs(5), || {
        saved_kernel().contains(first_line)
    });
    let idle_secs = typed_at.elapsed().as_secs_f64();
    app.kill().expect("SIGKILL the window");
    app.wait().expect("reap the window");
    assert!(
        saved,
        "5 s after typing, the saved kernel lacks the typed line:\n{}",
        saved_kernel()
    );
    eprintln!("the typed line was on disk {idle_secs:.1} s after the last keystroke");
    assert!(marked, "the window title is {title:?}");

    // The restarted window shows the kernel it was killed with: a line typed at its end
    // is saved after the first one, so the editor held the first one.
    let mut app = start_window(&display, home.path());
    let second_line = "-- typed after the restart";
    // It took up the killed window's folder: the line lands in the same file.
    let _ = type_at_end_of_kernel(
        &display,
        &mut app,
        home.path(),
        Some(&kernel_file),
        second_line,
    );
    let saved = wait_until(Duration::from_secs(5), || {
        saved_kernel().contains(second_line)
    });
    app.kill().expect("SIGKILL the window");
    app.wait().expect("reap the window");
    let text = saved_kernel();
    assert!(
        saved,
        "the line typed after the restart was not saved:\n{text}"
    );
    let first_at = text.find(first_line);
    let second_at = text.find(second_line);
    assert!(
        first_at.is_some() && first_at < second_at,
        "the restarted editor lost the line typed before the kill:\n{text}"
    );
    assert!(
        text.contains("function pixel"),
        "the kernel itself is gone:\n{text}"
    );
}

#[test]
fn lines_typed_and_followed_at_once_by_a_click_on_the_image_reach_the_disk_whole() {
    let Some(display) = display_with_tools(&[("xdotool", "xdotool")]) else {
        return;
    };
    let home = tempfile::tempdir().expect("temp dir");
    let mut app = start_window(&display, home.path());
    let (window, kernel_file, _) =
        type_at_end_of_kernel(&display, &mut app, home.path(), None, "-- ready");
    let lines = [
        "-- first line typed fast, then a click",
        "-- second line typed fast, then a click",
        "-- third line typed fast, then a click",
    ];
    let saved_text = || std::fs::read_to_string(&kernel_file).unwrap_or_default();
    let mut whole = true;
    for line in lines {
        // The first word tells whether the keys reached the editor at all: a click into
        // the editor that a loaded machine (a debug build, software GL) had not taken
        // before the keys came leaves nothing, and is tried again; a line that arrived
        // cut short is the failure this test is for.
        let start = &line[..line.find(" line").unwrap_or(line.len())];
        let mut arrived = false;
        for _ in 0..3 {
            xdotool(&display, &["windowfocus", "--sync", &window]);
            xdotool(&display, &["mousemove", "--window", &window, "150", "300"]);
            xdotool(&display, &["click", "1"]);
            std::thread::sleep(Duration::from_millis(2000));
            xdotool(&display, &["key", "ctrl+End", "Return"]);
            std::thread::sleep(Duration::from_millis(300));
            // The keys and the click on the image in one go, with no pause between them:
            // the window takes them in one frame.
            xdotool(
                &display,
                &[
                    "type",
                    "--delay",
                    "5",
                    "--args",
                    "1",
                    "--",
                    line,
                    "mousemove",
                    "--window",
                    &window,
                    "900",
                    "450",
                    "click",
                    "1",
                ],
            );
            let complete = || saved_text().lines().any(|saved| saved == line);
            if wait_until(Duration::from_secs(15), complete) {
                arrived = true;
                break;
            }
            if saved_text().contains(start) {
                break;
            }
        }
        if !arrived {
            whole = false;
            break;
        }
    }
    let text = std::fs::read_to_string(&kernel_file).unwrap_or_default();
    assert!(
        whole,
        "a line typed just before a click lost its end:\n{}",
        text.lines().rev().take(6).collect::<Vec<_>>().join("\n")
    );
}

/// True while a running window holds the lock of the window folder `folder`.
fn folder_is_held(folder: &Path) -> bool {
    let Ok(lock) = std::fs::OpenOptions::new()
        .write(true)
        .open(folder.join("lock"))
    else {
        return false;
    };
    matches!(lock.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

#[test]
fn two_windows_killed_with_a_line_typed_in_each_both_come_back_at_the_next_start() {
    let Some(display) = display_with_tools(&[("xdotool", "xdotool")]) else {
        return;
    };
    let home = tempfile::tempdir().expect("temp dir");
    let mut first = start_window(&display, home.path());
    let first_line = "-- typed in the first window";
    let (_, first_file, _) =
        type_at_end_of_kernel(&display, &mut first, home.path(), None, first_line);
    let mut second = start_window(&display, home.path());
    let second_line = "-- typed in the second window";
    let (_, second_file, _) =
        type_at_end_of_kernel(&display, &mut second, home.path(), None, second_line);
    assert_ne!(
        first_file, second_file,
        "each window saves into its own folder"
    );
    for app in [&mut first, &mut second] {
        app.kill().expect("SIGKILL a window");
        app.wait().expect("reap a window");
    }
    let has = |file: &Path, line: &str| {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .any(|saved| saved == line)
    };
    assert!(has(&first_file, first_line) && has(&second_file, second_line));

    // One start brings both back: it takes the newest folder and reopens the other in a
    // window of its own.
    let mut restarted = start_window(&display, home.path());
    let mut windows = Vec::new();
    let mut titles = Vec::new();
    let both = wait_until(Duration::from_secs(120), || {
        windows = xdotool(&display, &["search", "--name", "moonbrot$"])
            .lines()
            .map(str::to_owned)
            .collect();
        titles = windows
            .iter()
            .map(|window| xdotool(&display, &["getwindowname", window]))
            .collect();
        titles.len() == 2
            && titles
                .iter()
                .all(|title| title == "mandelbrot • — moonbrot")
            && folder_is_held(first_file.parent().expect("folder"))
            && folder_is_held(second_file.parent().expect("folder"))
    });
    let pids: Vec<String> = windows
        .iter()
        .map(|window| xdotool(&display, &["getwindowpid", window]))
        .collect();
    restarted.kill().expect("SIGKILL the window");
    restarted.wait().expect("reap the window");
    for pid in &pids {
        // One of them is the window killed just above.
        let _ = Command::new("kill")
            .args(["-9", pid])
            .stderr(Stdio::null())
            .status();
    }
    assert!(
        both,
        "after the restart: windows {titles:?}, first folder held: {}, second folder held: {}",
        folder_is_held(first_file.parent().expect("folder")),
        folder_is_held(second_file.parent().expect("folder"))
    );
    assert!(has(&first_file, first_line) && has(&second_file, second_line));
}

/// The colour of the window's pixel at (`x`, `y`), from a screenshot of the window.
fn window_pixel(display: &VirtualDisplay, window: &str, x: u32, y: u32) -> Option<[u8; 3]> {
    let shot = tempfile::Builder::new().suffix(".png").tempfile().ok()?;
    let taken = Command::new("import")
        .args(["-window", window])
        .arg(shot.path())
        .env("DISPLAY", &display.display)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !taken {
        return None;
    }
    let image = image::open(shot.path()).ok()?.to_rgb8();
    (x < image.width() && y < image.height()).then(|| image.get_pixel(x, y).0)
}

#[test]
fn a_kernel_file_saved_by_another_program_is_shown_at_once_and_unsaved_edits_are_asked_about() {
    let Some(display) = display_with_tools(&[("xdotool", "xdotool"), ("import", "imagemagick")])
    else {
        return;
    };
    let home = tempfile::tempdir().expect("temp dir");
    let kernel = home.path().join("flat.lua");
    let flat = |value: f64| format!("function pixel(x, y) return {value:?} end\n");
    std::fs::write(&kernel, flat(3.0)).expect("write");
    let mut app = start_window_with(&display, home.path(), &[&kernel]);
    let mut window = String::new();
    let named = wait_until(Duration::from_secs(120), || {
        window = window_of(&display, app.id());
        !window.is_empty()
            && xdotool(&display, &["getwindowname", &window]) == "flat.lua — moonbrot"
    });
    assert!(named, "the window never showed flat.lua");
    // Inside the image: the flat kernel paints all of it one colour.
    let (x, y) = (760, 420);
    let mut before = None;
    assert!(
        wait_until(Duration::from_secs(60), || {
            before = window_pixel(&display, &window, x, y);
            before.is_some_and(|colour| colour != [0, 0, 0])
        }),
        "the image never showed: {before:?}"
    );

    let mut latencies = Vec::new();
    for (value, by_rename) in [(40.0, false), (90.0, true)] {
        let shown_before = window_pixel(&display, &window, x, y);
        let written_at = Instant::now();
        if by_rename {
            let temporary = home.path().join(".flat.lua.swp");
            std::fs::write(&temporary, flat(value)).expect("write");
            std::fs::rename(&temporary, &kernel).expect("rename over");
        } else {
            std::fs::write(&kernel, flat(value)).expect("rewrite");
        }
        let changed = wait_until(Duration::from_secs(10), || {
            window_pixel(&display, &window, x, y).is_some_and(|colour| Some(colour) != shown_before)
        });
        assert!(
            changed,
            "the image did not change after the file was {}",
            if by_rename {
                "renamed over"
            } else {
                "rewritten"
            }
        );
        latencies.push(written_at.elapsed().as_secs_f64());
    }
    eprintln!(
        "the window showed the rewritten file {:.2} s and the renamed one {:.2} s after the write \
         (including screenshot time)",
        latencies[0], latencies[1]
    );

    // With unsaved edits in the editor, a save by another program asks first.
    let (_, _, _) = type_at_end_of_kernel(&display, &mut app, home.path(), None, "-- mine");
    std::fs::write(&kernel, flat(7.0)).expect("rewrite");
    let mut title = String::new();
    let asked = wait_until(Duration::from_secs(10), || {
        title = xdotool(&display, &["getwindowname", &window]);
        title.contains("(changed on disk)")
    });
    app.kill().expect("SIGKILL the window");
    app.wait().expect("reap the window");
    assert!(
        asked,
        "no question over the unsaved edits (title {title:?})"
    );
}

/// The CPU time (user + system) the process `pid` has used, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses: utime and
    // stime are the 14th and 15th fields of the line, the 12th and 13th after it.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The share of one core the process used over `seconds`, in percent.
fn cpu_percent_over(pid: u32, seconds: u64) -> f64 {
    // Clock ticks per second: 100 on Linux (USER_HZ).
    const TICKS_PER_SECOND: f64 = 100.0;
    let before = cpu_ticks(pid).unwrap_or(0);
    std::thread::sleep(Duration::from_secs(seconds));
    let after = cpu_ticks(pid).unwrap_or(0);
    (after.saturating_sub(before)) as f64 / TICKS_PER_SECOND / seconds as f64 * 100.0
}

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn idle_window_cpu_benchmark() {
    let Some(display) = display_with_tools(&[("xdotool", "xdotool")]) else {
        return;
    };
    let home = tempfile::tempdir().expect("temp dir");
    let mut app = start_window(&display, home.path());
    // Typing proves the editor has the focus (and waits for the first render to end).
    let (window, _, _) = type_at_end_of_kernel(&display, &mut app, home.path(), None, "-- idle");
    std::thread::sleep(Duration::from_secs(3));
    let editor_focused = cpu_percent_over(app.id(), 10);
    xdotool(&display, &["mousemove", "--window", &window, "900", "450"]);
    xdotool(&display, &["click", "1"]);
    std::thread::sleep(Duration::from_secs(3));
    let image_focused = cpu_percent_over(app.id(), 10);
    app.kill().expect("SIGKILL the window");
    app.wait().expect("reap the window");
    eprintln!(
        "idle window, 10 s each (/proc/PID/stat): editor focused {editor_focused:.1}% of a core, \
         image focused {image_focused:.1}%"
    );
}
