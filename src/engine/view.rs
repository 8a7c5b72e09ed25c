//! The view: which region of the complex plane an image shows, and the maths that maps
//! between pixels and complex coordinates (pixel centres, pan, zoom about a point).
//!
//! A view is a centre and a `span`, the height of the image in the complex plane, so one
//! view renders the same region at any image size: the width in the plane follows from the
//! aspect ratio. Pixel (0, 0) is the top-left pixel; the imaginary axis points up.

use serde::{Deserialize, Serialize};

use super::error::RequestError;

/// A region of the complex plane: centre and height (`span`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// Real part of the image's centre.
    pub center_x: f64,
    /// Imaginary part of the image's centre.
    pub center_y: f64,
    /// Height of the image in the complex plane (> 0).
    pub span: f64,
}

/// The view used when a kernel sets no `home`.
pub const DEFAULT_HOME: View = View {
    center_x: -0.5,
    center_y: 0.0,
    span: 3.0,
};

/// Where each pixel's centre lies in the complex plane, for one image size:
/// pixel (column, row) is at `x_first + column * x_step`, `y_first + row * y_step`.
///
/// The Lua driver and the native reference evaluate exactly this expression, so the two
/// see bit-identical coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelGrid {
    /// Real part of column 0's centre.
    pub x_first: f64,
    /// Real distance between neighbouring columns.
    pub x_step: f64,
    /// Imaginary part of row 0's centre.
    pub y_first: f64,
    /// Imaginary distance between neighbouring rows (negative: rows go down).
    pub y_step: f64,
}

impl PixelGrid {
    /// The complex point at the centre of pixel (column, row).
    pub fn complex_from_pixel(&self, column: u32, row: u32) -> (f64, f64) {
        (
            self.x_first + f64::from(column) * self.x_step,
            self.y_first + f64::from(row) * self.y_step,
        )
    }
}

impl View {
    /// A view centred on (x, y) with the given span.
    pub fn new(center_x: f64, center_y: f64, span: f64) -> Self {
        Self {
            center_x,
            center_y,
            span,
        }
    }

    /// Checks that the view can be rendered: a finite centre and a finite span > 0.
    pub fn validate(&self) -> Result<(), RequestError> {
        if !self.center_x.is_finite() || !self.center_y.is_finite() {
            return Err(RequestError::View(format!(
                "the centre ({}, {}) must be finite numbers",
                self.center_x, self.center_y
            )));
        }
        if !self.span.is_finite() || self.span <= 0.0 {
            return Err(RequestError::View(format!(
                "the span {} must be a finite number greater than 0",
                self.span
            )));
        }
        Ok(())
    }

    /// Size of one pixel in the complex plane, for an image `height_px` pixels high.
    pub fn scale_per_pixel(&self, height_px: u32) -> f64 {
        self.span / f64::from(height_px.max(1))
    }

    /// The pixel-centre grid for an image of this size.
    pub fn pixel_grid(&self, width_px: u32, height_px: u32) -> PixelGrid {
        let scale = self.scale_per_pixel(height_px);
        PixelGrid {
            x_first: self.center_x + (0.5 - f64::from(width_px) / 2.0) * scale,
            x_step: scale,
            y_first: self.center_y - (0.5 - f64::from(height_px) / 2.0) * scale,
            y_step: -scale,
        }
    }

    /// The view of frame `index` of `count` of a zoom film from `start` to `end`: the span
    /// changes geometrically, and the centre's distance from the end's centre shrinks with
    /// the span, so the end point drifts steadily to the middle of the picture.
    pub fn film_frame(start: View, end: View, index: u32, count: u32) -> View {
        if count <= 1 || index + 1 >= count {
            return if index == 0 { start } else { end };
        }
        let progress = f64::from(index) / f64::from(count - 1);
        let span = start.span * (end.span / start.span).powf(progress);
        let toward_end = if (start.span - end.span).abs() > f64::EPSILON * start.span {
            (span - end.span) / (start.span - end.span)
        } else {
            1.0 - progress
        };
        View::new(
            end.center_x + (start.center_x - end.center_x) * toward_end,
            end.center_y + (start.center_y - end.center_y) * toward_end,
            span,
        )
    }

    /// The complex point at a position in the image, in pixels from its top-left corner
    /// (fractional positions allowed: (0.5, 0.5) is the first pixel's centre).
    pub fn complex_from_pos_in_image(
        &self,
        pos_in_image: (f64, f64),
        size_px: (u32, u32),
    ) -> (f64, f64) {
        let scale = self.scale_per_pixel(size_px.1);
        (
            self.center_x + (pos_in_image.0 - f64::from(size_px.0) / 2.0) * scale,
            self.center_y - (pos_in_image.1 - f64::from(size_px.1) / 2.0) * scale,
        )
    }

    /// The position in the image (pixels from the top-left corner) of a complex point.
    pub fn pos_in_image_from_complex(&self, point: (f64, f64), size_px: (u32, u32)) -> (f64, f64) {
        let scale = self.scale_per_pixel(size_px.1);
        (
            (point.0 - self.center_x) / scale + f64::from(size_px.0) / 2.0,
            (self.center_y - point.1) / scale + f64::from(size_px.1) / 2.0,
        )
    }

    /// This view moved so that the image content shifts by (dx, dy) pixels (a drag to the
    /// right by dx shows what was to the left).
    pub fn panned_by_pixels(&self, delta_px: (f64, f64), height_px: u32) -> Self {
        let scale = self.scale_per_pixel(height_px);
        Self {
            center_x: self.center_x - delta_px.0 * scale,
            center_y: self.center_y + delta_px.1 * scale,
            span: self.span,
        }
    }

    /// This view zoomed by `factor` (> 1 zooms in) about a complex point that stays at the
    /// same place in the image.
    pub fn zoomed_about(&self, fixed_point: (f64, f64), factor: f64) -> Self {
        Self {
            center_x: fixed_point.0 + (self.center_x - fixed_point.0) / factor,
            center_y: fixed_point.1 + (self.center_y - fixed_point.1) / factor,
            span: self.span / factor,
        }
    }

    /// How many times this view is magnified relative to `home` (by span).
    pub fn zoom_relative_to(&self, home: &View) -> f64 {
        home.span / self.span
    }

    /// True when neighbouring pixels are so close that f64 can barely tell their
    /// coordinates apart (fewer than about 1000 distinct values between them), so deeper
    /// zooms turn blocky.
    pub fn near_precision_limit(&self, height_px: u32) -> bool {
        let scale = self.scale_per_pixel(height_px);
        let magnitude = self.center_x.abs().max(self.center_y.abs()).max(self.span);
        scale < magnitude * f64::EPSILON * 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_centres_are_symmetric_about_the_view_centre() {
        let view = View::new(1.0, -2.0, 2.0);
        let grid = view.pixel_grid(4, 2);
        let first = grid.complex_from_pixel(0, 0);
        let last = grid.complex_from_pixel(3, 1);
        assert_eq!(first, (-0.5, -1.5));
        assert!((first.0 + last.0 - 2.0 * view.center_x).abs() < 1e-12);
        assert!((first.1 + last.1 - 2.0 * view.center_y).abs() < 1e-12);
        assert!(
            grid.y_step < 0.0,
            "row 0 is the top: imaginary parts fall down the image"
        );
    }

    #[test]
    fn the_same_view_covers_the_same_height_at_any_size() {
        let view = View::new(0.0, 0.0, 2.0);
        for height in [10, 720, 4096] {
            let grid = view.pixel_grid(height * 2, height);
            let top = grid.y_first - grid.y_step / 2.0;
            let bottom = grid.y_first + grid.y_step * (f64::from(height) - 0.5);
            assert!((top - 1.0).abs() < 1e-12 && (bottom + 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn complex_and_image_positions_round_trip() {
        let view = View::new(-0.75, 0.1, 0.003);
        let size = (1280, 720);
        let point = view.complex_from_pos_in_image((100.25, 700.5), size);
        let back = view.pos_in_image_from_complex(point, size);
        assert!((back.0 - 100.25).abs() < 1e-6 && (back.1 - 700.5).abs() < 1e-6);
        let grid = view.pixel_grid(size.0, size.1);
        let centre = view.complex_from_pos_in_image((10.5, 20.5), size);
        let grid_point = grid.complex_from_pixel(10, 20);
        assert!((centre.0 - grid_point.0).abs() < 1e-15 && (centre.1 - grid_point.1).abs() < 1e-15);
    }

    #[test]
    fn zooming_keeps_the_fixed_point_at_the_same_place_in_the_image() {
        let view = View::new(-0.5, 0.0, 3.0);
        let size = (800, 600);
        let cursor = (613.0, 97.0);
        let point = view.complex_from_pos_in_image(cursor, size);
        let zoomed = view.zoomed_about(point, 1.25);
        let after = zoomed.pos_in_image_from_complex(point, size);
        assert!((after.0 - cursor.0).abs() < 1e-9 && (after.1 - cursor.1).abs() < 1e-9);
        assert!((zoomed.zoom_relative_to(&view) - 1.25).abs() < 1e-12);
    }

    #[test]
    fn panning_moves_content_with_the_drag() {
        let view = View::new(0.0, 0.0, 2.0);
        let size = (200, 100);
        let point = view.complex_from_pos_in_image((50.0, 50.0), size);
        let panned = view.panned_by_pixels((30.0, -10.0), size.1);
        let after = panned.pos_in_image_from_complex(point, size);
        assert!((after.0 - 80.0).abs() < 1e-9 && (after.1 - 40.0).abs() < 1e-9);
    }

    #[test]
    fn invalid_views_are_refused() {
        for view in [
            View::new(f64::NAN, 0.0, 1.0),
            View::new(0.0, f64::INFINITY, 1.0),
            View::new(0.0, 0.0, 0.0),
            View::new(0.0, 0.0, -1.0),
            View::new(0.0, 0.0, f64::NAN),
        ] {
            assert!(view.validate().is_err(), "{view:?} should be refused");
        }
        assert!(DEFAULT_HOME.validate().is_ok());
    }

    #[test]
    fn precision_warning_starts_at_deep_zoom() {
        assert!(!View::new(-0.75, 0.1, 1e-9).near_precision_limit(1000));
        assert!(View::new(-0.75, 0.1, 1e-14).near_precision_limit(1000));
    }
}
