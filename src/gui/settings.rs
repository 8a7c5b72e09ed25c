//! What the window remembers between sessions (eframe persistence): the kernel being
//! edited, the view and its history, and every setting. One struct, `#[serde(default)]`,
//! so a state saved by another version or a corrupted one falls back field by field or
//! wholesale to defaults instead of failing.

use serde::{Deserialize, Serialize};

use std::path::PathBuf;

use super::commands::RenderSetting;
use super::edited_kernel::EditedKernel;
use crate::engine::kernel::ParameterValues;
use crate::engine::output::{
    Colouring, DEFAULT_LIGHT_ANGLE_DEGREES, DEFAULT_LINE_WIDTH_PX, Palette,
};
use crate::engine::render::{ParameterPolicy, default_thread_count};
use crate::engine::{RenderRequest, View};

/// Image size presets (widths; the height follows the window's aspect ratio).
pub const SIZE_PRESETS: [u32; 4] = [320, 640, 1280, 1920];
/// The largest side of a chosen image size (and the widest export), in pixels: big
/// enough for print, small enough that one image's buffers stay well under the engine's
/// cap.
pub const MAX_CHOSEN_SIDE_PX: u32 = 16_384;
/// The widest export allowed, in pixels.
pub const MAX_EXPORT_WIDTH: u32 = MAX_CHOSEN_SIDE_PX;
/// Views kept for Back.
const MAX_HISTORY: usize = 200;

/// How big the rendered image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SizeChoice {
    /// This width; the height follows the view area's aspect ratio.
    Width(u32),
    /// Exactly this size (shown letterboxed).
    Custom {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The view area's size in physical pixels.
    FitWindow,
}

/// Resolution of an export relative to the current image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportScale {
    /// The current image size.
    Current,
    /// Twice the width and height.
    Double,
    /// Four times.
    Quadruple,
    /// This width; the height keeps the current aspect ratio.
    CustomWidth(u32),
}

/// Back and forward through the views the user has visited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewHistory {
    back: Vec<View>,
    forward: Vec<View>,
}

impl ViewHistory {
    /// Remembers `previous` before the user moves to a new view; clears Forward.
    pub fn record(&mut self, previous: View) {
        if self.back.last() != Some(&previous) {
            self.back.push(previous);
            if self.back.len() > MAX_HISTORY {
                self.back.remove(0);
            }
        }
        self.forward.clear();
    }

    /// The view before `current`, if any (and remembers `current` for Forward).
    pub fn back(&mut self, current: View) -> Option<View> {
        let previous = self.back.pop()?;
        self.forward.push(current);
        Some(previous)
    }

    /// The view after `current`, if the user went back.
    pub fn forward(&mut self, current: View) -> Option<View> {
        let next = self.forward.pop()?;
        self.back.push(current);
        Some(next)
    }

    /// True when Back has somewhere to go.
    pub fn can_go_back(&self) -> bool {
        !self.back.is_empty()
    }

    /// True when Forward has somewhere to go.
    pub fn can_go_forward(&self) -> bool {
        !self.forward.is_empty()
    }
}

/// The editor panel's width at first, in points.
pub const DEFAULT_EDITOR_WIDTH_PT: f32 = 460.0;
/// The settings panel's width at first, in points.
pub const DEFAULT_SETTINGS_WIDTH_PT: f32 = 340.0;

/// Everything the window persists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The kernel being edited (stored as the flat fields `source`, `shipped_name`,
    /// `file_path` and `saved_source`).
    #[serde(flatten)]
    pub kernel: EditedKernel,
    /// The view; None for the kernel's home.
    pub view: Option<View>,
    /// Back and Forward.
    pub history: ViewHistory,
    /// Image size.
    pub size: SizeChoice,
    /// Worker threads.
    pub threads: usize,
    /// The user's iteration limit; None for the kernel's own.
    pub max_iter: Option<u32>,
    /// Gradient, density, offset, inside colour.
    pub palette: Palette,
    /// How values become colours: smooth, or the Lua colouring in use.
    pub colouring: Colouring,
    /// The colouring editor's text (kept while smooth is chosen).
    pub colouring_source: String,
    /// The editor panel's tab.
    pub editor_tab: EditorTab,
    /// The distance colouring's line width, in pixels.
    pub line_width_px: f32,
    /// Where the slope colouring's light comes from, in degrees counter-clockwise from
    /// the right.
    pub light_angle_degrees: f32,
    /// Re-render shortly after typing stops.
    pub auto_run: bool,
    /// Export resolution.
    pub export_scale: ExportScale,
    /// The values the user gave the kernel's parameters (the others take their defaults).
    pub parameters: ParameterValues,
    /// Files opened or saved lately, newest first.
    pub recent_files: Vec<PathBuf>,
    /// Solid guessing: fill flat regions from their outline (escape kernels).
    pub guessing: bool,
    /// Exports' samples per pixel along each side (1: none).
    pub export_supersample: u32,
    /// The view a zoom film ends on, once marked.
    pub film_end: Option<View>,
    /// Frames in a zoom film.
    pub film_frames: u32,
    /// The editor panel is shown (F9, or its button in the status bar, hides it).
    pub show_editor: bool,
    /// The settings panel is shown (F10, or its button in the status bar, hides it).
    pub show_settings: bool,
    /// The editor panel's width as the user last dragged it, in points (narrower while the
    /// window is too small for it).
    pub editor_width_pt: f32,
    /// The settings panel's width as the user last dragged it, in points.
    pub settings_width_pt: f32,
}

/// The editor panel's tabs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EditorTab {
    /// The kernel's source.
    #[default]
    Kernel,
    /// The colouring's source and choice.
    Colouring,
}

/// The colourings the colouring tab offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColouringChoice {
    /// The palette's smooth mapping.
    Smooth,
    /// Escape values equalised over the image.
    Histogram,
    /// The boundary as a line, from the distance estimate.
    Distance,
    /// Relief lighting from the slope.
    Slope,
    /// The colouring editor's Lua.
    Lua,
}

impl ColouringChoice {
    /// Every choice, with its name in the menu.
    pub const ALL: [(ColouringChoice, &'static str); 5] = [
        (Self::Smooth, "smooth (the palette)"),
        (Self::Histogram, "histogram (equalised)"),
        (Self::Distance, "distance (the boundary as a line)"),
        (Self::Slope, "slope (relief lighting)"),
        (Self::Lua, "the Lua below"),
    ];

    /// The choice `colouring` is.
    pub fn of(colouring: &Colouring) -> Self {
        match colouring {
            Colouring::Smooth => Self::Smooth,
            Colouring::Histogram => Self::Histogram,
            Colouring::Distance { .. } => Self::Distance,
            Colouring::Slope { .. } => Self::Slope,
            Colouring::Lua { .. } => Self::Lua,
        }
    }
}

/// What the colouring editor holds at first: a colouring to start from.
pub const EXAMPLE_COLOURING: &str = "\
-- A colouring: colour(v) gets a pixel's escape value as stored and returns r, g, b in
-- 0..1. gradient(t) is the palette's gradient at t turns. Inside pixels get the inside
-- colour (set colour_inside = true to colour them here, with v = nil).
function colour(v)
  local r, g, b = gradient(0.1 * math.sqrt(v))
  -- Every other band a little darker.
  local shade = math.floor(v) % 2 == 0 and 1 or 0.8
  return r * shade, g * shade, b * shade
end
";

/// Frames a zoom film may have in the window.
pub const MAX_FILM_FRAMES: u32 = 10_000;

/// Files kept in the recent list.
pub const MAX_RECENT_FILES: usize = 8;

impl Settings {
    /// Sets one render setting; true if that changed it (a setting set to its own value
    /// changes nothing, so nothing renders again).
    pub fn set(&mut self, setting: RenderSetting) -> bool {
        match setting {
            RenderSetting::Size(size) => replace_if_new(&mut self.size, size),
            RenderSetting::Threads(threads) => replace_if_new(&mut self.threads, threads),
            RenderSetting::MaxIter(max_iter) => replace_if_new(&mut self.max_iter, max_iter),
            RenderSetting::Guessing(guessing) => replace_if_new(&mut self.guessing, guessing),
            RenderSetting::Palette(palette) => replace_if_new(&mut self.palette, palette),
            RenderSetting::Colouring(colouring) => replace_if_new(&mut self.colouring, colouring),
        }
    }

    /// The render request these settings make for the edited kernel at `size_px` and
    /// `view` (None: the kernel's home): the one place the window builds a request, for
    /// what it shows, exports and films alike. Parameters the kernel no longer declares
    /// are ignored (the kernel may have changed since they were set).
    pub fn render_request(&self, size_px: (u32, u32), view: Option<View>) -> RenderRequest {
        RenderRequest {
            view,
            max_iter: self.max_iter,
            threads: self.threads,
            parameters: self.parameters.clone(),
            parameter_policy: ParameterPolicy::Lenient,
            guessing: self.guessing,
            derivatives: self.colouring.needs_derivatives(),
            ..RenderRequest::new(self.kernel.text(), size_px.0, size_px.1)
        }
    }

    /// Puts `path` first in the recent files.
    pub fn remember_file(&mut self, path: &std::path::Path) {
        self.recent_files.retain(|recent| recent != path);
        self.recent_files.insert(0, path.to_owned());
        self.recent_files.truncate(MAX_RECENT_FILES);
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            kernel: EditedKernel::default(),
            view: None,
            history: ViewHistory::default(),
            size: SizeChoice::FitWindow,
            threads: default_thread_count(),
            max_iter: None,
            palette: Palette::default(),
            colouring: Colouring::Smooth,
            colouring_source: EXAMPLE_COLOURING.to_owned(),
            editor_tab: EditorTab::Kernel,
            line_width_px: DEFAULT_LINE_WIDTH_PX,
            light_angle_degrees: DEFAULT_LIGHT_ANGLE_DEGREES,
            auto_run: true,
            export_scale: ExportScale::Double,
            parameters: ParameterValues::new(),
            recent_files: Vec::new(),
            guessing: true,
            export_supersample: 1,
            film_end: None,
            film_frames: 120,
            show_editor: true,
            show_settings: true,
            editor_width_pt: DEFAULT_EDITOR_WIDTH_PT,
            settings_width_pt: DEFAULT_SETTINGS_WIDTH_PT,
        }
    }
}

impl SizeChoice {
    /// The image size for a view area of `area_px` physical pixels.
    pub fn size_px(self, area_px: (f32, f32)) -> (u32, u32) {
        let (area_width, area_height) = (area_px.0.max(1.0), area_px.1.max(1.0));
        let clamp = |side: f32| (side.round() as u32).clamp(1, MAX_CHOSEN_SIDE_PX);
        match self {
            Self::Width(width) => (width, clamp(width as f32 * area_height / area_width)),
            Self::Custom { width, height } => (width.max(1), height.max(1)),
            Self::FitWindow => (clamp(area_width), clamp(area_height)),
        }
    }
}

impl ExportScale {
    /// The export size for an image of `size_px`: always the image's aspect ratio, at most
    /// `MAX_EXPORT_WIDTH` wide.
    pub fn size_px(self, size_px: (u32, u32)) -> (u32, u32) {
        let (width, height) = (size_px.0.max(1), size_px.1.max(1));
        let wanted_width = match self {
            Self::Current => u64::from(width),
            Self::Double => u64::from(width) * 2,
            Self::Quadruple => u64::from(width) * 4,
            Self::CustomWidth(custom) => u64::from(custom.max(1)),
        };
        let export_width = wanted_width.min(u64::from(MAX_EXPORT_WIDTH)) as u32;
        let export_height = (f64::from(export_width) * f64::from(height) / f64::from(width))
            .round()
            .max(1.0) as u32;
        (export_width, export_height)
    }
}

/// Sets `field` to `value`; true if that changed it.
fn replace_if_new<T: PartialEq>(field: &mut T, value: T) -> bool {
    let changed = *field != value;
    *field = value;
    changed
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn history_goes_back_and_forward() {
        let (a, b, c) = (
            View::new(0.0, 0.0, 1.0),
            View::new(1.0, 0.0, 1.0),
            View::new(2.0, 0.0, 1.0),
        );
        let mut history = ViewHistory::default();
        history.record(a.clone());
        history.record(b.clone());
        assert_eq!(history.back(c), Some(b.clone()));
        assert_eq!(history.back(b.clone()), Some(a.clone()));
        assert!(!history.can_go_back());
        assert_eq!(history.forward(a), Some(b.clone()));
        history.record(b);
        assert!(!history.can_go_forward(), "a new move clears Forward");
    }

    #[test]
    fn a_partial_saved_state_keeps_its_fields_and_defaults_the_rest() {
        let partial: Settings =
            serde_json::from_str(r#"{"threads": 3, "source": "x = 1"}"#).expect("partial state");
        assert_eq!(partial.threads, 3);
        assert_eq!(partial.kernel.text(), "x = 1");
        assert_eq!(partial.palette, Settings::default().palette);
        assert_eq!(partial.size, Settings::default().size);
    }

    #[test]
    fn sizes_follow_the_view_area() {
        assert_eq!(SizeChoice::Width(640).size_px((800.0, 400.0)), (640, 320));
        assert_eq!(SizeChoice::FitWindow.size_px((801.4, 399.6)), (801, 400));
        assert_eq!(
            SizeChoice::Custom {
                width: 10,
                height: 20
            }
            .size_px((1.0, 1.0)),
            (10, 20)
        );
        assert_eq!(ExportScale::Double.size_px((640, 360)), (1280, 720));
        assert_eq!(
            ExportScale::CustomWidth(20_000).size_px((640, 360)),
            (16_384, 9216)
        );
    }

    #[test]
    fn an_export_capped_in_width_keeps_the_images_aspect_ratio() {
        // 4x of 8000x2000 is 32000x8000: capped at 16384 wide, it must stay 4:1.
        assert_eq!(ExportScale::Quadruple.size_px((8000, 2000)), (16_384, 4096));
        assert_eq!(ExportScale::Double.size_px((10_000, 100)), (16_384, 164));
        assert_eq!(ExportScale::Current.size_px((640, 360)), (640, 360));
    }
}
