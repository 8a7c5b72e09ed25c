//! The view: which region of the complex plane an image shows, and the maths that maps
//! between pixels and complex coordinates (pixel centres, pan, zoom about a point).
//!
//! A view is a centre and a `span`, the height of the image in the complex plane, so one
//! view renders the same region at any image size: the width in the plane follows from the
//! aspect ratio. Pixel (0, 0) is the top-left pixel; the imaginary axis points up.
//!
//! The centre is a double-double (`Dd`, about 31 digits) and every move computes in it, so
//! a view can go down to a span of 1e-24 and back without drifting; the span itself is an
//! f64 (its relative precision is all that matters). A location's text form
//! (`--center=X,Y --span S`, the CLI's own arguments) carries every digit.

use serde::{Deserialize, Serialize};

use crate::engine::error::RequestError;

use super::double_double::Dd;
use super::lattice::{PixelGrid, lattice_axis};

/// A region of the complex plane: centre and height (`span`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// Real part of the image's centre.
    pub center_x: Dd,
    /// Imaginary part of the image's centre.
    pub center_y: Dd,
    /// Height of the image in the complex plane (> 0).
    pub span: f64,
}

/// The arithmetic a kernel's coordinates are given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Precision {
    /// f64: `pixel(x, y)` on numbers (spans down to about 1e-10 per 1000 pixels).
    #[default]
    Double,
    /// Double-double: `pixel_deep(x, y)` on `dd` values (spans down to about 1e-24).
    DoubleDouble,
    /// Perturbation: the kernel's declared formula, each pixel iterated as its difference
    /// from a reference orbit computed in arbitrary precision.
    Perturbation,
}

impl Precision {
    /// The name the status bar, the CLI and `--precision` use.
    pub fn label(self) -> &'static str {
        match self {
            Precision::Double => "f64",
            Precision::DoubleDouble => "double-double",
            Precision::Perturbation => "perturbation",
        }
    }
}

/// The view used when a kernel sets no `home`.
pub const DEFAULT_HOME: View = View {
    center_x: Dd::from_f64(-0.5),
    center_y: Dd::ZERO,
    span: 3.0,
};

impl View {
    /// A view centred on (x, y) with the given span.
    pub fn new(center_x: f64, center_y: f64, span: f64) -> Self {
        Self::at(Dd::from_f64(center_x), Dd::from_f64(center_y), span)
    }

    /// A view centred on a double-double point with the given span.
    pub fn at(center_x: Dd, center_y: Dd, span: f64) -> Self {
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
        let (x_origin, first_column_index) = lattice_axis(self.center_x, scale, width_px);
        // Rows go down, so the imaginary axis is the lattice's negative direction.
        let (negated_y_origin, first_row_index) = lattice_axis(-self.center_y, scale, height_px);
        PixelGrid {
            x_origin,
            x_step: scale,
            first_column_index,
            y_origin: Dd::ZERO - negated_y_origin, // +0.0, not -0.0, on the lattice
            y_step: -scale,
            first_row_index,
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
        View::at(
            end.center_x + (start.center_x - end.center_x).mul_f64(toward_end),
            end.center_y + (start.center_y - end.center_y).mul_f64(toward_end),
            span,
        )
    }

    /// The complex point at a position in the image, in pixels from its top-left corner
    /// (fractional positions allowed: (0.5, 0.5) is the first pixel's centre), as rendered
    /// (on the view's pixel lattice).
    pub fn complex_from_pos_in_image(
        &self,
        pos_in_image: (f64, f64),
        size_px: (u32, u32),
    ) -> (Dd, Dd) {
        self.pixel_grid(size_px.0, size_px.1)
            .complex_from_pos_in_image(pos_in_image)
    }

    /// The complex point at a position in the image of the view itself (not rounded to the
    /// pixel lattice): what zooming about the cursor keeps fixed, so a point stays under
    /// the cursor through any number of zoom steps (a rounding per step would add up).
    pub fn complex_at_exact_pos(&self, pos_in_image: (f64, f64), size_px: (u32, u32)) -> (Dd, Dd) {
        let scale = self.scale_per_pixel(size_px.1);
        (
            self.center_x
                .add_f64((pos_in_image.0 - f64::from(size_px.0) / 2.0) * scale),
            self.center_y
                .add_f64(-(pos_in_image.1 - f64::from(size_px.1) / 2.0) * scale),
        )
    }

    /// The position in the image (pixels from the top-left corner) of a complex point, as
    /// rendered.
    pub fn pos_in_image_from_complex(&self, point: (Dd, Dd), size_px: (u32, u32)) -> (f64, f64) {
        self.pixel_grid(size_px.0, size_px.1)
            .pos_in_image_from_complex(point)
    }

    /// This view moved so that the image content shifts by (dx, dy) pixels (a drag to the
    /// right by dx shows what was to the left).
    pub fn panned_by_pixels(&self, delta_px: (f64, f64), height_px: u32) -> Self {
        let scale = self.scale_per_pixel(height_px);
        Self {
            center_x: self.center_x.add_f64(-delta_px.0 * scale),
            center_y: self.center_y.add_f64(delta_px.1 * scale),
            span: self.span,
        }
    }

    /// This view zoomed by `factor` (> 1 zooms in) about a complex point that stays at the
    /// same place in the image.
    pub fn zoomed_about(&self, fixed_point: (impl Into<Dd>, impl Into<Dd>), factor: f64) -> Self {
        let (fixed_x, fixed_y) = (fixed_point.0.into(), fixed_point.1.into());
        Self {
            center_x: fixed_x + (self.center_x - fixed_x).div_f64(factor),
            center_y: fixed_y + (self.center_y - fixed_y).div_f64(factor),
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
        self.pixels_closer_than(f64::EPSILON, height_px)
    }

    /// True when even double-double coordinates barely tell neighbouring pixels apart
    /// (fewer than about 1000 distinct values between them, as `near_precision_limit`
    /// for f64): deeper, images turn blocky again.
    pub fn near_double_double_limit(&self, height_px: u32) -> bool {
        self.pixels_closer_than(f64::EPSILON * f64::EPSILON, height_px)
    }

    /// True when the pixel step is below 1000 units of relative precision `epsilon` at the
    /// view's magnitude (its centre's or its span's, whichever is larger).
    fn pixels_closer_than(&self, epsilon: f64, height_px: u32) -> bool {
        let magnitude = self
            .center_x
            .hi()
            .abs()
            .max(self.center_y.hi().abs())
            .max(self.span);
        self.scale_per_pixel(height_px) < magnitude * epsilon * 1000.0
    }

    /// The location as text a user can copy: the CLI's own arguments, with every digit of
    /// the centre (`--center=-0.74364388703715870475219150611478,0.1318... --span 1e-20`).
    pub fn location_text(&self) -> String {
        format!(
            "--center={},{} --span {:?}",
            self.center_x, self.center_y, self.span
        )
    }

    /// Reads a location from text: `location_text`'s form (`--center=X,Y --span S`, with
    /// `=` or a space after either flag), or three numbers `X Y SPAN` separated by commas
    /// or spaces. The numbers are read as exact decimals.
    pub fn parse_location(text: &str) -> Result<View, RequestError> {
        let bad = |why: String| RequestError::View(format!("not a location: {why}"));
        let words: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
            .filter(|word| !word.is_empty())
            .collect();
        let numbers: Vec<&str> = match words.as_slice() {
            ["--center", x, y, "--span", span] | ["--span", span, "--center", x, y] => {
                vec![x, y, span]
            }
            [x, y, span] => vec![x, y, span],
            _ => {
                return Err(bad(
                    "expected --center=X,Y --span S (or X, Y and the span)".to_owned()
                ));
            }
        };
        let number = |word: &str| Dd::parse_decimal(word).map_err(|error| bad(error.to_string()));
        let view = View::at(
            number(numbers[0])?,
            number(numbers[1])?,
            number(numbers[2])?.to_f64(),
        );
        view.validate()?;
        Ok(view)
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pixel_centers_are_symmetric_about_the_view_center() {
        let view = View::new(1.0, -2.0, 2.0);
        let grid = view.pixel_grid(4, 2);
        let first = grid.complex_from_pixel(0, 0);
        let last = grid.complex_from_pixel(3, 1);
        assert_eq!(first, (-0.5, -1.5));
        assert!((first.0 + last.0 - 2.0 * view.center_x.to_f64()).abs() < 1e-12);
        assert!((first.1 + last.1 - 2.0 * view.center_y.to_f64()).abs() < 1e-12);
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
            let top = grid.complex_from_pos_in_image((0.0, 0.0)).1.to_f64();
            let bottom = grid
                .complex_from_pos_in_image((0.0, f64::from(height)))
                .1
                .to_f64();
            assert!((top - 1.0).abs() < 1e-12 && (bottom + 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn a_pan_by_whole_pixels_keeps_the_very_same_points_at_the_kept_pixels() {
        let view = View::new(-0.743_643_887, 0.131_825_904, 0.000_12);
        let size = (1280, 720);
        let grid = view.pixel_grid(size.0, size.1);
        for (dx, dy) in [(100.0, 0.0), (-37.0, 12.0), (0.0, -250.0)] {
            let panned = view.panned_by_pixels((dx, dy), size.1);
            let panned_grid = panned.pixel_grid(size.0, size.1);
            let (columns, rows) = panned_grid.shift_from(&grid).expect("same lattice");
            assert_eq!((columns, rows), (-(dx as i64), -(dy as i64)));
            for (column, row) in [(500_u32, 300_u32), (700, 400)] {
                let earlier = grid.complex_from_pixel(
                    (i64::from(column) + columns) as u32,
                    (i64::from(row) + rows) as u32,
                );
                assert_eq!(panned_grid.complex_from_pixel(column, row), earlier);
            }
        }
        let zoomed = view
            .zoomed_about((-0.7436, 0.1318), 1.5)
            .pixel_grid(size.0, size.1);
        assert_eq!(zoomed.shift_from(&grid), None, "a zoom shares no lattice");
    }

    #[test]
    fn pixel_centers_mirror_exactly_across_the_real_axis() {
        for (center_y, height) in [(0.0, 720), (0.0, 721), (0.3, 500), (-0.05, 101)] {
            let grid = View::new(-0.5, center_y, 2.0).pixel_grid(640, height);
            let ys: Vec<f64> = (0..height)
                .map(|row| grid.complex_from_pixel(0, row).1)
                .collect();
            let mirrored = ys.iter().filter(|y| ys.contains(&-**y)).count();
            assert!(mirrored > 0, "{center_y} {height}: some rows mirror");
            for y in &ys {
                if let Some(mirror) = ys.iter().find(|other| (**other + *y).abs() < 1e-9) {
                    assert_eq!(mirror.to_bits(), (-*y).to_bits());
                }
            }
        }
    }

    #[test]
    fn the_image_is_the_view_to_within_half_a_pixel() {
        let view = View::new(0.123_456_789, -0.987_654_321, 0.01);
        let size = (333, 250);
        let grid = view.pixel_grid(size.0, size.1);
        let center = grid.complex_from_pos_in_image((166.5, 125.0));
        let pixel = view.scale_per_pixel(size.1);
        assert!((center.0 - view.center_x).to_f64().abs() <= 0.5 * pixel + 1e-15);
        assert!((center.1 - view.center_y).to_f64().abs() <= 0.5 * pixel + 1e-15);
    }

    #[test]
    fn views_too_deep_for_a_lattice_are_still_centerd_on_their_view() {
        let view = View::new(1.0e10, -3.0, 1.0e-9);
        let grid = view.pixel_grid(100, 100);
        let center = grid.complex_from_pos_in_image((50.0, 50.0));
        assert_eq!(grid.x_origin, Dd::from_f64(1.0e10));
        assert!((center.0 - view.center_x).to_f64().abs() < 1e-5);
        assert!((center.1 - view.center_y).to_f64().abs() < 1e-15);
    }

    #[test]
    fn complex_and_image_positions_round_trip() {
        let view = View::new(-0.75, 0.1, 0.003);
        let size = (1280, 720);
        let point = view.complex_from_pos_in_image((100.25, 700.5), size);
        let back = view.pos_in_image_from_complex(point, size);
        assert!((back.0 - 100.25).abs() < 1e-6 && (back.1 - 700.5).abs() < 1e-6);
        let grid = view.pixel_grid(size.0, size.1);
        let center = view.complex_from_pos_in_image((10.5, 20.5), size);
        let grid_point = grid.complex_from_pixel(10, 20);
        assert!(
            (center.0.to_f64() - grid_point.0).abs() < 1e-15
                && (center.1.to_f64() - grid_point.1).abs() < 1e-15
        );
    }

    #[test]
    fn zooming_keeps_the_fixed_point_at_the_same_place_in_the_image() {
        let view = View::new(-0.5, 0.0, 3.0);
        let size = (800, 600);
        let cursor = (613.0, 97.0);
        let point = view.complex_from_pos_in_image(cursor, size);
        let zoomed = view.zoomed_about(point, 1.25);
        let after = zoomed.pos_in_image_from_complex(point, size);
        // The zoomed image lies on its own lattice: within half a pixel.
        assert!(
            (after.0 - cursor.0).abs() <= 0.5 + 1e-9 && (after.1 - cursor.1).abs() <= 0.5 + 1e-9
        );
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

    fn seahorse_point() -> (Dd, Dd) {
        (
            Dd::parse_decimal("-0.743643887037158704752191506114774").expect("x"),
            Dd::parse_decimal("0.131825904205311970493132056385139").expect("y"),
        )
    }

    #[test]
    fn zooming_to_1e_minus_24_about_a_point_keeps_it_under_the_cursor() {
        let size = (800, 600);
        let cursor = (613.25, 97.5);
        let mut view = View::new(-0.5, 0.0, 3.0);
        let point = view.complex_from_pos_in_image(cursor, size);
        let mut steps = 0;
        while view.span > 1e-24 {
            steps += 1;
            view = view.zoomed_about(point, 1.25);
            let after = view.pos_in_image_from_complex(point, size);
            assert!(
                (after.0 - cursor.0).abs() <= 0.5 + 1e-6
                    && (after.1 - cursor.1).abs() <= 0.5 + 1e-6,
                "span {:e}: the point moved to {after:?}",
                view.span
            );
        }
        for _ in 0..steps {
            view = view.zoomed_about(point, 1.0 / 1.25);
        }
        // Back out, the centre is where it started to far below a pixel (dd rounding at
        // 1e-24 grows with the zoom out, to about 1e-8 of the span).
        let pixel = view.scale_per_pixel(size.1);
        assert!(
            (view.center_x.to_f64() + 0.5).abs() < 1e-3 * pixel,
            "{}",
            view.center_x
        );
        assert!(
            view.center_y.to_f64().abs() < 1e-3 * pixel,
            "{}",
            view.center_y
        );
    }

    #[test]
    fn deep_views_keep_every_digit_of_their_center_and_pan_on_their_lattice() {
        let (x, y) = seahorse_point();
        let view = View::at(x, y, 1e-20);
        let size = (640, 360);
        let grid = view.pixel_grid(size.0, size.1);
        assert_ne!(
            grid.x_origin,
            Dd::ZERO,
            "deep views have a double-double origin"
        );
        let center = grid.deep_complex_from_pixel(320, 180);
        let pixel = view.scale_per_pixel(size.1);
        assert!(
            (center.0 - x).to_f64().abs() <= pixel,
            "within a pixel of the centre"
        );
        let neighbour = grid.deep_complex_from_pixel(321, 180);
        let step = (neighbour.0 - center.0).to_f64();
        assert!(
            (step - pixel).abs() < pixel * 1e-6,
            "neighbours one step apart: {step:e}"
        );
        let panned = view.panned_by_pixels((-37.0, 12.0), size.1);
        let panned_grid = panned.pixel_grid(size.0, size.1);
        assert_eq!(panned_grid.shift_from(&grid), Some((37, -12)));
        assert_eq!(
            panned_grid.deep_complex_from_pixel(100, 100),
            grid.deep_complex_from_pixel(137, 88)
        );
    }

    #[test]
    fn a_location_copied_as_text_reads_back_as_the_same_view() {
        let (x, y) = seahorse_point();
        let view = View::at(x, y, 1.5e-22).panned_by_pixels((0.25, -0.5), 700);
        let text = view.location_text();
        assert!(
            text.starts_with("--center=-0.743643887037158704752191"),
            "{text}"
        );
        assert_eq!(View::parse_location(&text), Ok(view));
        let loose = View::parse_location("-0.75, 0.1, 0.001").expect("three numbers");
        let decimal = |text| Dd::parse_decimal(text).expect("decimal");
        assert_eq!(loose, View::at(decimal("-0.75"), decimal("0.1"), 0.001));
        for bad in [
            "",
            "--center=1,2",
            "1 2",
            "a b c",
            "0 0 0",
            "0 0 -1",
            "--center=x,0 --span 1",
        ] {
            assert!(View::parse_location(bad).is_err(), "{bad:?} read");
        }
    }

    #[test]
    fn precision_warning_starts_at_deep_zoom() {
        assert!(!View::new(-0.75, 0.1, 1e-9).near_precision_limit(1000));
        assert!(View::new(-0.75, 0.1, 1e-14).near_precision_limit(1000));
        assert!(!View::new(-0.75, 0.1, 1e-24).near_double_double_limit(1000));
        assert!(View::new(-0.75, 0.1, 1e-28).near_double_double_limit(1000));
    }
}
