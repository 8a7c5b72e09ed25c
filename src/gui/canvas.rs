//! The view area: draws the rendered images as textures and turns the mouse and keyboard
//! into new views. Every image is drawn where its own view maps onto the current view, so
//! while the user drags or zooms the last image moves and scales at once; the render of the
//! new view then fills in over it, a preview first, then the full image row by row.

use egui::{Color32, Pos2, Rect, Sense, Stroke, TextureHandle, TextureOptions, Ui};

use crate::engine::output::Palette;
use crate::engine::{BigFloat, OutputMode, ValueImage, View};

/// Zoom factor of one mouse-wheel step (one line).
const WHEEL_STEP_FACTOR: f64 = 1.25;
/// Zoom factor of a double-click and of the + and - keys.
const CLICK_ZOOM_FACTOR: f64 = 2.0;
/// Part of the image one arrow key press moves the view by.
const ARROW_PAN_FRACTION: f64 = 0.1;

/// A rendered image on the GPU, with the view and values it came from.
pub struct Layer {
    texture: TextureHandle,
    /// The view it shows.
    pub view: View,
    /// Its values, kept so a palette change recolours without rendering.
    pub image: ValueImage,
    /// The palette its texture is coloured with.
    pub palette: Palette,
}

/// The full-size render in progress: rows are uploaded as they arrive; rows not yet
/// rendered are transparent, so the layer below shows through.
pub struct ProgressLayer {
    texture: TextureHandle,
    /// The view being rendered.
    pub view: View,
    size_px: (u32, u32),
    output: OutputMode,
    values: Vec<f32>,
    rows_done: Vec<bool>,
    /// While the reference orbit of a render by perturbation is computed: iterations done,
    /// and the most it will take.
    pub reference_iterations: Option<(u32, u32)>,
    /// When the render started.
    pub started: std::time::Instant,
}

/// How a view change came about, which decides when to render and what history keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gesture {
    /// A drag in progress: render once it ends.
    Dragging,
    /// A drag just ended.
    DragEnded,
    /// A wheel step: render once the wheel rests.
    Wheel,
    /// A click, key or zoom box: render now.
    Discrete,
}

/// A new view the user asked for in the canvas.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewChange {
    /// The new view.
    pub view: View,
    /// What caused it.
    pub gesture: Gesture,
}

/// The view area's state.
pub struct Canvas {
    /// The last complete image (a preview or a full render).
    pub base: Option<Layer>,
    /// The full render being filled in.
    pub progress: Option<ProgressLayer>,
    zoom_box_from: Option<Pos2>,
    /// The complex point under the pointer.
    pub hover_point: Option<(BigFloat, BigFloat)>,
    /// The complex point clicked this frame (a single click), if any.
    pub clicked_point: Option<(BigFloat, BigFloat)>,
    /// The view area on screen, in points.
    pub area: Rect,
}

impl Default for Canvas {
    fn default() -> Self {
        Self {
            base: None,
            progress: None,
            zoom_box_from: None,
            hover_point: None,
            clicked_point: None,
            area: Rect::NOTHING,
        }
    }
}

fn colour_image(
    palette: &Palette,
    output: OutputMode,
    width: u32,
    height: u32,
    values: &[f32],
) -> egui::ColorImage {
    let mut rgb = vec![0_u8; width as usize * height as usize * 3];
    palette.colourize_into(output, values, &mut rgb);
    egui::ColorImage::from_rgb([width as usize, height as usize], &rgb)
}

fn colour_whole(palette: &Palette, image: &ValueImage) -> egui::ColorImage {
    colour_image(
        palette,
        image.output,
        image.width_px,
        image.height_px,
        &image.values,
    )
}

impl Layer {
    /// Uploads `image`, rendered at `view`, coloured with `palette`.
    pub fn new(ctx: &egui::Context, image: ValueImage, view: View, palette: &Palette) -> Self {
        let texture = ctx.load_texture(
            "moonbrot-image",
            colour_whole(palette, &image),
            TextureOptions::LINEAR,
        );
        Self {
            texture,
            view,
            image,
            palette: palette.clone(),
        }
    }

    /// The finished render of `progress`: its texture already holds every row, coloured,
    /// so it is kept as it is (colouring and uploading the whole image again would cost
    /// the UI a long frame at the end of every render).
    pub fn from_progress(
        progress: ProgressLayer,
        image: ValueImage,
        view: View,
        palette: Palette,
    ) -> Self {
        Self {
            texture: progress.texture,
            view,
            image,
            palette,
        }
    }

    /// Shows `colours` (as a colouring coloured its values) in place.
    pub fn show_colours(&mut self, colours: &image::RgbImage) {
        let size = [colours.width() as usize, colours.height() as usize];
        self.texture.set(
            egui::ColorImage::from_rgb(size, colours.as_raw()),
            TextureOptions::LINEAR,
        );
    }

    /// Recolours it in place with the palette's smooth colouring.
    pub fn recolour(&mut self, palette: &Palette) {
        self.texture
            .set(colour_whole(palette, &self.image), TextureOptions::LINEAR);
        self.palette = palette.clone();
    }

    /// Its size in pixels.
    pub fn size_px(&self) -> (u32, u32) {
        (self.image.width_px, self.image.height_px)
    }
}

impl ProgressLayer {
    /// An empty (transparent) layer for a render of `view` at `size_px`.
    pub fn new(ctx: &egui::Context, view: View, size_px: (u32, u32)) -> Self {
        let blank = egui::ColorImage::filled(
            [size_px.0 as usize, size_px.1 as usize],
            Color32::TRANSPARENT,
        );
        Self {
            texture: ctx.load_texture("moonbrot-progress", blank, TextureOptions::LINEAR),
            view,
            size_px,
            output: OutputMode::ESCAPE,
            values: Vec::new(),
            rows_done: vec![false; size_px.1 as usize],
            reference_iterations: None,
            started: std::time::Instant::now(),
        }
    }

    /// Uploads rows that have just been rendered, coloured by `colour` (given them as an
    /// image of `row_count` rows).
    pub fn add_rows(
        &mut self,
        colour: impl FnOnce(&ValueImage) -> image::RgbImage,
        (output, channel_names): (OutputMode, &[String]),
        first_row: u32,
        row_count: u32,
        values: &[f32],
    ) {
        let (width, height) = self.size_px;
        let row_values = width as usize * output.channels();
        if self.values.is_empty() || self.output != output {
            self.output = output;
            self.values = vec![f32::NAN; row_values * height as usize];
        }
        let start = first_row as usize * row_values;
        let Some(slot) = self.values.get_mut(start..start + values.len()) else {
            return;
        };
        slot.copy_from_slice(values);
        for done in self
            .rows_done
            .iter_mut()
            .skip(first_row as usize)
            .take(row_count as usize)
        {
            *done = true;
        }
        let rows = ValueImage {
            width_px: width,
            height_px: row_count,
            output,
            channel_names: channel_names.to_vec(),
            values: values.to_vec(),
        };
        let colours = colour(&rows);
        let size = [colours.width() as usize, colours.height() as usize];
        self.texture.set_partial(
            [0, first_row as usize],
            egui::ColorImage::from_rgb(size, colours.as_raw()),
            TextureOptions::LINEAR,
        );
    }

    /// Recolours the rows rendered so far with `colour` (given them as one image; rows
    /// not yet rendered hold NaN and stay transparent).
    pub fn recolour(
        &mut self,
        colour: impl FnOnce(&ValueImage) -> image::RgbImage,
        channel_names: &[String],
    ) {
        let (width, height) = self.size_px;
        if self.values.is_empty() {
            return;
        }
        let image = ValueImage {
            width_px: width,
            height_px: height,
            output: self.output,
            channel_names: channel_names.to_vec(),
            values: std::mem::take(&mut self.values),
        };
        let rgb = colour(&image);
        self.values = image.values;
        let mut colours =
            egui::ColorImage::from_rgb([width as usize, height as usize], rgb.as_raw());
        for (row, done) in self.rows_done.iter().enumerate() {
            if !done {
                let start = row * width as usize;
                colours.pixels[start..start + width as usize].fill(Color32::TRANSPARENT);
            }
        }
        self.texture.set(colours, TextureOptions::LINEAR);
    }

    /// What its values are.
    pub fn output(&self) -> OutputMode {
        self.output
    }

    /// True when every row of an image of `size_px` has arrived.
    pub fn is_complete_for(&self, size_px: (u32, u32)) -> bool {
        self.size_px == size_px && self.rows_done.iter().all(|done| *done)
    }

    /// Rows rendered so far.
    pub fn rows_done(&self) -> usize {
        self.rows_done.iter().filter(|done| **done).count()
    }
}

/// Screen placement of the current image: where pixel (0, 0) goes and how big a pixel is.
#[derive(Clone, Copy)]
struct Placement {
    image_rect: Rect,
    size_px: (u32, u32),
}

impl Placement {
    /// The image, letterboxed at its aspect ratio in `area`.
    fn fit(area: Rect, size_px: (u32, u32)) -> Self {
        let aspect = size_px.0 as f32 / size_px.1.max(1) as f32;
        let mut size = area.size();
        if size.x / size.y.max(1.0) > aspect {
            size.x = size.y * aspect;
        } else {
            size.y = size.x / aspect;
        }
        Self {
            image_rect: Rect::from_center_size(area.center(), size),
            size_px,
        }
    }

    /// Image pixels per screen point.
    fn pixels_per_point(&self) -> f64 {
        f64::from(self.size_px.0) / f64::from(self.image_rect.width().max(1e-3))
    }

    fn pos_in_image(&self, screen: Pos2) -> (f64, f64) {
        let scale = self.pixels_per_point();
        (
            f64::from(screen.x - self.image_rect.min.x) * scale,
            f64::from(screen.y - self.image_rect.min.y) * scale,
        )
    }

    fn screen_from_pos_in_image(&self, pos: (f64, f64)) -> Pos2 {
        let scale = self.pixels_per_point();
        Pos2::new(
            self.image_rect.min.x + (pos.0 / scale) as f32,
            self.image_rect.min.y + (pos.1 / scale) as f32,
        )
    }

    /// Where an image of `layer_view` at `layer_size_px` lands on screen under `view`.
    fn layer_rect(&self, view: &View, layer_view: &View, layer_size_px: (u32, u32)) -> Rect {
        let corners = [
            (0.0, 0.0),
            (f64::from(layer_size_px.0), f64::from(layer_size_px.1)),
        ]
        .map(|corner| layer_view.complex_from_pos_in_image(corner, layer_size_px))
        .map(|point| {
            self.screen_from_pos_in_image(view.pos_in_image_from_complex(&point, self.size_px))
        });
        Rect::from_two_pos(corners[0], corners[1])
    }
}

/// The complex point under a screen position, for the view shown at `size_px` in `area`.
pub fn complex_at(
    area: Rect,
    view: &View,
    size_px: (u32, u32),
    screen: Pos2,
) -> (BigFloat, BigFloat) {
    let placement = Placement::fit(area, size_px);
    view.complex_at_exact_pos(placement.pos_in_image(screen), size_px)
}

impl Canvas {
    /// Draws the view area and returns the view the user moved to, if any. Keyboard
    /// navigation applies only when `keyboard` is true (no text field has focus).
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        view: &View,
        size_px: (u32, u32),
        keyboard: bool,
    ) -> Option<ViewChange> {
        let area = ui.available_rect_before_wrap();
        let response = ui.allocate_rect(area, Sense::click_and_drag());
        self.area = area;
        let placement = Placement::fit(area, size_px);
        let painter = ui.painter_at(area);
        self.draw_layers(&painter, &placement, view);
        self.hover_point = response
            .hover_pos()
            .map(|pointer| view.complex_at_exact_pos(placement.pos_in_image(pointer), size_px));
        self.clicked_point = response
            .clicked()
            .then(|| response.interact_pointer_pos())
            .flatten()
            .map(|pointer| view.complex_at_exact_pos(placement.pos_in_image(pointer), size_px));

        let shift = ui.input(|input| input.modifiers.shift);
        let mut change = self.drag_gesture(&response, &painter, &placement, view, shift);
        if let Some(zoomed) = double_click_zoom(&response, &placement, view) {
            change = Some(zoomed);
        }
        if let Some(zoomed) = wheel_zoom(ui, &response, &placement, view) {
            change = Some(zoomed);
        }
        if keyboard && change.is_none() {
            change = keyboard_navigation(ui, view, size_px).map(|view| ViewChange {
                view,
                gesture: Gesture::Discrete,
            });
        }
        change
    }

    /// The last complete image, and the render in progress over it, each where its view
    /// lands under `view` (so a moved view shows the old image moved at once).
    fn draw_layers(&self, painter: &egui::Painter, placement: &Placement, view: &View) {
        painter.rect_filled(painter.clip_rect(), 0.0, Color32::from_gray(16));
        let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
        if let Some(base) = &self.base {
            let rect = placement.layer_rect(view, &base.view, base.size_px());
            painter.image(base.texture.id(), rect, uv, Color32::WHITE);
        }
        if let Some(progress) = &self.progress {
            let rect = placement.layer_rect(view, &progress.view, progress.size_px);
            painter.image(progress.texture.id(), rect, uv, Color32::WHITE);
        }
    }

    /// A drag pans; a Shift+drag draws a box and zooms to it when released.
    fn drag_gesture(
        &mut self,
        response: &egui::Response,
        painter: &egui::Painter,
        placement: &Placement,
        view: &View,
        shift: bool,
    ) -> Option<ViewChange> {
        if response.drag_started() && shift {
            self.zoom_box_from = response.interact_pointer_pos();
        }
        let mut change = None;
        if let (Some(from), Some(to)) = (self.zoom_box_from, response.interact_pointer_pos()) {
            let rect = Rect::from_two_pos(from, to);
            painter.rect_stroke(
                rect,
                0.0,
                Stroke::new(1.5, Color32::WHITE),
                egui::StrokeKind::Middle,
            );
            if response.drag_stopped() && rect.width() > 3.0 && rect.height() > 3.0 {
                change = Some(ViewChange {
                    view: zoom_to_box(view, placement, rect),
                    gesture: Gesture::Discrete,
                });
            }
        } else if response.dragged_by(egui::PointerButton::Primary) || response.drag_stopped() {
            let delta = response.drag_delta();
            let scale = placement.pixels_per_point();
            let panned = view.panned_by_pixels(
                (f64::from(delta.x) * scale, f64::from(delta.y) * scale),
                placement.size_px.1,
            );
            change = Some(ViewChange {
                view: panned,
                gesture: if response.drag_stopped() {
                    Gesture::DragEnded
                } else {
                    Gesture::Dragging
                },
            });
        }
        if response.drag_stopped() {
            self.zoom_box_from = None;
        }
        change
    }
}

/// A double-click zooms in about the point clicked.
fn double_click_zoom(
    response: &egui::Response,
    placement: &Placement,
    view: &View,
) -> Option<ViewChange> {
    let pointer = response
        .double_clicked()
        .then(|| response.interact_pointer_pos())
        .flatten()?;
    Some(ViewChange {
        view: view.zoomed_about_pos_in_image(
            placement.pos_in_image(pointer),
            placement.size_px,
            CLICK_ZOOM_FACTOR,
        ),
        gesture: Gesture::Discrete,
    })
}

/// The wheel zooms about the point under the pointer (which stays put).
fn wheel_zoom(
    ui: &Ui,
    response: &egui::Response,
    placement: &Placement,
    view: &View,
) -> Option<ViewChange> {
    let pointer = response.hover_pos()?;
    let steps = wheel_steps(ui);
    if steps == 0.0 {
        return None;
    }
    Some(ViewChange {
        view: view.zoomed_about_pos_in_image(
            placement.pos_in_image(pointer),
            placement.size_px,
            WHEEL_STEP_FACTOR.powf(steps),
        ),
        gesture: Gesture::Wheel,
    })
}

/// Wheel movement this frame, in steps (one line = one step; up zooms in).
fn wheel_steps(ui: &Ui) -> f64 {
    ui.input(|input| {
        input
            .events
            .iter()
            .map(|event| match event {
                egui::Event::MouseWheel { unit, delta, .. } => {
                    let lines = match unit {
                        egui::MouseWheelUnit::Line => delta.y,
                        egui::MouseWheelUnit::Point => delta.y / 50.0,
                        egui::MouseWheelUnit::Page => delta.y * 10.0,
                    };
                    f64::from(lines)
                }
                _ => 0.0,
            })
            .sum()
    })
}

/// Arrows pan, + and - zoom about the centre.
fn keyboard_navigation(ui: &Ui, view: &View, size_px: (u32, u32)) -> Option<View> {
    use egui::Key;
    let step = |fraction: f64, side: u32| fraction * f64::from(side);
    let (width, height) = size_px;
    ui.input(|input| {
        if input.modifiers.alt || input.modifiers.command {
            return None;
        }
        let center = || (view.center_x.clone(), view.center_y.clone());
        if input.key_pressed(Key::ArrowLeft) {
            Some(view.panned_by_pixels((step(ARROW_PAN_FRACTION, width), 0.0), height))
        } else if input.key_pressed(Key::ArrowRight) {
            Some(view.panned_by_pixels((-step(ARROW_PAN_FRACTION, width), 0.0), height))
        } else if input.key_pressed(Key::ArrowUp) {
            Some(view.panned_by_pixels((0.0, step(ARROW_PAN_FRACTION, height)), height))
        } else if input.key_pressed(Key::ArrowDown) {
            Some(view.panned_by_pixels((0.0, -step(ARROW_PAN_FRACTION, height)), height))
        } else if input.key_pressed(Key::Plus) || input.key_pressed(Key::Equals) {
            Some(view.zoomed_about(center(), CLICK_ZOOM_FACTOR))
        } else if input.key_pressed(Key::Minus) {
            Some(view.zoomed_about(center(), 1.0 / CLICK_ZOOM_FACTOR))
        } else {
            None
        }
    })
}

/// The view that shows the screen rectangle `rect` (at the image's aspect ratio).
fn zoom_to_box(view: &View, placement: &Placement, rect: Rect) -> View {
    let size_px = placement.size_px;
    let center = view.complex_at_exact_pos(placement.pos_in_image(rect.center()), size_px);
    // Box sides in image heights (the span's unit), so any depth works.
    let per_point = placement.pixels_per_point() / f64::from(size_px.1.max(1));
    let aspect = f64::from(size_px.0) / f64::from(size_px.1.max(1));
    let box_height = f64::from(rect.height()) * per_point;
    let box_width = f64::from(rect.width()) * per_point;
    View::at(
        center.0,
        center.1,
        view.span.mul_f64(box_height.max(box_width / aspect)),
    )
}
