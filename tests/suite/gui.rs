//! The explorer window driven headless through egui_kittest: the real app, its real
//! background threads and engine, with fake file dialogs. Each test waits for renders to
//! finish by stepping the harness until the app is idle.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use egui::{Event, Modifiers, MouseWheelSource, MouseWheelUnit, Pos2, TouchPhase, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use moonbrot::engine::geometry::BigFloat;
use moonbrot::engine::{KernelError, Precision, RenderError, View};
use moonbrot::gui::{
    AppOptions, COLOURING_SOURCE_LABEL, DialogPurpose, FileDialogs, MoonbrotApp, SOURCE_LABEL,
    Settings, SizeChoice, complex_at,
};

/// File dialogs that answer with a path set by the test and never open a window.
#[derive(Default)]
struct FakeDialogs {
    answer: Mutex<Option<PathBuf>>,
    asked: Mutex<Vec<DialogPurpose>>,
}

impl FileDialogs for FakeDialogs {
    fn pick_file_to_open(&self, purpose: DialogPurpose) -> Option<PathBuf> {
        self.asked.lock().unwrap().push(purpose);
        self.answer.lock().unwrap().clone()
    }

    fn pick_file_to_save(&self, purpose: DialogPurpose, _file_name: &str) -> Option<PathBuf> {
        self.asked.lock().unwrap().push(purpose);
        self.answer.lock().unwrap().clone()
    }
}

/// Small, fast defaults: a 320-wide image, 2 threads.
fn test_settings() -> Settings {
    Settings {
        size: SizeChoice::Width(320),
        threads: 2,
        ..Settings::default()
    }
}

fn harness_with(settings: Settings, dialogs: Arc<FakeDialogs>) -> Harness<'static, MoonbrotApp> {
    harness_with_options(AppOptions {
        file_dialogs: dialogs,
        settings: Some(settings),
        ..AppOptions::default()
    })
}

/// The real app started with `options`, stepped until idle.
fn harness_with_options(options: AppOptions) -> Harness<'static, MoonbrotApp> {
    let mut harness = Harness::builder()
        .with_size(Vec2::new(1400.0, 860.0))
        .build_eframe(move |cc| MoonbrotApp::new(cc, options).expect("the app starts"));
    settle(&mut harness);
    harness
}

fn harness() -> Harness<'static, MoonbrotApp> {
    harness_with(test_settings(), Arc::default())
}

/// Steps until the app has been idle (no render due or running, no background job) for
/// several frames in a row, so results are drawn and layout has settled.
fn settle(harness: &mut Harness<'_, MoonbrotApp>) {
    const IDLE_FRAMES: usize = 5;
    // Generous: the deep wheel test's renders (a 3.9M-step reference in the unoptimised
    // test build) take half a minute alone, longer beside the other tests on 2 cores.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut idle_frames = 0;
    while idle_frames < IDLE_FRAMES {
        assert!(
            Instant::now() < deadline,
            "the app never became idle: {}",
            harness.state().busy_reasons()
        );
        harness.step();
        if harness.state().is_busy() {
            idle_frames = 0;
            std::thread::sleep(Duration::from_millis(5));
        } else {
            idle_frames += 1;
        }
    }
}

fn canvas_center(harness: &Harness<'_, MoonbrotApp>) -> Pos2 {
    harness.state().canvas_rect().center()
}

#[test]
fn the_window_opens_on_the_mandelbrot_kernel_with_an_image() {
    let harness = harness();
    let app = harness.state();
    assert!(app.error().is_none(), "{:?}", app.error());
    let (view, image) = app.shown_image().expect("an image is shown");
    assert_eq!(image.width_px, 320);
    assert_eq!(*view, moonbrot::engine::View::new(-0.6, 0.0, 2.6));
    assert_eq!(app.runs().len(), 1);
    harness.get_by_label(SOURCE_LABEL);
    // The home view straddles the real axis, and mandelbrot declares its symmetry.
    harness.get_by_label("Mirrored");
}

#[test]
fn a_pan_computes_only_the_new_strips_and_shows_what_a_full_render_gives() {
    let mut harness = harness();
    let start = canvas_center(&harness);
    harness.drag_at(start);
    harness.step();
    harness.hover_at(start + Vec2::new(-70.0, 25.0));
    harness.step();
    harness.drop_at(start + Vec2::new(-70.0, 25.0));
    settle(&mut harness);
    let app = harness.state();
    let last = app.runs().last().expect("a run");
    let pixels = u64::from(last.size_px.0) * u64::from(last.size_px.1);
    assert!(
        last.timings.kept_pixels > pixels / 2,
        "the pan kept {} of {pixels} pixels",
        last.timings.kept_pixels
    );
    let (view, shown) = app.shown_image().expect("an image");
    let full = moonbrot::engine::Engine::default()
        .render(
            &moonbrot::engine::RenderRequest {
                view: Some(view.clone()),
                threads: 2,
                ..moonbrot::engine::RenderRequest::new(
                    app.settings().kernel.text(),
                    shown.width_px,
                    shown.height_px,
                )
            },
            &moonbrot::engine::CancelToken::new(),
        )
        .expect("renders");
    let differing = full
        .image
        .values
        .iter()
        .zip(&shown.values)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(differing, 0, "the window shows exactly a full render");
}

#[test]
fn a_drag_pans_the_view() {
    let mut harness = harness();
    let before = harness.state().view();
    let start = canvas_center(&harness);
    harness.drag_at(start);
    harness.step();
    harness.hover_at(start + Vec2::new(60.0, 0.0));
    harness.step();
    harness.hover_at(start + Vec2::new(120.0, 40.0));
    harness.step();
    harness.drop_at(start + Vec2::new(120.0, 40.0));
    settle(&mut harness);
    let after = harness.state().view();
    assert!(
        after.center_x < before.center_x,
        "dragging right shows what was left"
    );
    assert!(
        after.center_y > before.center_y,
        "dragging down shows what was above"
    );
    assert_eq!(after.span, before.span);
    assert!(
        harness.state().settings().history.can_go_back(),
        "the old view is in the history"
    );
    let (shown_view, _) = harness.state().shown_image().expect("image");
    assert_eq!(*shown_view, after, "the new view was rendered");
}

#[test]
fn one_wheel_step_zooms_about_the_cursor() {
    let mut harness = harness();
    let area = harness.state().canvas_rect();
    let cursor = area.center() + Vec2::new(97.0, -61.0);
    let size_px = harness.state().image_size_px();
    let before_view = harness.state().view();
    let before_point = complex_at(area, &before_view, size_px, cursor);
    harness.hover_at(cursor);
    harness.step();
    harness.event(Event::MouseWheel {
        unit: MouseWheelUnit::Line,
        delta: Vec2::new(0.0, 1.0),
        phase: TouchPhase::Move,
        source: MouseWheelSource::Unknown,
        modifiers: Modifiers::NONE,
    });
    harness.step();
    let after_view = harness.state().view();
    assert!(after_view.span < before_view.span, "one step up zooms in");
    let after_point = complex_at(area, &after_view, size_px, cursor);
    let pixel = after_view.scale_per_pixel(size_px.1);
    let moved = ((after_point.0 - before_point.0).to_f64().powi(2)
        + (after_point.1 - before_point.1).to_f64().powi(2))
    .sqrt();
    assert!(
        moved < pixel,
        "the point under the cursor moved {moved}, a pixel is {pixel}"
    );
    settle(&mut harness);
}

/// Turns the wheel up (zooming in about the pointer), ten lines a notch, a frame each,
/// until the view's span is at most `span`.
fn wheel_in_until(harness: &mut Harness<'_, MoonbrotApp>, span_log2: f64) {
    while harness.state().view().span.log2() > span_log2 {
        harness.event(Event::MouseWheel {
            unit: MouseWheelUnit::Line,
            delta: Vec2::new(0.0, 10.0),
            phase: TouchPhase::Move,
            source: MouseWheelSource::Unknown,
            modifiers: Modifiers::NONE,
        });
        harness.step();
    }
}

/// The seahorse-valley point, with 33 digits.
const SEAHORSE_LOCATION: &str = "--center=-0.743643887037158704752191506114774,\
                                 0.131825904205311970493132056385139 --span 1e-9";

#[test]
fn a_pasted_location_goes_there_and_copy_location_gives_every_digit_back() {
    let mut harness = harness();
    harness.event(Event::Paste(SEAHORSE_LOCATION.to_owned()));
    harness.step();
    let expected = View::parse_location(SEAHORSE_LOCATION).expect("location");
    assert_eq!(harness.state().view(), expected);
    settle(&mut harness);
    // The key-down event alone (one frame), so this frame's output holds the copy.
    harness.event(Event::Key {
        key: egui::Key::C,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: Modifiers::COMMAND | Modifiers::SHIFT,
    });
    harness.step();
    let copied: Vec<String> = harness
        .output()
        .platform_output
        .commands
        .iter()
        .filter_map(|command| match command {
            egui::OutputCommand::CopyText(text) => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(copied.len(), 1, "one copy: {copied:?}");
    assert_eq!(View::parse_location(&copied[0]), Ok(expected.clone()));
    // Text that is no location changes nothing and says why.
    harness.event(Event::Paste("hello".to_owned()));
    harness.step();
    assert_eq!(harness.state().view(), expected);
    let notice = harness.state().location_notice().unwrap_or_default();
    assert!(notice.contains("not a location"), "{notice}");
    // Said in the window, as a message of ordinary size (not the small print it was).
    harness.step();
    harness.get_by_label_contains("The pasted text is not a location");
}

#[test]
fn wheeling_past_1e_minus_13_switches_to_perturbation_and_keeps_the_point_under_the_cursor() {
    // Deep in the seahorse valley pixels escape after thousands of iterations.
    let mut harness = harness_with(
        Settings {
            max_iter: Some(4000),
            ..test_settings()
        },
        Arc::default(),
    );
    harness.event(Event::Paste(SEAHORSE_LOCATION.to_owned()));
    settle(&mut harness);
    // At 1e-9 f64 still holds; precision auto takes perturbation there instead only where
    // a probe shows it 1.5 times as fast, which on some machines it is (the probe is near
    // that line), so either may show.
    let shallow = harness.state().shown_precision();
    assert!(
        matches!(shallow, Some(Precision::Double | Precision::Perturbation)),
        "{shallow:?}"
    );
    let area = harness.state().canvas_rect();
    let cursor = area.center() + Vec2::new(37.0, -23.0);
    let size_px = harness.state().image_size_px();
    let start = complex_at(area, &harness.state().view(), size_px, cursor);
    harness.hover_at(cursor);
    harness.step();
    // Ten lines a notch, 1.25 per line: from 1e-9 to below 1e-16 in eight notches.
    wheel_in_until(&mut harness, (1e-16_f64).log2());
    settle(&mut harness);
    let view = harness.state().view();
    let end = complex_at(area, &view, size_px, cursor);
    let pixel = view.scale_per_pixel(size_px.1);
    let moved = ((end.0 - start.0).to_f64().powi(2) + (end.1 - start.1).to_f64().powi(2)).sqrt();
    assert!(
        moved < pixel,
        "the point under the cursor moved {moved:e}, a pixel is {pixel:e}"
    );
    // The default kernel (mandelbrot) declares its formula: deep, it renders by
    // perturbation.
    assert_eq!(
        harness.state().shown_precision(),
        Some(Precision::Perturbation)
    );
    harness.get_by_label_contains("precision: perturbation (");
    let (shown_view, image) = harness.state().shown_image().expect("image");
    assert_eq!(*shown_view, view);
    let distinct = crate::support::distinct_values(&image.values);
    assert!(distinct > 100, "detail, not blocks: {} values", distinct);
}

/// Puts i exactly under the canvas's centre at `start_span` (decimal text), wheels in about
/// it until the span is below 2^`until_log2`, and checks the render there: by perturbation, with
/// the automatic limit, with detail, and i still exactly under the cursor.
///
/// c = i is on the set's boundary and the set looks alike about it at every depth (its
/// orbit 0, i, -1 + i, -i, -1 + i, ... neither escapes nor settles): a wheel about it finds
/// detail however deep it goes.
fn wheel_about_i_renders_by_perturbation(start_span: &str, until_log2: f64) {
    let mut harness = harness();
    harness.event(Event::Paste(format!("--center=0,1 --span {start_span}")));
    settle(&mut harness);
    let area = harness.state().canvas_rect();
    let size_px = harness.state().image_size_px();
    let cursor = area.center();
    // The point under the cursor is i to a fraction of a pixel; the view moves by that
    // fraction so that it is i exactly, which the wheel then keeps under the cursor.
    let (x, y) = complex_at(area, &harness.state().view(), size_px, cursor);
    let (zero, one) = (BigFloat::zero(), BigFloat::from_f64(1.0));
    let centre = (&zero - &x, &(&one - &y) + &one);
    harness.event(Event::Paste(format!(
        "--center={},{} --span {start_span}",
        centre.0.to_decimal(),
        centre.1.to_decimal()
    )));
    settle(&mut harness);
    let i = (zero, one);
    assert_eq!(
        complex_at(area, &harness.state().view(), size_px, cursor),
        i
    );
    harness.hover_at(cursor);
    harness.step();
    wheel_in_until(&mut harness, until_log2);
    settle(&mut harness);
    let view = harness.state().view();
    assert!(view.span.log2() < until_log2, "{}", view.span.log2());
    assert_eq!(
        complex_at(area, &view, size_px, cursor),
        i,
        "the wheel keeps the point under the cursor exactly"
    );
    assert_eq!(
        harness.state().shown_precision(),
        Some(Precision::Perturbation)
    );
    harness.get_by_label_contains("precision: perturbation (");
    harness.get_by_label_contains("(automatic)");
    let (shown_view, image) = harness.state().shown_image().expect("image");
    assert_eq!(*shown_view, view);
    let distinct = crate::support::distinct_values(&image.values);
    assert!(distinct > 100, "detail, not blocks: {} values", distinct);
}

#[test]
fn wheeling_past_1e_minus_40_renders_by_perturbation_with_detail_and_an_automatic_limit() {
    wheel_about_i_renders_by_perturbation("1e-3", (1e-41_f64).log2());
}

#[test]
fn wheeling_past_1e_minus_400_keeps_the_point_under_the_cursor_and_renders_with_detail() {
    // Past f64's range: the pixel grid is scaled and the wheel works in BigFloat.
    wheel_about_i_renders_by_perturbation("1e-395", -401.0 * 10_f64.log2());
}

#[test]
fn typing_a_syntax_error_shows_it_at_its_line_and_keeps_the_image() {
    let mut harness = harness();
    let (view_before, image_before) = {
        let (view, image) = harness.state().shown_image().expect("image");
        (view.clone(), image.clone())
    };
    let lines = harness.state().kernel().text().lines().count();
    harness.get_by_label(SOURCE_LABEL).focus();
    harness.step();
    harness.key_press_modifiers(Modifiers::COMMAND, egui::Key::End);
    harness.step();
    // The source ends with a newline: the cursor is at the start of line `lines + 1`.
    harness
        .get_by_label(SOURCE_LABEL)
        .type_text("local broken = = 1\n");
    settle(&mut harness);
    let source = harness.state().kernel().text().to_owned();
    assert!(
        source.ends_with("local broken = = 1\n"),
        "typed at the end: {source:?}"
    );
    match harness.state().error() {
        Some(RenderError::Kernel(KernelError::Syntax { line, .. })) => {
            assert_eq!(*line, Some(lines as u32 + 1))
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    harness.get_by_label_contains(&format!("kernel line {}", lines + 1));
    // The message appeared above the editor; the editor keeps the keyboard, so typing
    // on (no click, no new focus) still goes into the kernel.
    harness.event(egui::Event::Text("-- typed on".to_owned()));
    settle(&mut harness);
    let source = harness.state().kernel().text().to_owned();
    assert!(
        source.ends_with("local broken = = 1\n-- typed on"),
        "the editor lost the keyboard when the error appeared: {source:?}"
    );
    let (view_after, image_after) = harness.state().shown_image().expect("the old image stays");
    assert_eq!(
        (view_after.clone(), image_after),
        (view_before, &image_before)
    );
}

#[test]
fn run_renders_again() {
    let mut harness = harness();
    let runs = harness.state().runs().len();
    harness.get_by_label("Run").click();
    settle(&mut harness);
    assert_eq!(harness.state().runs().len(), runs + 1);
}

#[test]
fn a_thread_count_change_shows_in_the_timings() {
    let mut harness = harness();
    assert_eq!(
        harness.state().runs().last().map(|run| run.threads),
        Some(2)
    );
    harness.get_by_label("Threads").set_value_accesskit(1.0);
    settle(&mut harness);
    let run = harness.state().runs().last().expect("a run").clone();
    assert_eq!(run.threads, 1);
    assert_eq!(run.timings.threads.len(), 1);
    harness.get_by_label_contains("#0:");
    assert!(
        harness.query_by_label_contains("#1:").is_none(),
        "one thread, one load bar"
    );
    harness.get_by_label("Threads").set_value_accesskit(2.0);
    settle(&mut harness);
    let run = harness.state().runs().last().expect("a run").clone();
    assert!(
        run.speedup.is_some(),
        "a 2-thread run after a 1-thread run shows its speedup"
    );
}

#[test]
fn export_writes_a_png_to_the_chosen_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("exported.png");
    let dialogs = Arc::new(FakeDialogs::default());
    *dialogs.answer.lock().unwrap() = Some(path.clone());
    let mut harness = harness_with(test_settings(), Arc::clone(&dialogs));
    harness.key_press_modifiers(Modifiers::COMMAND, egui::Key::E);
    harness.step();
    harness.get_by_label("Choose file and export…").click();
    settle(&mut harness);
    assert_eq!(
        *dialogs.asked.lock().unwrap(),
        vec![DialogPurpose::ExportPng]
    );
    assert!(
        matches!(harness.state().export_outcome(), Some(Ok(written)) if *written == path),
        "{:?}",
        harness.state().export_outcome()
    );
    let image = image::open(&path).expect("a PNG").to_rgb8();
    let size = harness.state().image_size_px();
    assert_eq!(
        image.dimensions(),
        (size.0 * 2, size.1 * 2),
        "2× is the default export size"
    );
    let metadata = moonbrot::engine::output::read_document(&path).expect("metadata");
    assert_eq!(metadata.kernel_source, harness.state().kernel().text());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(leftovers.len(), 1, "only the PNG is left");
}

#[test]
fn a_failed_export_says_why_and_leaves_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dialogs = Arc::new(FakeDialogs::default());
    *dialogs.answer.lock().unwrap() = Some(dir.path().join("missing/out.png"));
    let mut harness = harness_with(test_settings(), Arc::clone(&dialogs));
    harness.key_press_modifiers(Modifiers::COMMAND, egui::Key::E);
    harness.step();
    harness.get_by_label("Choose file and export…").click();
    settle(&mut harness);
    match harness.state().export_outcome() {
        Some(Err(error)) => assert!(error.to_string().contains("does not exist"), "{error}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    harness.get_by_label_contains("Export failed");
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
}

#[test]
fn a_palette_change_recolours_the_image_on_screen_without_rendering() {
    let Some(mut harness) = wgpu_harness() else {
        return;
    };
    let before = harness.state().settings().palette.clone();
    let after = moonbrot::engine::output::Palette {
        gradient: moonbrot::engine::output::Gradient::shipped("fire").expect("shipped"),
        offset: 0.5,
        ..before.clone()
    };
    let runs = harness.state().runs().len();
    let ctx = harness.ctx.clone();
    harness.state_mut().apply(
        &ctx,
        moonbrot::gui::Command::Set(moonbrot::gui::RenderSetting::Palette(after.clone())),
    );
    settle(&mut harness);
    assert_eq!(harness.state().runs().len(), runs, "no new render");
    let (_, image) = harness.state().shown_image().expect("an image");
    let (expected_before, expected_after) = (
        mean_colour_of(&before, image),
        mean_colour_of(&after, image),
    );
    let on_screen = mean_colour_on_screen(&mut harness);
    let apart = colour_distance(expected_before, expected_after);
    assert!(
        apart > 20.0,
        "the two palettes look alike ({apart}): no test"
    );
    assert!(
        colour_distance(on_screen, expected_after) < apart / 4.0,
        "the pixels on screen ({on_screen:?}) are not the new palette's ({expected_after:?}; \
         the old one's: {expected_before:?})"
    );
}

/// A harness that renders with wgpu (a GPU or Mesa's software renderer), settled; None
/// (after saying why, or failing unless skipping is asked) when there is no renderer.
fn wgpu_harness() -> Option<Harness<'static, MoonbrotApp>> {
    // The renderer must see every texture upload, so it starts with the harness; without a
    // GPU or software adapter that fails (and the test with it, unless skipping is asked).
    let built = std::panic::catch_unwind(|| {
        let mut harness = Harness::builder()
            .with_size(Vec2::new(1400.0, 860.0))
            .wgpu()
            .build_eframe(|cc| {
                MoonbrotApp::new(
                    cc,
                    AppOptions {
                        file_dialogs: Arc::new(FakeDialogs::default()),
                        screenshot: None,
                        settings: Some(test_settings()),
                        ..AppOptions::default()
                    },
                )
                .expect("the app starts")
            });
        settle(&mut harness);
        harness
    });
    match built {
        Ok(harness) => Some(harness),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_default();
            crate::support::cannot_run_gui_test(&format!(
                "no GPU or software renderer (mesa-vulkan-drivers) for snapshots: {message}"
            ));
            None
        }
    }
}

/// The mean colour (r, g, b) of the image area as the window draws it.
fn mean_colour_on_screen(harness: &mut Harness<'_, MoonbrotApp>) -> [f64; 3] {
    let area = harness.state().canvas_rect();
    let scale = f64::from(harness.ctx.pixels_per_point());
    let shot = harness.render().expect("the window renders");
    let mut sum = [0.0; 3];
    let mut count = 0.0;
    for (x, y, pixel) in shot.enumerate_pixels() {
        let point = Pos2::new((f64::from(x) / scale) as f32, (f64::from(y) / scale) as f32);
        if area.shrink(4.0).contains(point) {
            for channel in 0..3 {
                sum[channel] += f64::from(pixel[channel]);
            }
            count += 1.0;
        }
    }
    sum.map(|total| total / count)
}

/// The mean colour of `image` coloured with `palette`.
fn mean_colour_of(
    palette: &moonbrot::engine::output::Palette,
    image: &moonbrot::engine::ValueImage,
) -> [f64; 3] {
    let rgb = palette.colourize(image);
    let mut sum = [0.0; 3];
    for pixel in rgb.pixels() {
        for channel in 0..3 {
            sum[channel] += f64::from(pixel[channel]);
        }
    }
    sum.map(|total| total / f64::from(rgb.width() * rgb.height()))
}

fn colour_distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn the_whole_window_matches_its_snapshot() {
    let Some(mut harness) = wgpu_harness() else {
        return;
    };
    // Figures that change from run to run (timings, frame time) are masked out.
    let side_panel = harness.get_by_label_contains("Timings").rect();
    let window = harness.ctx.content_rect();
    harness.mask(egui::Rect::from_min_max(
        Pos2::new(side_panel.left() - 8.0, side_panel.top()),
        Pos2::new(window.right(), window.bottom()),
    ));
    // Software renderers differ a little between Mesa versions: allow a few stray pixels.
    let options = egui_kittest::SnapshotOptions::new()
        .threshold(2.0)
        .max_failed_pixels(2000);
    harness.snapshot_options("moonbrot_window", &options);
}

/// An in-memory eframe storage.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }

    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }

    fn flush(&mut self) {}
}

#[test]
fn settings_survive_a_restart_and_a_corrupted_state_falls_back_to_defaults() {
    let mut storage = MemoryStorage::default();
    // A kernel from a file, with unsaved edits: every stored field of the document is set.
    let mut document = moonbrot::gui::EditedKernel::new(
        "function pixel(x, y) return 1 end\n".to_owned(),
        moonbrot::gui::Origin::File(PathBuf::from("/kernels/mine.lua")),
    );
    document.set_text("-- my unsaved kernel\nfunction pixel(x, y) return 1 end\n".to_owned());
    assert!(document.is_dirty());
    let settings = Settings {
        kernel: document,
        view: Some(moonbrot::engine::View::new(-0.75, 0.1, 0.01)),
        threads: 3,
        ..test_settings()
    };
    moonbrot::gui::store_settings(&mut storage, &settings);
    assert_eq!(moonbrot::gui::restore_settings(Some(&storage)), settings);

    for garbage in ["", "(((", "not ron at all", "(source: 42)"] {
        storage
            .0
            .insert(eframe::APP_KEY.to_owned(), garbage.to_owned());
        assert_eq!(
            moonbrot::gui::restore_settings(Some(&storage)),
            Settings::default(),
            "{garbage:?}"
        );
    }
    assert_eq!(moonbrot::gui::restore_settings(None), Settings::default());
}

#[test]
fn save_writes_the_kernel_and_open_reads_it_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mine.lua");
    let dialogs = Arc::new(FakeDialogs::default());
    *dialogs.answer.lock().unwrap() = Some(path.clone());
    let mut harness = harness_with(test_settings(), Arc::clone(&dialogs));
    harness.get_by_label("Save as…").click();
    settle(&mut harness);
    let saved = std::fs::read_to_string(&path).expect("the kernel was saved");
    assert_eq!(saved, harness.state().kernel().text());
    assert_eq!(harness.state().kernel().file_path(), Some(path.as_path()));

    // Change the file on disk, then open it: the editor shows the file's text.
    std::fs::write(
        &path,
        "-- edited elsewhere\nfunction pixel(x, y) return x end\n",
    )
    .expect("write");
    harness.key_press_modifiers(Modifiers::COMMAND, egui::Key::O);
    settle(&mut harness);
    assert!(
        harness
            .state()
            .kernel()
            .text()
            .starts_with("-- edited elsewhere")
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        1,
        "no temporary files left"
    );
}

#[test]
fn loading_a_kernel_over_unsaved_edits_asks_first() {
    let mut harness = harness();
    let edited = "-- precious work\nfunction pixel(x, y) return y end\n".to_owned();
    harness.state_mut().type_kernel(&edited);
    let ctx = harness.ctx.clone();
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::LoadShipped("julia"));
    harness.run_steps(2);
    assert_eq!(
        harness.state().kernel().text(),
        edited,
        "nothing is replaced before the user says so"
    );
    harness.get_by_label("Keep my text").click();
    settle(&mut harness);
    assert_eq!(harness.state().kernel().text(), edited);
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::LoadShipped("julia"));
    harness.run_steps(2);
    harness.get_by_label("Replace").click();
    settle(&mut harness);
    assert!(harness.state().kernel().text().contains("Julia set"));
}

/// A benchmark, not a check (timing assertions do not belong in tests on shared machines):
/// how long the UI takes to build each frame while a large render streams in. Run it with
/// `cargo test --release --test tests ui_frame_time -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn ui_frame_time_while_rendering_benchmark() {
    let settings = Settings {
        size: SizeChoice::Width(1920),
        max_iter: Some(3000),
        ..test_settings()
    };
    let mut harness = harness_with(settings, Arc::default());
    // Start a render once the window has settled (first render and highlighting done).
    let ctx = harness.ctx.clone();
    let view = harness.state().view();
    harness.state_mut().apply(
        &ctx,
        moonbrot::gui::Command::Navigate(moonbrot::gui::ViewChange {
            view: view.zoomed_about((-0.75, 0.1), 4.0),
            gesture: moonbrot::gui::Gesture::Discrete,
        }),
    );
    let mut frame_ms = Vec::new();
    let started = Instant::now();
    harness.step();
    while harness.state().is_busy() && started.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(16));
        harness.step();
        frame_ms.push(harness.state().frame_secs().0 * 1e3);
    }
    // What was measured must be what was meant: the zoomed render, complete, at 1920 wide.
    assert!(
        !harness.state().is_busy(),
        "the render did not finish in 120 s"
    );
    assert!(!frame_ms.is_empty(), "no frames were measured");
    let run = harness.state().runs().last().expect("a run").clone();
    assert_eq!(run.size_px.0, 1920);
    let (shown_view, _) = harness.state().shown_image().expect("an image");
    assert_eq!(
        *shown_view,
        harness.state().view(),
        "the zoomed view was rendered"
    );
    frame_ms.sort_by(f64::total_cmp);
    let at = |fraction: f64| frame_ms[((frame_ms.len() - 1) as f64 * fraction) as usize];
    eprintln!(
        "UI frame while rendering {}x{} ({:.2} s): {} frames, median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        run.size_px.0,
        run.size_px.1,
        run.timings.wall_secs,
        frame_ms.len(),
        at(0.5),
        at(0.95),
        at(1.0)
    );
}

#[test]
fn rapid_pans_and_zooms_while_rendering_end_on_the_right_image() {
    let settings = Settings {
        size: SizeChoice::Width(640),
        max_iter: Some(2000),
        ..test_settings()
    };
    let mut harness = harness_with(settings, Arc::default());
    let center = canvas_center(&harness);
    let wheel = |harness: &Harness<'_, MoonbrotApp>, steps: f32| {
        harness.event(Event::MouseWheel {
            unit: MouseWheelUnit::Line,
            delta: Vec2::new(0.0, steps),
            phase: TouchPhase::Move,
            source: MouseWheelSource::Unknown,
            modifiers: Modifiers::NONE,
        });
    };
    for round in 0..40 {
        let offset = Vec2::new(
            (round % 7) as f32 * 9.0 - 27.0,
            (round % 5) as f32 * 7.0 - 14.0,
        );
        match round % 4 {
            0 => {
                harness.drag_at(center);
                harness.step();
                harness.hover_at(center + offset);
                harness.step();
                harness.drop_at(center + offset);
            }
            1 => {
                harness.hover_at(center + offset);
                wheel(&harness, 1.0);
            }
            2 => {
                harness.hover_at(center - offset);
                wheel(&harness, -1.0);
            }
            _ => harness.key_press(egui::Key::ArrowLeft),
        }
        harness.step();
        // Let some renders start before the next gesture supersedes them.
        if round % 3 == 0 {
            std::thread::sleep(Duration::from_millis(30));
            harness.step();
        }
    }
    settle(&mut harness);
    let app = harness.state();
    assert!(app.error().is_none(), "{:?}", app.error());
    let (shown_view, image) = app.shown_image().expect("an image");
    assert_eq!(
        *shown_view,
        app.view(),
        "the image shown is the last view's"
    );
    assert_eq!((image.width_px, image.height_px), app.image_size_px());
    let (_, worst_frame) = app.frame_secs();
    eprintln!(
        "worst UI frame during the gestures: {:.1} ms (debug build)",
        worst_frame * 1e3
    );
}

/// The app on a state folder, as the real window starts (settings from the folder).
fn harness_on_state_dir(dir: &std::path::Path, safe_mode: bool) -> Harness<'static, MoonbrotApp> {
    harness_with_options(AppOptions {
        file_dialogs: Arc::new(FakeDialogs::default()),
        state_dir: Some(dir.to_owned()),
        safe_mode,
        ..AppOptions::default()
    })
}

/// `name` in the folder of the one window that used the state folder `dir`.
fn window_file(dir: &std::path::Path, name: &str) -> PathBuf {
    let folders: Vec<PathBuf> = std::fs::read_dir(dir.join("windows"))
        .expect("the window folders")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(folders.len(), 1, "one window, one folder: {folders:?}");
    folders[0].join(name)
}

/// Waits (without stepping the app: an idle window draws no frames) for `path` to hold
/// `wanted`.
fn wait_for_file(path: &std::path::Path, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if wanted(&text) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn typed_text_reaches_disk_while_the_window_is_idle_and_comes_back_at_the_next_start() {
    let dir = tempfile::tempdir().expect("dir");
    let mut harness = harness_on_state_dir(dir.path(), false);
    harness.get_by_label(SOURCE_LABEL).focus();
    harness.step();
    harness.key_press_modifiers(Modifiers::COMMAND, egui::Key::End);
    harness.step();
    harness
        .get_by_label(SOURCE_LABEL)
        .type_text("-- typed just before the crash\n");
    harness.step();
    // No more frames: the autosave thread alone must write it.
    let saved = wait_for_file(&window_file(dir.path(), "kernel.lua"), |text| {
        text.contains("typed just before the crash")
    });
    assert!(saved.contains("typed just before the crash"), "{saved:?}");
    // The process "dies" without eframe's save: the next start has the text.
    // The window ends without eframe's save (the kernel is on disk already); its folder's
    // lock goes with it, as with a killed process.
    drop(harness);
    let restarted = harness_on_state_dir(dir.path(), false);
    assert!(
        restarted
            .state()
            .kernel()
            .text()
            .contains("typed just before the crash")
    );
}

#[test]
fn a_start_after_an_interrupted_render_is_paused_until_the_user_runs_the_kernel() {
    let dir = tempfile::tempdir().expect("dir");
    let stuck = "local s = string.rep(\"a\", 20000)\n\
                 function pixel(x, y) return #(s:match(\"(.-)(.-)(.-)(.-)b\") or \"\") end\n";
    std::fs::write(dir.path().join("kernel.lua"), stuck).expect("write");
    std::fs::write(dir.path().join("rendering"), "").expect("write");
    let mut harness = harness_on_state_dir(dir.path(), false);
    assert_eq!(
        harness.state().kernel().text(),
        stuck,
        "the kernel text is kept"
    );
    assert!(harness.state().paused_reason().is_some());
    assert!(harness.state().shown_image().is_none(), "nothing ran");
    harness.get_by_label_contains("Automatic rendering is paused");
    harness.get_by_label("Run this kernel").click();
    harness.step();
    assert!(harness.state().paused_reason().is_none());
    assert!(
        harness.state().is_rendering(),
        "Run started the kernel's render"
    );
}

#[test]
fn safe_mode_starts_paused_and_runs_on_request() {
    let dir = tempfile::tempdir().expect("dir");
    let mut harness = harness_on_state_dir(dir.path(), true);
    assert!(harness.state().shown_image().is_none());
    harness.get_by_label("Run this kernel").click();
    settle(&mut harness);
    assert!(harness.state().shown_image().is_some());
    assert!(harness.state().error().is_none());
}

#[test]
fn a_kernel_stuck_in_a_library_call_is_stopped_and_the_next_kernel_renders() {
    let dir = tempfile::tempdir().expect("dir");
    let mut harness = harness_on_state_dir(dir.path(), false);
    let good = harness.state().kernel().text().to_owned();
    let runs_before = harness.state().runs().len();
    harness.state_mut().type_kernel(
        "local s = string.rep(\"a\", 20000)\n\
        function pixel(x, y) return #(s:match(\"(.-)(.-)(.-)(.-)b\") or \"\") end\n",
    );
    harness.get_by_label("Run").click();
    // The window keeps answering while the kernel is stuck (its match alone runs for
    // minutes): frames go on while the render is in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !harness.state().is_rendering() {
        assert!(Instant::now() < deadline, "the stuck kernel never started");
        harness.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.step();
    assert!(
        harness.state().is_rendering(),
        "still stuck, and the window answers"
    );
    // The user types a good kernel: it stops the stuck render and renders, long before
    // the stuck kernel could have finished.
    let replaced_at = Instant::now();
    harness.state_mut().type_kernel(&good);
    harness.get_by_label("Run").click();
    settle(&mut harness);
    assert!(
        replaced_at.elapsed() < Duration::from_secs(30),
        "the stuck render was not stopped"
    );
    assert_eq!(
        harness.state().runs().len(),
        runs_before + 1,
        "the good kernel's render finished, the stuck one never did"
    );
    assert!(
        harness.state().error().is_none(),
        "{:?}",
        harness.state().error()
    );
    assert!(harness.state().shown_image().is_some());
    // The marker is gone once the render ended.
    assert!(
        wait_for_file(&window_file(dir.path(), "rendering"), str::is_empty).is_empty()
            && !window_file(dir.path(), "rendering").exists()
    );
}

/// A file dropped on the window, as the windowing backend hands it to egui.
#[derive(Debug)]
struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|error| error.to_string())
    }
}

#[test]
fn a_lua_file_dropped_on_the_window_opens_and_names_the_document() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dropped.lua");
    std::fs::write(&path, "-- dropped\nfunction pixel(x, y) return x * y end\n").expect("write");
    let mut harness = harness();
    harness
        .input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(path.clone())));
    settle(&mut harness);
    let document = harness.state().kernel();
    assert!(
        document.text().starts_with("-- dropped"),
        "{}",
        document.text()
    );
    assert_eq!(document.file_path(), Some(path.as_path()));
    assert_eq!(document.title(), "dropped.lua — moonbrot");
    assert!(
        harness.state().error().is_none(),
        "{:?}",
        harness.state().error()
    );
}

/// A moonbrot PNG of the julia kernel at a zoomed view, c = 0.285 + 0.01i, max_iter 300,
/// the fire palette.
fn julia_document(dir: &std::path::Path) -> (PathBuf, moonbrot::engine::output::Document) {
    use moonbrot::engine::kernel::ParameterValue;
    let source = moonbrot::engine::kernel::shipped_kernel("julia")
        .expect("julia")
        .source;
    let request = moonbrot::engine::RenderRequest {
        view: Some(moonbrot::engine::View::new(0.1, -0.2, 1.5)),
        max_iter: Some(300),
        threads: 2,
        parameters: [(
            "c".to_owned(),
            ParameterValue::Complex {
                re: 0.285,
                im: 0.01,
            },
        )]
        .into_iter()
        .collect(),
        ..moonbrot::engine::RenderRequest::new(source, 48, 32)
    };
    let palette = moonbrot::engine::output::Palette {
        gradient: moonbrot::engine::output::Gradient::shipped("fire").expect("shipped"),
        ..moonbrot::engine::output::Palette::default()
    };
    let path = dir.join("julia.png");
    let written = crate::support::export_png(&request, palette, &path).expect("write");
    (path, written.metadata)
}

/// Asserts the app shows the document `metadata` from `path`.
fn assert_shows_document(
    harness: &Harness<'_, MoonbrotApp>,
    path: &std::path::Path,
    metadata: &moonbrot::engine::output::Document,
) {
    let app = harness.state();
    assert!(app.error().is_none(), "{:?}", app.error());
    assert_eq!(app.kernel().text(), metadata.kernel_source);
    assert_eq!(app.kernel().title(), "julia.png — moonbrot");
    assert_eq!(app.view(), metadata.view);
    assert_eq!(app.settings().max_iter, Some(300));
    assert_eq!(app.settings().palette, metadata.palette);
    let parameters = app.parameters();
    assert_eq!(parameters.len(), 1);
    assert_eq!(parameters[0].1, metadata.parameters[0].1, "c is restored");
    let (shown_view, _) = app.shown_image().expect("an image");
    assert_eq!(*shown_view, metadata.view);
    assert_eq!(
        app.settings().recent_files.first().map(PathBuf::as_path),
        Some(path)
    );
}

#[test]
fn a_png_named_on_the_command_line_opens_with_its_kernel_view_and_parameters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, metadata) = julia_document(dir.path());
    let harness = harness_with_options(AppOptions {
        file_dialogs: Arc::new(FakeDialogs::default()),
        settings: Some(test_settings()),
        open_file: Some(path.clone()),
        ..AppOptions::default()
    });
    assert_shows_document(&harness, &path, &metadata);
}

#[test]
fn a_png_coloured_by_slope_opens_with_its_light_and_renders_the_derivatives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("slope.png");
    let output = crate::support::moonbrot(&[
        "render",
        "--size",
        "48x32",
        "--colouring",
        "slope",
        "--light-angle",
        "200",
        "-o",
        crate::support::path_text(&path),
    ]);
    assert!(
        output.status.success(),
        "{}",
        crate::support::text(&output.stderr)
    );
    let harness = harness_with_options(AppOptions {
        file_dialogs: Arc::new(FakeDialogs::default()),
        settings: Some(test_settings()),
        open_file: Some(path),
        ..AppOptions::default()
    });
    let app = harness.state();
    assert_eq!(
        app.settings().colouring,
        moonbrot::engine::output::Colouring::Slope {
            light_angle_degrees: 200.0
        }
    );
    assert_eq!(
        app.settings().light_angle_degrees,
        200.0,
        "the slider follows"
    );
    let (_, image) = app.shown_image().expect("an image");
    assert_eq!(
        image.channel_names,
        moonbrot::engine::kernel::DERIVATIVE_CHANNELS
    );
}

#[test]
fn a_png_dropped_on_the_window_opens_as_a_document() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, metadata) = julia_document(dir.path());
    let mut harness = harness();
    harness
        .input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(path.clone())));
    settle(&mut harness);
    assert_shows_document(&harness, &path, &metadata);
}

#[test]
fn a_corrupt_png_leaves_the_editor_unchanged_and_says_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut harness = harness();
    let typed = "-- my work\nfunction pixel(x, y) return x end\n";
    harness.state_mut().type_kernel(typed);
    settle(&mut harness);
    let broken = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/documents/truncated.png");
    let plain = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/documents/plain_png.png");
    let failing = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/documents/failing_kernel.png");
    for (path, expected) in [
        (broken, "is not a readable PNG"),
        (plain, "holds no moonbrot document"),
        (failing, "syntax error"),
    ] {
        harness
            .input_mut()
            .dropped_files
            .push(Arc::new(DroppedPath(path.clone())));
        settle(&mut harness);
        assert_eq!(harness.state().kernel().text(), typed, "{}", path.display());
        harness.get_by_label_contains(expected);
        harness.get_by_label_contains("The editor kept its text");
    }
    drop(dir);
}

#[test]
fn moving_a_parameter_slider_renders_the_new_value() {
    let mut harness = harness();
    let ctx = harness.ctx.clone();
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::LoadShipped("multibrot"));
    settle(&mut harness);
    let runs = harness.state().runs().len();
    let before = harness.state().shown_image().expect("image").1.clone();
    harness
        .get_by_role_and_label(egui::accesskit::Role::Slider, "power")
        .set_value_accesskit(5.0);
    settle(&mut harness);
    assert_eq!(harness.state().runs().len(), runs + 1, "one new render");
    assert_eq!(
        harness.state().parameters()[0].1,
        moonbrot::engine::kernel::ParameterValue::Real(5.0)
    );
    assert_ne!(harness.state().shown_image().expect("image").1, &before);
}

#[test]
fn pick_on_image_sets_a_complex_parameter_to_the_point_clicked() {
    let mut harness = harness();
    let ctx = harness.ctx.clone();
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::LoadShipped("julia"));
    settle(&mut harness);
    harness.get_by_label("Pick on image").click();
    harness.step();
    assert_eq!(harness.state().picking(), Some("c"));
    // The status bar says what the next click does; Esc cancels.
    harness.step();
    harness.get_by_label_contains("PICKING: click the image to set c (Esc cancels)");
    harness.key_press(egui::Key::Escape);
    harness.step();
    assert_eq!(harness.state().picking(), None, "Esc cancels picking");
    harness.get_by_label("Pick on image").click();
    harness.step();
    let view = harness.state().view();
    let target = canvas_center(&harness) + Vec2::new(40.0, -30.0);
    let expected = complex_at(
        harness.state().canvas_rect(),
        &view,
        harness.state().image_size_px(),
        target,
    );
    harness.hover_at(target);
    harness.step();
    // A press and a release at one spot: a click.
    harness.drag_at(target);
    harness.step();
    harness.drop_at(target);
    settle(&mut harness);
    assert_eq!(harness.state().picking(), None, "one click picks");
    assert_eq!(
        harness.state().view(),
        view,
        "the click did not move the view"
    );
    match &harness.state().parameters()[0].1 {
        moonbrot::engine::kernel::ParameterValue::Complex { re, im } => {
            assert!(
                (re - expected.0.to_f64()).abs() < 1e-9 && (im - expected.1.to_f64()).abs() < 1e-9
            );
        }
        other => panic!("c is {other:?}"),
    }
}

#[test]
fn turning_solid_guessing_off_renders_every_pixel_again() {
    // Lone dots, one pixel wide: guessing fills a block whose border is flat and so loses
    // the dots inside it; computing every pixel finds them all.
    let dots = "function pixel(x, y)\n\
                  if math.floor(x / 0.01) % 40 == 20 and math.floor(y / 0.01) % 40 == 20 then\n\
                    return 5\n\
                  end\n\
                  return 1\n\
                end\n";
    let mut harness = harness();
    assert!(harness.state().settings().guessing, "on by default");
    harness.state_mut().type_kernel(dots);
    settle(&mut harness);
    let runs = harness.state().runs().len();
    harness.get_by_label("Solid guessing").click();
    settle(&mut harness);
    assert!(!harness.state().settings().guessing);
    assert_eq!(harness.state().runs().len(), runs + 1, "one new render");
    let (view, shown) = harness.state().shown_image().expect("an image");
    let render = |guessing| {
        let request = moonbrot::engine::RenderRequest {
            view: Some(view.clone()),
            guessing,
            ..moonbrot::engine::RenderRequest::new(dots, shown.width_px, shown.height_px)
        };
        moonbrot::engine::Engine::default()
            .render(&request, &moonbrot::engine::CancelToken::new())
            .expect("renders")
            .image
            .values
    };
    let (guessed, every_pixel) = (render(true), render(false));
    assert_ne!(
        guessed, every_pixel,
        "guessing loses dots here (else no test)"
    );
    assert_eq!(shown.values, every_pixel, "the window computed every pixel");
}

#[test]
fn an_export_with_supersampling_records_it_and_keeps_the_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("smooth.png");
    let dialogs = Arc::new(FakeDialogs::default());
    *dialogs.answer.lock().unwrap() = Some(path.clone());
    let mut harness = harness_with(test_settings(), Arc::clone(&dialogs));
    let ctx = harness.ctx.clone();
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::ShowExport);
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::SetExportSupersample(2));
    harness.run_steps(3);
    harness.get_by_label_contains("4× the work");
    harness.get_by_label("Choose file and export…").click();
    settle(&mut harness);
    assert!(
        matches!(harness.state().export_outcome(), Some(Ok(_))),
        "{:?}",
        harness.state().export_outcome()
    );
    let metadata = moonbrot::engine::output::read_document(&path).expect("metadata");
    assert_eq!(metadata.supersample, 2);
    let size = harness.state().image_size_px();
    assert_eq!(
        image::open(&path).expect("PNG").to_rgb8().dimensions(),
        (size.0 * 2, size.1 * 2),
        "the 2× export, each pixel from 2×2 samples"
    );
}

#[test]
fn a_zoom_film_is_recorded_from_the_current_view_to_the_marked_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("film");
    let dialogs = Arc::new(FakeDialogs::default());
    *dialogs.answer.lock().unwrap() = Some(folder.clone());
    let settings = Settings {
        export_scale: moonbrot::gui::ExportScale::CustomWidth(64),
        ..test_settings()
    };
    let mut harness = harness_with(settings, Arc::clone(&dialogs));
    let ctx = harness.ctx.clone();
    let home = harness.state().view();
    let end = home.zoomed_about((-0.75, 0.1), 8.0);
    harness.state_mut().apply(
        &ctx,
        moonbrot::gui::Command::Navigate(moonbrot::gui::ViewChange {
            view: end.clone(),
            gesture: moonbrot::gui::Gesture::Discrete,
        }),
    );
    settle(&mut harness);
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::ShowExport);
    harness.run_steps(2);
    harness.get_by_label("Mark this view as the end").click();
    harness.run_steps(2);
    assert_eq!(harness.state().settings().film_end, Some(end.clone()));
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::SetFilmFrames(3));
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::Home);
    settle(&mut harness);
    harness.get_by_label("Choose folder and record…").click();
    settle(&mut harness);
    assert!(
        matches!(harness.state().export_outcome(), Some(Ok(_))),
        "{:?}",
        harness.state().export_outcome()
    );
    assert_eq!(
        *dialogs.asked.lock().unwrap(),
        vec![DialogPurpose::FilmFolder]
    );
    let view_of = |frame: u32| {
        moonbrot::engine::output::read_document(&folder.join(format!("frame-{frame:05}.png")))
            .expect("a frame")
            .view
    };
    assert_eq!(view_of(0), home.clone());
    assert_eq!(view_of(2), end.clone());
    assert!(view_of(1).span < home.span && view_of(1).span > end.span);
}

#[test]
fn a_gradient_file_opened_in_the_window_recolours_without_rendering_and_saves_as_ggr() {
    let dir = tempfile::tempdir().expect("temp dir");
    let map = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gradients/froth316.map");
    let dialogs = Arc::new(FakeDialogs::default());
    *dialogs.answer.lock().unwrap() = Some(map.clone());
    let mut harness = harness_with(test_settings(), Arc::clone(&dialogs));
    let runs = harness.state().runs().len();
    harness.get_by_label("Open gradient…").click();
    settle(&mut harness);
    let wanted = moonbrot::engine::output::read_gradient_file(map.to_str().expect("utf-8"))
        .expect("the map reads");
    assert_eq!(harness.state().settings().palette.gradient, wanted);
    assert_eq!(
        harness
            .state()
            .shown_palette()
            .map(|palette| palette.gradient),
        Some(wanted.clone()),
        "the image on screen is recoloured"
    );
    assert_eq!(harness.state().runs().len(), runs, "no new render");
    harness.get_by_label_contains("Opened");
    // Save as .ggr writes it where the dialog says; it reads back as the same colours.
    let saved = dir.path().join("froth.ggr");
    *dialogs.answer.lock().unwrap() = Some(saved.clone());
    harness.get_by_label("Save as .ggr…").click();
    settle(&mut harness);
    let back = moonbrot::engine::output::read_gradient_file(saved.to_str().expect("utf-8"))
        .expect("the saved file reads");
    for step in 0..100 {
        let position = f64::from(step) / 100.0;
        let (was, is) = (
            wanted.colour_at_exact(position),
            back.colour_at_exact(position),
        );
        assert!(
            was.iter()
                .zip(is)
                .all(|(a, b)| (a - b).abs() <= 1.0 / 255.0),
            "{position}: {was:?} {is:?}"
        );
    }
    // A bad file is said so, and the palette stays.
    let bad = dir.path().join("bad.map");
    std::fs::write(&bad, "1 2 3\nno colour here\n").expect("write");
    *dialogs.answer.lock().unwrap() = Some(bad);
    harness.get_by_label("Open gradient…").click();
    settle(&mut harness);
    harness.get_by_label_contains("bad.map, line 2");
    assert_eq!(harness.state().settings().palette.gradient, wanted);
    assert_eq!(
        *dialogs.asked.lock().unwrap(),
        vec![
            DialogPurpose::OpenGradient,
            DialogPurpose::ExportGradient,
            DialogPurpose::OpenGradient
        ]
    );
}

/// Clicks at `at` twice, 50 ms apart: the harness's frames are 250 ms apart, too slow
/// for a double-click, so each press and release goes in its own frame at a set time.
fn double_click_at(harness: &mut Harness<'_, MoonbrotApp>, at: Pos2) {
    harness.hover_at(at);
    harness.step();
    let start = harness.ctx.input(|input| input.time) + 0.25;
    for (index, pressed) in [true, false, true, false].into_iter().enumerate() {
        let input = harness.input_mut();
        input.time = Some(start + 0.05 * index as f64);
        input.events.push(Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        });
        harness.step();
    }
}

#[test]
fn the_gradient_editor_adds_moves_and_deletes_stops_without_rendering() {
    let mut harness = harness();
    let runs = harness.state().runs().len();
    let original = harness.state().settings().palette.gradient.clone();
    let stops_before = original.stops().len();
    let bar = harness.get_by_label("Gradient stops").rect();
    // Double-click on the bar, 30% along: a stop there, its colour unchanged.
    let at = |fraction: f32| Pos2::new(bar.left() + fraction * bar.width(), bar.top() + 8.0);
    double_click_at(&mut harness, at(0.3));
    settle(&mut harness);
    let added = harness.state().settings().palette.gradient.clone();
    assert_eq!(added.stops().len(), stops_before + 1, "a stop was added");
    assert!(added.name().ends_with("(edited)"), "{}", added.name());
    let new_stop = added
        .stops()
        .iter()
        .position(|(position, _)| (position - 0.3).abs() < 0.01)
        .expect("a stop near 0.3");
    // Drag it (its handle is under the bar) to 22%, between its neighbours at 1/6 and 1/3.
    let handle = |fraction: f32| Pos2::new(bar.left() + fraction * bar.width(), bar.bottom() - 4.0);
    harness.drag_at(handle(0.3));
    harness.step();
    harness.hover_at(handle(0.26));
    harness.step();
    harness.hover_at(handle(0.22));
    harness.step();
    harness.drop_at(handle(0.22));
    settle(&mut harness);
    let moved = harness.state().settings().palette.gradient.clone();
    let position = moved.stops()[new_stop].0;
    assert!((position - 0.22).abs() < 0.01, "the stop is at {position}");
    // The image on screen follows each edit, without a render.
    assert_eq!(
        harness
            .state()
            .shown_palette()
            .map(|palette| palette.gradient),
        Some(moved.clone())
    );
    assert_eq!(harness.state().runs().len(), runs, "no new render");
    // Delete it: the stops are the original ones again.
    harness.get_by_label("Delete stop").click();
    settle(&mut harness);
    let deleted = harness.state().settings().palette.gradient.clone();
    assert_eq!(deleted.stops().len(), stops_before);
    assert_eq!(deleted.segments().len(), original.segments().len());
}

#[test]
fn colourings_chosen_or_typed_in_the_window_recolour_without_rendering_and_are_exported() {
    let Some(mut harness) = wgpu_harness() else {
        return;
    };
    let runs = harness.state().runs().len();
    let before = mean_colour_on_screen(&mut harness);
    harness.get_by_label("Colouring code").click();
    settle(&mut harness);
    let ctx = harness.ctx.clone();
    harness.state_mut().apply(
        &ctx,
        moonbrot::gui::Command::UseColouring(moonbrot::gui::ColouringChoice::Lua),
    );
    // Replace the example with a colouring that paints every outside pixel red.
    harness.get_by_label(COLOURING_SOURCE_LABEL).focus();
    harness.step();
    harness.key_press_modifiers(Modifiers::COMMAND, egui::Key::A);
    harness.step();
    harness
        .get_by_label(COLOURING_SOURCE_LABEL)
        .type_text("function colour(v) return 1, 0, 0 end\n");
    settle(&mut harness);
    assert!(
        harness.state().colouring_error().is_none(),
        "{:?}",
        harness.state().colouring_error()
    );
    let after = mean_colour_on_screen(&mut harness);
    assert!(
        after[0] > 120.0 && after[1] < 10.0 && after[2] < 10.0,
        "red and black: {after:?} (before {before:?})"
    );
    assert_eq!(harness.state().runs().len(), runs, "pixel never ran again");
    // A new render is coloured with it too, once its rows are in.
    harness.state_mut().apply(&ctx, moonbrot::gui::Command::Run);
    settle(&mut harness);
    let rerendered = mean_colour_on_screen(&mut harness);
    assert!(
        colour_distance(rerendered, after) < 1.0,
        "red and black after a render: {rerendered:?}"
    );
    let runs = harness.state().runs().len();
    // Export colours with it and keeps it in the document.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("red.png");
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::ExportTo(path.clone()));
    settle(&mut harness);
    let document = moonbrot::engine::output::read_document(&path).expect("exported");
    assert!(
        matches!(&document.colouring, moonbrot::engine::output::Colouring::Lua { source, .. }
            if source == "function colour(v) return 1, 0, 0 end\n"),
        "{:?}",
        document.colouring
    );
    let exported = image::open(&path).expect("png").to_rgb8();
    assert!(
        exported
            .pixels()
            .all(|pixel| [[255, 0, 0], [0, 0, 0]].contains(&pixel.0))
    );
    // A syntax error is shown at its line; the image keeps its colours.
    harness
        .get_by_label(COLOURING_SOURCE_LABEL)
        .type_text("function broken(\n");
    settle(&mut harness);
    let error = harness
        .state()
        .colouring_error()
        .expect("an error")
        .to_string();
    assert!(error.contains("syntax error: line"), "{error}");
    harness.get_by_label_contains("colouring colouring: syntax error");
    assert_eq!(mean_colour_on_screen(&mut harness), after);
    assert_eq!(harness.state().runs().len(), runs, "pixel never ran again");
    // Histogram, then smooth again: each recolours, nothing renders.
    harness.state_mut().apply(
        &ctx,
        moonbrot::gui::Command::UseColouring(moonbrot::gui::ColouringChoice::Histogram),
    );
    settle(&mut harness);
    let histogram = mean_colour_on_screen(&mut harness);
    assert!(colour_distance(histogram, after) > 40.0, "{histogram:?}");
    harness.state_mut().apply(
        &ctx,
        moonbrot::gui::Command::UseColouring(moonbrot::gui::ColouringChoice::Smooth),
    );
    settle(&mut harness);
    let smooth = mean_colour_on_screen(&mut harness);
    assert!(
        colour_distance(smooth, before) < 1.0,
        "{smooth:?} {before:?}"
    );
    assert!(
        colour_distance(smooth, histogram) > 5.0,
        "{smooth:?} {histogram:?}"
    );
    assert_eq!(harness.state().runs().len(), runs, "pixel never ran again");
}

#[test]
fn distance_and_slope_render_the_derivatives_once_then_recolour_as_their_sliders_move() {
    use moonbrot::gui::{ColouringChoice, Command};
    let Some(mut harness) = wgpu_harness() else {
        return;
    };
    let ctx = harness.ctx.clone();
    let runs = harness.state().runs().len();
    let smooth = mean_colour_on_screen(&mut harness);
    harness.get_by_label("Colouring code").click();
    settle(&mut harness);
    // Distance needs values the smooth render did not compute: one render more.
    harness
        .state_mut()
        .apply(&ctx, Command::UseColouring(ColouringChoice::Distance));
    settle(&mut harness);
    let rendered = harness.state().runs().len();
    assert!(rendered > runs, "distance renders the derivatives");
    let thin = mean_colour_on_screen(&mut harness);
    harness.get_by_role_and_label(egui::accesskit::Role::Slider, "Line width (px)");
    // A wider line darkens more of the image; slope lights it; neither renders again.
    harness.state_mut().apply(&ctx, Command::SetLineWidth(30.0));
    settle(&mut harness);
    let wide = mean_colour_on_screen(&mut harness);
    // A new render keeps the colouring: its rows and the finished image.
    harness.state_mut().apply(&ctx, Command::Run);
    settle(&mut harness);
    let rendered = harness.state().runs().len();
    assert!(
        colour_distance(mean_colour_on_screen(&mut harness), wide) < 1.0,
        "the image rendered again is coloured as before"
    );
    let brightness = |colour: [f64; 3]| colour.iter().sum::<f64>();
    assert!(
        brightness(wide) + 10.0 < brightness(thin) && brightness(thin) <= brightness(smooth),
        "smooth {smooth:?}, thin line {thin:?}, wide line {wide:?}"
    );
    harness
        .state_mut()
        .apply(&ctx, Command::UseColouring(ColouringChoice::Slope));
    settle(&mut harness);
    harness.get_by_role_and_label(egui::accesskit::Role::Slider, "Light from (°)");
    let from_top_right = mean_colour_on_screen(&mut harness);
    harness
        .state_mut()
        .apply(&ctx, Command::SetLightAngle(225.0));
    settle(&mut harness);
    let from_bottom_left = mean_colour_on_screen(&mut harness);
    assert!(
        colour_distance(from_top_right, from_bottom_left) > 1.0
            && colour_distance(from_top_right, wide) > 1.0,
        "{from_top_right:?} {from_bottom_left:?}"
    );
    assert_eq!(
        harness.state().runs().len(),
        rendered,
        "slope and its light recolour without rendering"
    );
    // An export is coloured and documented so.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("lit.png");
    harness
        .state_mut()
        .apply(&ctx, Command::ExportTo(path.clone()));
    settle(&mut harness);
    let document = moonbrot::engine::output::read_document(&path).expect("exported");
    assert_eq!(
        document.colouring,
        moonbrot::engine::output::Colouring::Slope {
            light_angle_degrees: 225.0
        }
    );
    let rendered = harness.state().runs().len();
    // Back to smooth: the stored escape values give today's colours without a render.
    harness
        .state_mut()
        .apply(&ctx, Command::UseColouring(ColouringChoice::Smooth));
    settle(&mut harness);
    assert!(colour_distance(mean_colour_on_screen(&mut harness), smooth) < 1.0);
    assert_eq!(
        harness.state().runs().len(),
        rendered,
        "pixel ran once more in all"
    );
}

#[test]
fn an_edited_gradient_and_a_typed_colouring_reach_disk_and_come_back_at_the_next_start() {
    let dir = tempfile::tempdir().expect("dir");
    let mut harness = harness_on_state_dir(dir.path(), false);
    let ctx = harness.ctx.clone();
    let gradient = moonbrot::engine::output::read_gradient_file(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/gradients/Abstract_1.ggr")
            .to_str()
            .expect("utf-8"),
    )
    .expect("reads");
    let palette = moonbrot::engine::output::Palette {
        gradient: gradient.clone(),
        ..moonbrot::engine::output::Palette::default()
    };
    harness.state_mut().apply(
        &ctx,
        moonbrot::gui::Command::Set(moonbrot::gui::RenderSetting::Palette(palette)),
    );
    harness.state_mut().apply(
        &ctx,
        moonbrot::gui::Command::ShowEditorTab(moonbrot::gui::EditorTab::Colouring),
    );
    settle(&mut harness);
    harness.get_by_label(COLOURING_SOURCE_LABEL).focus();
    harness.step();
    harness.key_press_modifiers(Modifiers::COMMAND, egui::Key::End);
    harness.step();
    harness
        .get_by_label(COLOURING_SOURCE_LABEL)
        .type_text("-- colouring typed just before the crash\n");
    harness.step();
    // No more frames: the autosave thread alone must write it.
    let saved = wait_for_file(&window_file(dir.path(), "settings.json"), |text| {
        text.contains("colouring typed just before the crash")
    });
    assert!(
        saved.contains("colouring typed just before the crash"),
        "{saved:?}"
    );
    // The window ends without eframe's save (the kernel is on disk already); its folder's
    // lock goes with it, as with a killed process.
    drop(harness);
    let restarted = harness_on_state_dir(dir.path(), false);
    let settings = restarted.state().settings();
    assert!(
        settings
            .colouring_source
            .ends_with("-- colouring typed just before the crash\n")
    );
    assert_eq!(settings.palette.gradient, gradient);
}

/// A small tmpfs mounted at a temporary folder, unmounted on drop; None where the machine
/// does not allow mounting one (not root, or no such privilege in a container).
struct SmallDisk {
    folder: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size_kib: u32) -> Option<Self> {
        let folder = tempfile::tempdir().ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(folder.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then_some(Self { folder })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.folder.path())
            .status();
    }
}

/// Steps the window until `condition` holds (20 s at most); true if it did.
fn step_until(
    harness: &mut Harness<'static, MoonbrotApp>,
    condition: impl Fn(&Harness<'static, MoonbrotApp>) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        harness.step();
        if condition(harness) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_full_or_read_only_state_folder_is_said_until_writes_succeed_again_and_nothing_is_lost() {
    const WARNING: &str = "Your work is not being kept";
    let disk = SmallDisk::mount(512);
    let plain = tempfile::tempdir().expect("dir");
    let state_dir = disk
        .as_ref()
        .map_or(plain.path(), |disk| disk.folder.path())
        .to_owned();
    let mut harness = harness_on_state_dir(&state_dir, false);
    settle(&mut harness);
    let kernel_file = window_file(&state_dir, "kernel.lua");
    let folder = kernel_file.parent().expect("window folder").to_owned();
    // The disk fills up (a file takes all of the tmpfs), or, where no tmpfs can be
    // mounted, the window's folder turns read-only (a folder where the kernel's file was,
    // for a root user whom permissions do not stop).
    let filler = state_dir.join("filler");
    if disk.is_some() {
        let mut file = std::fs::File::create(&filler).expect("filler");
        let block = vec![0_u8; 64 * 1024];
        while std::io::Write::write_all(&mut file, &block).is_ok() {}
    } else {
        std::fs::remove_file(&kernel_file).expect("remove");
        std::fs::create_dir(&kernel_file).expect("block");
    }
    harness
        .state_mut()
        .type_kernel("-- typed while the disk is full\nfunction pixel(x, y) return 1 end\n");
    assert!(
        step_until(&mut harness, |harness| harness
            .query_by_label_contains(WARNING)
            .is_some()),
        "no warning while the autosave fails"
    );
    assert!(
        harness
            .query_by_label_contains(&format!("cannot write to {}", folder.display()))
            .is_some(),
        "the warning names the folder {}",
        folder.display()
    );
    assert_eq!(
        harness.query_all_by_label("Save as…").count(),
        2,
        "the warning offers Save as beside the editor's own button"
    );
    // The disk frees: the text reaches it without more typing, and the warning goes.
    if disk.is_some() {
        std::fs::remove_file(&filler).expect("free the disk");
    } else {
        std::fs::remove_dir(&kernel_file).expect("unblock");
    }
    assert!(
        step_until(&mut harness, |harness| harness
            .query_by_label_contains(WARNING)
            .is_none()),
        "the warning stays after the disk freed"
    );
    let saved = wait_for_file(&kernel_file, |text| {
        text.contains("typed while the disk is full")
    });
    assert!(saved.contains("typed while the disk is full"), "{saved:?}");
}

/// The app started on `path` (as `moonbrot FILE`) with `settings`, stepped until idle.
fn harness_on_file(path: &std::path::Path, settings: Settings) -> Harness<'static, MoonbrotApp> {
    let mut harness = harness_with_options(AppOptions {
        file_dialogs: Arc::new(FakeDialogs::default()),
        settings: Some(settings),
        open_file: Some(path.to_owned()),
        ..AppOptions::default()
    });
    settle(&mut harness);
    harness
}

/// A kernel whose image is all one colour: its escape value is `value` everywhere.
fn flat_kernel(value: f64) -> String {
    format!("function pixel(x, y) return {value:?} end\n")
}

/// The escape value of the image on screen at its first pixel.
fn first_shown_value(harness: &Harness<'static, MoonbrotApp>) -> Option<f32> {
    harness
        .state()
        .shown_image()
        .and_then(|(_, image)| image.values.first().copied())
}

#[test]
fn a_kernel_file_saved_by_another_program_reloads_and_renders_at_the_same_view() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flat.lua");
    std::fs::write(&path, flat_kernel(3.0)).expect("write");
    let mut harness = harness_on_file(&path, test_settings());
    assert_eq!(first_shown_value(&harness), Some(3.0));
    // The user drags the view somewhere.
    let center = harness.state().canvas_rect().center();
    harness.drag_at(center);
    harness.step();
    harness.hover_at(center + Vec2::new(40.0, 25.0));
    harness.step();
    harness.drop_at(center + Vec2::new(40.0, 25.0));
    settle(&mut harness);
    let view = harness.state().view();
    assert_ne!(
        view,
        harness.state().kernel().home(),
        "the drag moved the view"
    );

    // Written in place, as most editors save.
    std::fs::write(&path, flat_kernel(5.0)).expect("rewrite");
    assert!(
        step_until(&mut harness, |harness| first_shown_value(harness)
            == Some(5.0)),
        "the window did not render the rewritten file"
    );
    assert_eq!(harness.state().kernel().text(), flat_kernel(5.0));
    assert!(!harness.state().kernel().is_dirty());
    assert_eq!(harness.state().view(), view, "the view is kept");
    harness.get_by_label_contains("another program saved it");

    // Written to a temporary file renamed over the original (Vim, VS Code's safe save).
    let temporary = dir.path().join(".flat.lua.tmp");
    std::fs::write(&temporary, flat_kernel(7.0)).expect("write");
    std::fs::rename(&temporary, &path).expect("rename");
    assert!(
        step_until(&mut harness, |harness| first_shown_value(harness)
            == Some(7.0)),
        "the window did not render the file renamed over the original"
    );
}

#[test]
fn a_kernel_file_saved_elsewhere_over_unsaved_edits_asks_and_a_deleted_one_is_said() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flat.lua");
    std::fs::write(&path, flat_kernel(3.0)).expect("write");
    let mut harness = harness_on_file(&path, test_settings());
    let mine = format!("{}-- my unsaved edit\n", flat_kernel(4.0));
    harness.state_mut().type_kernel(&mine);
    settle(&mut harness);

    std::fs::write(&path, flat_kernel(5.0)).expect("rewrite");
    assert!(
        step_until(&mut harness, |harness| harness
            .query_by_label("Keep my text")
            .is_some()),
        "no question about the file saved elsewhere"
    );
    assert_eq!(
        harness.state().kernel().text(),
        mine,
        "nothing replaced yet"
    );
    harness.get_by_label("Keep my text").click();
    settle(&mut harness);
    assert_eq!(harness.state().kernel().text(), mine);
    assert!(harness.state().kernel().is_dirty());

    std::fs::write(&path, flat_kernel(6.0)).expect("rewrite");
    assert!(step_until(&mut harness, |harness| harness
        .query_by_label("Reload from disk")
        .is_some()));
    harness.get_by_label("Reload from disk").click();
    settle(&mut harness);
    assert_eq!(harness.state().kernel().text(), flat_kernel(6.0));
    assert_eq!(first_shown_value(&harness), Some(6.0));

    std::fs::remove_file(&path).expect("delete");
    assert!(
        step_until(&mut harness, |harness| harness
            .query_by_label_contains("was deleted or renamed")
            .is_some()),
        "the deleted file is not said"
    );
    assert_eq!(harness.state().kernel().text(), flat_kernel(6.0));
    assert!(
        harness.state().kernel().is_dirty(),
        "the text is only in the window now"
    );
}

#[test]
fn a_kernel_that_never_finishes_shows_its_time_a_looping_hint_and_stops_on_esc_or_stop() {
    let mut harness = harness();
    let runs = harness.state().runs().len();
    let endless = "function pixel(x, y)\n  while true do end\nend\n";
    for stop_with_esc in [true, false] {
        harness.state_mut().type_kernel(endless);
        harness.get_by_label("Run").click();
        let looping = step_until(&mut harness, |harness| {
            harness
                .query_by_label_contains("the kernel may be looping")
                .is_some()
        });
        assert!(looping, "no hint while the kernel loops");
        harness.get_by_label_contains("Rendering for");
        if stop_with_esc {
            harness.key_press(egui::Key::Escape);
        } else {
            harness.get_by_label("Stop (Esc)").click();
        }
        harness.step();
        assert!(!harness.state().is_rendering(), "the render was stopped");
        harness.step();
        harness.get_by_label_contains("Render stopped after");
        assert!(harness.query_by_label_contains("Rendering for").is_none());
    }
    assert_eq!(harness.state().runs().len(), runs, "no run finished");
    // The next change renders again, and the notice goes.
    harness
        .state_mut()
        .type_kernel("function pixel(x, y) return 2 end\n");
    harness.get_by_label("Run").click();
    settle(&mut harness);
    assert_eq!(harness.state().runs().len(), runs + 1);
    assert!(harness.query_by_label_contains("Render stopped").is_none());
}

#[test]
fn the_zoom_readout_is_written_as_people_write_magnifications() {
    let mut harness = harness();
    settle(&mut harness);
    harness.get_by_label_contains("zoom 1×   |");
    let ctx = harness.ctx.clone();
    let deep = View::from_decimals("-0.6", "0", "1e-20").expect("view");
    harness.state_mut().apply(
        &ctx,
        moonbrot::gui::Command::PasteLocation(deep.location_text()),
    );
    harness.step();
    // The mandelbrot kernel's home spans 2.6.
    harness.get_by_label_contains("zoom 2.6e20×   |");
}

/// The real app in a window of `size` points, stepped until idle.
fn harness_sized(size: Vec2, settings: Settings) -> Harness<'static, MoonbrotApp> {
    let options = AppOptions {
        file_dialogs: Arc::new(FakeDialogs::default()),
        settings: Some(settings),
        ..AppOptions::default()
    };
    let mut harness = Harness::builder()
        .with_size(size)
        .build_eframe(move |cc| MoonbrotApp::new(cc, options).expect("the app starts"));
    settle(&mut harness);
    harness
}

#[test]
fn the_image_gets_at_least_half_of_a_small_window() {
    for (width, height) in [(1000.0, 700.0), (1366.0, 768.0), (1400.0, 860.0)] {
        let harness = harness_sized(Vec2::new(width, height), test_settings());
        let image = harness.state().canvas_rect();
        assert!(
            image.width() >= width * 0.5 - 1.0,
            "at {width}x{height} the image is {} wide",
            image.width()
        );
    }
    // Shrunk, then grown back: the panels get their widths back.
    let mut harness = harness_sized(Vec2::new(1400.0, 860.0), test_settings());
    let image = harness.state().canvas_rect();
    harness.set_size(Vec2::new(1000.0, 700.0));
    settle(&mut harness);
    assert!(harness.state().canvas_rect().width() >= 499.0);
    harness.set_size(Vec2::new(1400.0, 860.0));
    settle(&mut harness);
    assert_eq!(harness.state().canvas_rect(), image);
}

#[test]
fn each_side_panel_hides_and_shows_by_key_and_button_and_stays_so_at_the_next_start() {
    let mut harness = harness_sized(Vec2::new(1000.0, 700.0), test_settings());
    let with_both = harness.state().canvas_rect().width();
    harness.key_press(egui::Key::F9);
    settle(&mut harness);
    assert!(!harness.state().settings().show_editor);
    assert!(
        harness.query_by_label(SOURCE_LABEL).is_none(),
        "the editor is hidden"
    );
    let without_editor = harness.state().canvas_rect().width();
    assert!(
        without_editor > with_both + 50.0,
        "{with_both} -> {without_editor}"
    );
    harness.get_by_label("Settings").click();
    settle(&mut harness);
    assert!(!harness.state().settings().show_settings);
    assert!(
        harness.query_by_label("Timings").is_none(),
        "the settings are hidden"
    );
    assert!(
        harness.state().canvas_rect().width() > 990.0,
        "the image takes the window"
    );
    // The choice is part of the settings a start restores.
    let kept = harness.state().settings().clone();
    let mut restarted = harness_sized(Vec2::new(1000.0, 700.0), kept);
    assert!(restarted.query_by_label(SOURCE_LABEL).is_none());
    restarted.get_by_label("Code").click();
    restarted.key_press(egui::Key::F10);
    settle(&mut restarted);
    restarted.get_by_label(SOURCE_LABEL);
    restarted.get_by_label("Timings");
}

#[test]
fn a_longer_parameter_value_or_a_message_moves_neither_the_image_nor_the_editor() {
    let mut harness = harness();
    let ctx = harness.ctx.clone();
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::LoadShipped("julia"));
    settle(&mut harness);
    let image = harness.state().canvas_rect();
    let size_px = harness.state().image_size_px();
    let editor = harness.get_by_label(SOURCE_LABEL).rect();
    // A picked point has many digits.
    harness.state_mut().apply(
        &ctx,
        moonbrot::gui::Command::SetParameter(
            "c".to_owned(),
            moonbrot::engine::kernel::ParameterValue::Complex {
                re: -0.726_913_638_941_294_6,
                im: 0.188_894_123_456_789_01,
            },
        ),
    );
    settle(&mut harness);
    assert_eq!(harness.state().canvas_rect(), image, "the image moved");
    assert_eq!(harness.state().image_size_px(), size_px);
    // An error appears above the editor, then goes.
    let good = harness.state().kernel().text().to_owned();
    harness
        .state_mut()
        .type_kernel(&format!("{good}\nlocal broken = = 1\n"));
    settle(&mut harness);
    assert!(harness.state().error().is_some());
    assert_eq!(
        harness.get_by_label(SOURCE_LABEL).rect().top(),
        editor.top()
    );
    harness.state_mut().type_kernel(&good);
    settle(&mut harness);
    assert!(harness.state().error().is_none());
    assert_eq!(
        harness.get_by_label(SOURCE_LABEL).rect().top(),
        editor.top()
    );
    assert_eq!(harness.state().canvas_rect(), image);
}

#[test]
fn settings_a_png_brought_go_with_it_when_another_kernel_is_loaded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, metadata) = julia_document(dir.path());
    let before = test_settings();
    let mut harness = harness_on_file(&path, before.clone());
    assert_shows_document(&harness, &path, &metadata);
    harness.get_by_label_contains("Opened");
    // The user changes the palette's density: that one is theirs now.
    let mut palette = harness.state().settings().palette.clone();
    palette.density = 3.0;
    let ctx = harness.ctx.clone();
    harness.state_mut().apply(
        &ctx,
        moonbrot::gui::Command::Set(moonbrot::gui::RenderSetting::Palette(palette.clone())),
    );
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::LoadShipped("mandelbrot"));
    settle(&mut harness);
    let settings = harness.state().settings();
    assert_eq!(
        settings.max_iter, before.max_iter,
        "the document's iteration limit stays with it"
    );
    assert_eq!(
        settings.palette, palette,
        "the palette the user changed stays"
    );
    assert!(
        harness.query_by_label_contains("Opened").is_none(),
        "'Opened julia.png' went with its kernel"
    );
    // And the next kernel keeps the kernel's own limit too.
    harness
        .state_mut()
        .apply(&ctx, moonbrot::gui::Command::LoadShipped("multibrot"));
    settle(&mut harness);
    assert_eq!(harness.state().settings().max_iter, before.max_iter);
}

#[test]
fn a_kernel_file_changed_while_moonbrot_was_closed_is_taken_up_at_the_next_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("flat.lua");
    // The last session had the file holding 3.0; another program wrote 5.0 since.
    std::fs::write(&path, flat_kernel(5.0)).expect("write");
    let closed_with = |text: String| Settings {
        kernel: moonbrot::gui::EditedKernel::new(text, moonbrot::gui::Origin::File(path.clone())),
        ..test_settings()
    };
    let mut harness = harness_sized(Vec2::new(1400.0, 860.0), closed_with(flat_kernel(3.0)));
    assert!(
        step_until(&mut harness, |harness| first_shown_value(harness)
            == Some(5.0)),
        "the file's new text was not taken up"
    );
    assert!(!harness.state().kernel().is_dirty());

    // Unsaved edits over a file that has not changed: nothing to ask.
    let mut edited = moonbrot::gui::EditedKernel::new(
        flat_kernel(5.0),
        moonbrot::gui::Origin::File(path.clone()),
    );
    edited.set_text(flat_kernel(8.0));
    let mut harness = harness_sized(
        Vec2::new(1400.0, 860.0),
        Settings {
            kernel: edited,
            ..test_settings()
        },
    );
    for _ in 0..20 {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(harness.query_by_label("Keep my text").is_none());
    assert_eq!(harness.state().kernel().text(), flat_kernel(8.0));
}
