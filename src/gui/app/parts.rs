//! The parts `MoonbrotApp`'s state is grouped into, each with one job: the threads work is
//! handed to, what the render in flight and the last one said, gestures over the image,
//! what the window tells the user, the measured layout, and the smaller states (a kernel
//! waiting to be opened, the export window, screenshot mode).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use super::super::dialogs::Dialogs;
use super::super::edited_kernel::{EditedKernel, Origin};
use super::super::file_watch::FileFollower;
use super::super::recovery::Autosave;
use super::super::workers::{
    BackgroundThread, ColouringThread, ExportFailure, OpenFailure, OpeningThread, RenderThread,
};
use super::{MIN_TEXTURE_SIDE, ScreenshotOutcome};
use crate::engine::geometry::default_home;
use crate::engine::kernel::{KernelFileError, ParameterSpec, ParameterValues};
use crate::engine::output::{Colouring, ColouringError, Palette};
use crate::engine::render::ReferenceSummary;
use crate::engine::{MaxIterChoice, Precision, View};

/// The threads the window hands work to (none of them is ever waited for), and the dialogs.
pub(super) struct Threads {
    /// Renders what the window shows (`moonbrot-gui-render`).
    pub render: RenderThread,
    /// Exports, films and the benchmark (`moonbrot-gui-background`).
    pub background: BackgroundThread,
    /// Follows the kernel's file while another program edits it.
    pub follower: Option<FileFollower>,
    /// Reads and checks moonbrot PNGs before they are opened (`moonbrot-gui-open`).
    pub opening: OpeningThread,
    /// Runs Lua colourings over the image on screen (`moonbrot-gui-colour`).
    pub colouring: ColouringThread,
    /// File dialogs, each on a helper thread.
    pub dialogs: Dialogs,
    /// Writes the editor text and settings to the state folder (None: not kept).
    pub autosave: Option<Autosave>,
}

/// The render wanted now, and what the last finished one said about its kernel.
pub(super) struct Rendering {
    /// The generation of the render whose results are wanted.
    pub generation: u64,
    /// The compile time of the current request's preview pass, added to its full pass.
    pub preview_compile_secs: f64,
    /// The home view of the last kernel that rendered.
    pub kernel_home: View,
    /// True when the kernel last run has `pixel_deep` (deep views render in double-double).
    pub kernel_is_deep: bool,
    /// True when the kernel last run declares a formula (deep views render by perturbation).
    pub kernel_perturbs: bool,
    /// The parameters the last kernel that rendered declares.
    pub kernel_parameters: Vec<ParameterSpec>,
    /// The precision of the image on screen.
    pub shown_precision: Option<Precision>,
    /// The reference orbit of the image on screen, when it was rendered by perturbation.
    pub shown_reference: Option<ReferenceSummary>,
    /// The render shown took the formula's interleaved pixels (precision auto).
    pub shown_interleaved: bool,
    /// The iteration limit of the image on screen, and how it was chosen.
    pub shown_max_iter: Option<(u32, MaxIterChoice)>,
    /// The newest Lua colouring job, whose colours are the ones to show.
    pub colouring_job: Option<u64>,
}

impl Default for Rendering {
    fn default() -> Self {
        Self {
            generation: 0,
            preview_compile_secs: 0.0,
            kernel_home: default_home(),
            kernel_is_deep: false,
            kernel_perturbs: false,
            kernel_parameters: Vec::new(),
            shown_precision: None,
            shown_reference: None,
            shown_interleaved: false,
            shown_max_iter: None,
            colouring_job: None,
        }
    }
}

/// Gestures in progress over the image.
#[derive(Default)]
pub(super) struct Gestures {
    /// The view a drag started from (the history records it when the drag ends).
    pub dragging_from: Option<View>,
    /// The view a wheel zoom started from, until the wheel rests.
    pub wheel_from: Option<View>,
    /// The complex parameter the next click on the image sets, if picking.
    pub picking: Option<String>,
}

/// What the window tells the user besides the image.
#[derive(Default)]
pub(super) struct Notices {
    /// What the last copy or paste of a location did, or why a paste was not a location.
    pub location: Option<Result<String, String>>,
    /// What the last Open or Save did.
    pub file_outcome: Option<FileOutcome>,
    /// The kernel's printed lines, newest last.
    pub log: Vec<String>,
    /// What could not be restored at start, shown until dismissed.
    pub restore_problems: Vec<String>,
    /// What the last Open or Export of a gradient did: what was done, or why not.
    pub gradient_outcome: Option<Result<String, String>>,
    /// Why the Lua colouring in use failed last (the image keeps its colours).
    pub colouring_error: Option<ColouringError>,
    /// The render the user stopped, and after how long (until the next render starts).
    pub render_stopped: Option<String>,
    /// What happened to the kernel's file on disk (reloaded, deleted, unreadable).
    /// (Ok: what was done; Err: a warning.)
    pub file_on_disk: Option<Result<String, String>>,
    /// The text another program saved to the kernel's file while the editor held unsaved
    /// edits: waiting for the user to choose.
    pub pending_reload: Option<String>,
}

/// The layout measured each frame, and what the next frame must do to it.
pub(super) struct Layout {
    /// The editor had the keyboard focus in the last frame.
    pub editor_has_focus: bool,
    /// The view area's size in physical pixels.
    pub view_area_px: (f32, f32),
    /// The GPU's largest texture side, in pixels.
    pub max_texture_side: u32,
    /// The window title last set.
    pub shown_title: String,
    /// The settings panel's width in the last frame, in points (0 when hidden): the editor
    /// may take what is left of the panels' share of the window.
    pub side_panel_width: f32,
    /// The editor panel's width in the last frame, in points (0 when hidden).
    pub editor_panel_width: f32,
    /// The window's width in the last frame, in points.
    pub window_width: f32,
    /// Scroll the editor back to its top-left corner in the next frame.
    pub editor_scroll_to_start: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            editor_has_focus: false,
            view_area_px: (0.0, 0.0),
            max_texture_side: MIN_TEXTURE_SIDE,
            shown_title: String::new(),
            editor_scroll_to_start: true,
            side_panel_width: 0.0,
            editor_panel_width: 0.0,
            window_width: 0.0,
        }
    }
}

/// What the last Open or Save did, shown under the editor's buttons.
#[derive(Debug)]
pub enum FileOutcome {
    /// A PNG is being read and its kernel checked.
    Reading(PathBuf),
    /// The kernel was read from this file.
    Opened(PathBuf),
    /// The kernel was written to this file.
    Saved(PathBuf),
    /// Reading or writing a .lua file failed.
    Failed(KernelFileError),
    /// A PNG could not be opened as a document (the editor kept its text).
    OpenFailed(OpenFailure),
}

/// The settings a document sets when it is opened.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DocumentSettings {
    pub max_iter: Option<u32>,
    pub palette: Palette,
    pub guessing: bool,
    pub colouring: Colouring,
}

/// What the open document brought, and what it replaced: its settings belong to it, so
/// another kernel puts back each replaced one the user has not changed since.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DocumentOverrides {
    pub replaced: DocumentSettings,
    pub brought: DocumentSettings,
}

/// A kernel and what goes with it, waiting to replace the editor's (after the user
/// confirms, when there are unsaved changes).
#[derive(Debug)]
pub(super) struct Opening {
    pub kernel: EditedKernel,
    /// The view to show; None for the kernel's home.
    pub view: Option<View>,
    /// The iteration limit, palette, parameter values, guessing and colouring a PNG stores.
    pub stored: Option<(u32, Palette, ParameterValues, bool, Colouring)>,
}

impl Opening {
    /// A kernel at its home view, its parameters at their defaults.
    pub fn kernel(text: String, origin: Origin) -> Self {
        Self {
            kernel: EditedKernel::new(text, origin),
            view: None,
            stored: None,
        }
    }
}

/// The export window's state.
#[derive(Default)]
pub(super) struct ExportState {
    pub open: bool,
    pub progress: Option<(usize, usize)>,
    /// While an export's reference orbit is computed: iterations done, of at most.
    pub reference: Option<(u32, u32)>,
    pub outcome: Option<Result<PathBuf, ExportFailure>>,
}

/// Screenshot mode's progress.
pub(super) struct Screenshot {
    pub path: PathBuf,
    pub started: Instant,
    pub full_renders_seen: usize,
    pub frames_since_render: usize,
    pub requested: bool,
    pub images: Option<Receiver<Arc<egui::ColorImage>>>,
    /// The outcome, for the process's exit code.
    pub outcome: ScreenshotOutcome,
}
