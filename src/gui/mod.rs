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
mod gradient_editor;
mod input_order;
pub mod recovery;
mod scheduler;
mod settings;
mod timings;
mod workers;

use std::path::PathBuf;
use std::sync::Arc;

pub use app::{
    AppOptions, FileOutcome, MoonbrotApp, ScreenshotOutcome, ScreenshotRequest, restore_settings,
    store_settings,
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
pub fn run(
    screenshot: Option<PathBuf>,
    safe_mode: bool,
    open_file: Option<PathBuf>,
) -> Result<(), String> {
    let outcome = ScreenshotOutcome::default();
    let request = screenshot.map(|path| ScreenshotRequest {
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
                safe_mode,
                open_file,
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
