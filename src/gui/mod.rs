//! The explorer window, an eframe/egui adapter over the engine: the rendered fractal in the
//! middle, the kernel editor on the left, settings and timings on the right. It talks to
//! the engine only through its public API, from background threads (`workers`), so nothing
//! blocks the UI.

mod app;
mod canvas;
mod commands;
mod controls;
mod dialogs;
mod edited_kernel;
mod editor;
mod file_watch;
mod gradient_editor;
mod input_order;
pub mod recovery;
mod scheduler;
mod settings;
mod timings;
mod workers;

use std::sync::Arc;

pub use app::{
    AppOptions, FileOutcome, MoonbrotApp, ReopenWindow, ScreenshotOutcome, ScreenshotRequest,
    restore_settings, store_settings,
};
pub use canvas::{Gesture, ViewChange, complex_at};
pub use commands::{Command, RenderSetting, shortcuts};
pub use dialogs::{DialogPurpose, FileDialogs};
pub use edited_kernel::{EditedKernel, Origin};
pub use editor::{COLOURING_SOURCE_LABEL, SOURCE_LABEL};
pub use settings::{ColouringChoice, EditorTab, ExportScale, Settings, SizeChoice};
pub use workers::ExportFailure;

/// The window icon (a 64×64 render of the Mandelbrot kernel by moonbrot itself).
const ICON_PNG: &[u8] = include_bytes!("../../assets/icon.png");

/// The window's initial size, in points.
pub const WINDOW_SIZE: [f32; 2] = [1400.0, 860.0];

fn icon() -> Option<egui::IconData> {
    let image = image::load_from_memory_with_format(ICON_PNG, image::ImageFormat::Png)
        .ok()?
        .to_rgba8();
    Some(egui::IconData {
        width: image.width(),
        height: image.height(),
        rgba: image.into_raw(),
    })
}

/// eframe's options for the window.
pub fn native_options() -> eframe::NativeOptions {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("moonbrot")
        .with_inner_size(WINDOW_SIZE)
        .with_min_inner_size([640.0, 400.0]);
    if let Some(icon) = icon() {
        viewport = viewport.with_icon(Arc::new(icon));
    }
    eframe::NativeOptions {
        viewport,
        ..Default::default()
    }
}

/// Opens the window and runs it until it is closed. In screenshot mode the window saves a
/// screenshot of itself to `screenshot` after its first full render, then closes; the
/// result says whether that worked.
pub fn run(options: crate::cli::WindowOptions) -> Result<(), String> {
    let outcome = ScreenshotOutcome::default();
    let request = options.screenshot.map(|path| ScreenshotRequest {
        path,
        outcome: Arc::clone(&outcome),
    });
    let screenshot_mode = request.is_some();
    eframe::run_native(
        "moonbrot",
        native_options(),
        Box::new(move |cc| {
            let options = AppOptions {
                screenshot: request,
                // Screenshot mode shows the defaults, whatever the user last had open, and
                // keeps nothing.
                settings: screenshot_mode.then(Settings::default),
                state_dir: (!screenshot_mode)
                    .then(|| eframe::storage_dir("moonbrot"))
                    .flatten(),
                recover_window: options.recover_window,
                reopen_window: Some(Arc::new(reopen_window)),
                safe_mode: options.safe_mode,
                open_file: options.file,
                ..AppOptions::default()
            };
            Ok(Box::new(MoonbrotApp::new(cc, options)?))
        }),
    )
    .map_err(|error| format!("cannot open the window: {error}"))?;
    if !screenshot_mode {
        return Ok(());
    }
    let result = crate::engine::sync::lock(&outcome).clone();
    result.unwrap_or_else(|| Err("the window closed before the screenshot was taken".to_owned()))
}

/// Starts another moonbrot window on `folder` (`moonbrot --recover-window FOLDER`), a
/// process of its own, not waited for.
fn reopen_window(folder: &std::path::Path) -> Result<(), String> {
    let program = std::env::current_exe().map_err(|error| error.to_string())?;
    std::process::Command::new(program)
        .arg("--recover-window")
        .arg(folder)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map(|mut child| {
            // Reaped when it ends, so no finished window lingers as a zombie process.
            let _ = std::thread::Builder::new()
                .name("moonbrot-reopened-window".to_owned())
                .spawn(move || child.wait());
        })
        .map_err(|error| error.to_string())
}
