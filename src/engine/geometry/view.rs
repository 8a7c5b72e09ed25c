//! The view: which region of the complex plane an image shows, and the maths that maps
//! between pixels and complex coordinates (pixel centres, pan, zoom about a point).
//!
//! A view is a centre and a `span`, the height of the image in the complex plane, so one
//! view renders the same region at any image size: the width in the plane follows from the
//! aspect ratio. Pixel (0, 0) is the top-left pixel; the imaginary axis points up.
//!
//! The centre and the span are `BigFloat`s: the centre carries the bits its depth needs
//! (`center_bits`: the pixel size's and 128 more, rounded up to 64) and every move computes
//! in them, so a view goes down to any span and back without drifting. Spans below f64's
//! range render by perturbation down to about 1e-20000 (`check_renderable`). A
//! location's text form (`--center=X,Y --span S`, the CLI's own arguments) carries every
//! digit.

use serde::{Deserialize, Serialize};

use crate::engine::error::RequestError;

use super::big_float::BigFloat;
use super::lattice::{PixelGrid, lattice_axis};

/// A region of the complex plane: centre and height (`span`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredView", into = "StoredView")]
pub struct View {
    /// Real part of the image's centre.
    pub center_x: BigFloat,
    /// Imaginary part of the image's centre.
    pub center_y: BigFloat,
    /// Height of the image in the complex plane (> 0).
    pub span: BigFloat,
}

/// A view as it is stored: the three numbers as decimal text (or JSON numbers, as settings
/// written when they were f64s), read with `from_decimals` so that the centre is read
/// straight to the bits the span needs.
#[derive(Serialize, Deserialize)]
struct StoredView {
    center_x: StoredNumber,
    center_y: StoredNumber,
    span: StoredNumber,
}

/// A number as decimal text (written) or a JSON number (read).
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StoredNumber {
    Text(String),
    Number(f64),
}

impl StoredNumber {
    fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            // The shortest text that reads back to the same f64 (not finite: refused).
            Self::Number(value) => format!("{value:e}"),
        }
    }
}

impl TryFrom<StoredView> for View {
    type Error = RequestError;
    fn try_from(stored: StoredView) -> Result<Self, Self::Error> {
        let view = View::from_decimals(
            &stored.center_x.text(),
            &stored.center_y.text(),
            &stored.span.text(),
        )
        .map_err(RequestError::View)?;
        view.validate()?;
        Ok(view)
    }
}

impl From<View> for StoredView {
    fn from(view: View) -> Self {
        Self {
            center_x: StoredNumber::Text(view.center_x.to_decimal()),
            center_y: StoredNumber::Text(view.center_y.to_decimal()),
            span: StoredNumber::Text(view.span.to_decimal()),
        }
    }
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
    /// True when a render at this precision carries the derivatives the distance and
    /// slope colourings need: in f64 and by perturbation (at any depth), not in
    /// double-double.
    pub fn carries_derivatives(self) -> bool {
        self != Precision::DoubleDouble
    }

    /// The name the status bar, the CLI and `--precision` use.
    pub fn label(self) -> &'static str {
        match self {
            Precision::Double => "f64",
            Precision::DoubleDouble => "double-double",
            Precision::Perturbation => "perturbation",
        }
    }
}

/// The home of a kernel that declares none: centred on -0.5, 3 high.
pub fn default_home() -> View {
    View::new(-0.5, 0.0, 3.0)
}

/// log2 of the smallest span a view renders (about 1e-20000): far below any location
/// people share, where a reference orbit already takes minutes.
const SMALLEST_RENDERED_SPAN_LOG2: f64 = -66_440.0;

/// Pixel steps below 2^this are written scaled in the pixel grid (`PixelGrid::scale_exponent`):
/// deltas and a table of skips' radii squared stay well inside f64's range above it.
const SCALED_STEP_LOG2: f64 = -480.0;

impl View {
    /// A view centred on (x, y) with the given span, each number the decimal the f64 prints
    /// as (`-0.6`, not the f64 nearest it). For finite numbers: others read as 0, so use
    /// `try_new` for numbers from outside.
    pub fn new(center_x: f64, center_y: f64, span: f64) -> Self {
        let span = BigFloat::from_f64_as_written(span, 64);
        let bits = Self::center_bits(&span);
        Self::at(
            BigFloat::from_f64_as_written(center_x, bits),
            BigFloat::from_f64_as_written(center_y, bits),
            span,
        )
    }

    /// `new` for numbers from outside: refuses a centre or span that is not a finite
    /// number, or a span that is not above 0.
    pub fn try_new(center_x: f64, center_y: f64, span: f64) -> Result<Self, RequestError> {
        if !center_x.is_finite() || !center_y.is_finite() {
            return Err(RequestError::View(format!(
                "the centre ({center_x}, {center_y}) must be finite numbers"
            )));
        }
        if !span.is_finite() || span <= 0.0 {
            return Err(RequestError::View(format!(
                "the span {span} must be a finite number greater than 0"
            )));
        }
        Ok(Self::new(center_x, center_y, span))
    }

    /// A view centred on (`center_x`, `center_y`) with the given span; the centre is
    /// rounded to the bits the span needs.
    pub fn at(center_x: BigFloat, center_y: BigFloat, span: BigFloat) -> Self {
        let bits = Self::center_bits(&span);
        Self {
            center_x: center_x.with_bits(bits),
            center_y: center_y.with_bits(bits),
            span: span.with_bits(64),
        }
    }

    /// The bits a centre keeps for a view `span` high: its digits down to the span, and
    /// 128 more (a pixel of a 2^64-pixel image to 2^-64 of itself), rounded up to a
    /// multiple of 64 so that small zooms keep the same precision.
    pub fn center_bits(span: &BigFloat) -> usize {
        let below_one = span.exponent_log2().map_or(0, |log2| (-log2).max(0)) as usize;
        (below_one + 128).div_ceil(64) * 64
    }

    /// Checks that the view can be held: a span > 0 (a centre is always a number).
    pub fn validate(&self) -> Result<(), RequestError> {
        if self.span.is_zero() || self.span.is_negative() {
            return Err(RequestError::View(format!(
                "the span {} must be greater than 0",
                self.span
            )));
        }
        Ok(())
    }

    /// Checks that the view can be rendered: valid, and a span down to about 1e-20000
    /// (smaller ones are held and written, not rendered).
    pub fn check_renderable(&self) -> Result<(), RequestError> {
        self.validate()?;
        if self.span.log2() < SMALLEST_RENDERED_SPAN_LOG2 {
            return Err(RequestError::SpanBelowRange {
                span: self.span.to_decimal(),
            });
        }
        Ok(())
    }

    /// The span as an f64 (0 below f64's range).
    pub fn span_f64(&self) -> f64 {
        self.span.to_f64()
    }

    /// Size of one pixel in the complex plane, for an image `height_px` pixels high (0
    /// below f64's range: `pixel_step_log2` and `pixel_grid` hold any).
    pub fn scale_per_pixel(&self, height_px: u32) -> f64 {
        self.span_f64() / f64::from(height_px.max(1))
    }

    /// log2 of the size of one pixel, for an image `height_px` pixels high, at any depth.
    pub fn pixel_step_log2(&self, height_px: u32) -> f64 {
        self.span.log2() - f64::from(height_px.max(1)).log2()
    }

    /// True when the pixel step at this height is so small that the pixel grid writes it
    /// scaled (`PixelGrid::scale_exponent`): only perturbation renders such views.
    pub fn needs_scaled_pixels(&self, height_px: u32) -> bool {
        self.pixel_step_log2(height_px) < SCALED_STEP_LOG2
    }

    /// The pixel-centre grid for an image of this size (its steps scaled by a power of
    /// two where they would leave f64's comfortable range).
    pub fn pixel_grid(&self, width_px: u32, height_px: u32) -> PixelGrid {
        let (scale, scale_exponent) = if !self.needs_scaled_pixels(height_px) {
            (self.scale_per_pixel(height_px), 0)
        } else {
            let scale_exponent = -(self.pixel_step_log2(height_px).floor() as i32);
            let scaled_span = self
                .span
                .times_power_of_two(i64::from(scale_exponent))
                .to_f64();
            (scaled_span / f64::from(height_px.max(1)), scale_exponent)
        };
        let (x_origin, first_column_index) =
            lattice_axis(&self.center_x, scale, scale_exponent, width_px);
        // Rows go down, so the imaginary axis is the lattice's negative direction.
        let (negated_y_origin, first_row_index) =
            lattice_axis(&-&self.center_y, scale, scale_exponent, height_px);
        // +0, not -0, on the lattice.
        let y_origin = &BigFloat::zero() - &negated_y_origin;
        PixelGrid {
            x_origin: x_origin.to_dd(),
            x_step: scale,
            first_column_index,
            y_origin: y_origin.to_dd(),
            y_step: -scale,
            first_row_index,
            scale_exponent,
            exact_origin: std::sync::Arc::new((x_origin, y_origin)),
        }
    }

    /// The view of frame `index` of `count` of a zoom film from `start` to `end`: the span
    /// changes geometrically, and the centre's distance from the end's centre shrinks with
    /// the span, so the end point drifts steadily to the middle of the picture.
    pub fn film_frame(start: &View, end: &View, index: u32, count: u32) -> View {
        if count <= 1 || index + 1 >= count {
            return if index == 0 {
                start.clone()
            } else {
                end.clone()
            };
        }
        let progress = f64::from(index) / f64::from(count - 1);
        let (start_log2, end_log2) = (start.span.log2(), end.span.log2());
        // The start's span times a power of the spans' ratio: exactly the start's when the
        // two are the same.
        let span = &start.span * &BigFloat::from_log2((end_log2 - start_log2) * progress);
        // toward_end = (span - end) / (start - end), from 1 at the start to 0 at the end.
        let toward_end = if (start_log2 - end_log2).abs() > 1e-12 {
            let ratio = |a: f64| (a - end_log2).exp2();
            let span_log2 = span.log2();
            (ratio(span_log2) - 1.0) / (ratio(start_log2) - 1.0)
        } else {
            1.0 - progress
        };
        View::at(
            &end.center_x + &(&start.center_x - &end.center_x).mul_f64(toward_end),
            &end.center_y + &(&start.center_y - &end.center_y).mul_f64(toward_end),
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
    ) -> (BigFloat, BigFloat) {
        self.pixel_grid(size_px.0, size_px.1)
            .complex_from_pos_in_image(pos_in_image)
    }

    /// The complex point at a position in the image of the view itself (not rounded to the
    /// pixel lattice): what zooming about the cursor keeps fixed, so a point stays under
    /// the cursor through any number of zoom steps (a rounding per step would add up).
    pub fn complex_at_exact_pos(
        &self,
        pos_in_image: (f64, f64),
        size_px: (u32, u32),
    ) -> (BigFloat, BigFloat) {
        let (from_centre_x, from_centre_y) = (
            pos_in_image.0 - f64::from(size_px.0) / 2.0,
            -(pos_in_image.1 - f64::from(size_px.1) / 2.0),
        );
        if !self.needs_scaled_pixels(size_px.1) {
            // The pixel size as an f64: the offsets `zoomed_about_pos_in_image` takes
            // away and adds back are then the very same numbers.
            let scale = self.scale_per_pixel(size_px.1);
            return (
                self.center_x.add_f64(from_centre_x * scale),
                self.center_y.add_f64(from_centre_y * scale),
            );
        }
        // Pixels below f64's comfortable range: in image heights, times the span, snapped
        // to multiples of 2^-100 of the span's leading bit, which a centre of
        // `center_bits` (128 bits below the span's) holds while it is below 2^27.
        // Unsnapped, a tiny factor (a cursor a hair off the image's middle) puts the
        // product's last bits below the centre's last one, and the zoom's centre minus
        // offset, plus offset, is off by a unit in the last place: the point under the
        // cursor would drift.
        let height = f64::from(size_px.1.max(1));
        let grid_exponent = self.span.exponent_log2().unwrap_or(0) - 100;
        let offset = |from_centre: f64| {
            self.span
                .mul_f64(from_centre / height)
                .snapped_to_power_of_two(grid_exponent)
        };
        (
            &self.center_x + &offset(from_centre_x),
            &self.center_y + &offset(from_centre_y),
        )
    }

    /// The position in the image (pixels from the top-left corner) of a complex point, as
    /// rendered.
    pub fn pos_in_image_from_complex(
        &self,
        point: &(BigFloat, BigFloat),
        size_px: (u32, u32),
    ) -> (f64, f64) {
        self.pixel_grid(size_px.0, size_px.1)
            .pos_in_image_from_complex(point)
    }

    /// This view moved so that the image content shifts by (dx, dy) pixels (a drag to the
    /// right by dx shows what was to the left).
    pub fn panned_by_pixels(&self, delta_px: (f64, f64), height_px: u32) -> Self {
        let height = f64::from(height_px.max(1));
        Self {
            center_x: &self.center_x + &self.span.mul_f64(-delta_px.0 / height),
            center_y: &self.center_y + &self.span.mul_f64(delta_px.1 / height),
            span: self.span.clone(),
        }
    }

    /// This view zoomed by `factor` (> 1 zooms in) about a complex point that stays at the
    /// same place in the image.
    pub fn zoomed_about(
        &self,
        (fixed_x, fixed_y): (impl Into<BigFloat>, impl Into<BigFloat>),
        factor: f64,
    ) -> Self {
        let span = self.span.div_f64(factor);
        let bits = Self::center_bits(&span);
        let (fixed_x, fixed_y) = (
            fixed_x.into().with_bits(bits),
            fixed_y.into().with_bits(bits),
        );
        let center_x = self.center_x.clone().with_bits(bits);
        let center_y = self.center_y.clone().with_bits(bits);
        Self::at(
            &fixed_x + &(&center_x - &fixed_x).div_f64(factor),
            &fixed_y + &(&center_y - &fixed_y).div_f64(factor),
            span,
        )
    }

    /// This view zoomed by `factor` (> 1 zooms in) about the point at `pos_in_image` in an
    /// image of `size_px`, which keeps both its place in the image and its value exactly
    /// (through any number of zooms: the new centre is that point less its offset at the
    /// new scale, the offset `complex_at_exact_pos` adds back).
    pub fn zoomed_about_pos_in_image(
        &self,
        pos_in_image: (f64, f64),
        size_px: (u32, u32),
        factor: f64,
    ) -> Self {
        let (fixed_x, fixed_y) = self.complex_at_exact_pos(pos_in_image, size_px);
        let span = self.span.div_f64(factor).with_bits(64);
        let zoomed = Self {
            center_x: BigFloat::zero(),
            center_y: BigFloat::zero(),
            span,
        };
        let (offset_x, offset_y) = zoomed.complex_at_exact_pos(pos_in_image, size_px);
        let bits = Self::center_bits(&zoomed.span);
        Self {
            center_x: (&fixed_x.with_bits(bits) - &offset_x).with_bits(bits),
            center_y: (&fixed_y.with_bits(bits) - &offset_y).with_bits(bits),
            span: zoomed.span,
        }
    }

    /// How many times this view is magnified relative to `home` (by span; infinite past
    /// f64's range: `zoom_text_relative_to` writes any).
    pub fn zoom_relative_to(&self, home: &View) -> f64 {
        (home.span.log2() - self.span.log2()).exp2()
    }

    /// The magnification relative to `home` as text, at any depth: two significant digits,
    /// plainly between 0.001 and 1000 (`1`, `3.8`, `250`, `0.5`), with a power of ten
    /// beyond (`2.6e20`, `1e400`, `4.2e-5`).
    pub fn zoom_text_relative_to(&self, home: &View) -> String {
        let log10 = (home.span.log2() - self.span.log2()) * std::f64::consts::LOG10_2;
        if (-3.0..3.0).contains(&log10) {
            let zoom = 10_f64.powf(log10);
            let decimals = (1.0 - zoom.log10().floor()).max(0.0) as usize;
            return trim_decimal_zeros(&format!("{zoom:.decimals$}"));
        }
        let mut exponent = log10.floor();
        let mut mantissa = 10_f64.powf(log10 - exponent);
        // 9.96 prints as 10.0: carry it.
        if format!("{mantissa:.1}").starts_with("10") {
            mantissa /= 10.0;
            exponent += 1.0;
        }
        format!(
            "{}e{exponent}",
            trim_decimal_zeros(&format!("{mantissa:.1}"))
        )
    }

    /// True when `other` has the same span and its centre lies within a span of this one's
    /// on each axis: a view the engine's per-view choices (a fitted iteration limit, f64 or
    /// perturbation) carry over to, so previews, bands and small pans of a view agree.
    pub fn is_nearby_at_same_span(&self, other: &View) -> bool {
        let near = |a: &BigFloat, b: &BigFloat| (a - b).abs() <= self.span;
        self.span == other.span
            && near(&self.center_x, &other.center_x)
            && near(&self.center_y, &other.center_y)
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
            .to_f64()
            .abs()
            .max(self.center_y.to_f64().abs())
            .max(self.span_f64());
        self.scale_per_pixel(height_px) < magnitude * epsilon * 1000.0
    }

    /// The location as text a user can copy: the CLI's own arguments, with every digit of
    /// the centre (`--center=-0.74364388703715870475219150611478,0.1318... --span 1e-20`).
    pub fn location_text(&self) -> String {
        format!(
            "--center={},{} --span {}",
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
        let view = View::from_decimals(numbers[0], numbers[1], numbers[2]).map_err(bad)?;
        view.validate()?;
        Ok(view)
    }

    /// A view from the decimal text of its centre and span: the span first, so that the
    /// centre is read straight to the bits it needs (one rounding, so a written view reads
    /// back bit for bit).
    pub fn from_decimals(x: &str, y: &str, span: &str) -> Result<View, String> {
        let span = BigFloat::parse_decimal(span).map_err(|error| error.to_string())?;
        let bits = Self::center_bits(&span);
        let number = |text: &str| {
            BigFloat::parse_decimal_with_bits(text, bits).map_err(|error| error.to_string())
        };
        Ok(View::at(number(x)?, number(y)?, span))
    }
}

/// `text`, a decimal number, without the zeros that end its fraction (and without a point
/// left alone): `3.80` is `3.8`, `1.0` is `1`.
fn trim_decimal_zeros(text: &str) -> String {
    if !text.contains('.') {
        return text.to_owned();
    }
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use crate::engine::geometry::Dd;

    fn f64s(point: (BigFloat, BigFloat)) -> (f64, f64) {
        (point.0.to_f64(), point.1.to_f64())
    }

    fn decimal(text: &str) -> BigFloat {
        BigFloat::parse_decimal(text).expect("decimal")
    }

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
        assert!((&center.0 - &view.center_x).to_f64().abs() <= 0.5 * pixel + 1e-15);
        assert!((&center.1 - &view.center_y).to_f64().abs() <= 0.5 * pixel + 1e-15);
    }

    #[test]
    fn views_too_deep_for_a_lattice_are_still_centerd_on_their_view() {
        let view = View::new(1.0e10, -3.0, 1.0e-9);
        let grid = view.pixel_grid(100, 100);
        let center = grid.complex_from_pos_in_image((50.0, 50.0));
        assert_eq!(grid.x_origin, Dd::from_f64(1.0e10));
        assert!((&center.0 - &view.center_x).to_f64().abs() < 1e-5);
        assert!((&center.1 - &view.center_y).to_f64().abs() < 1e-15);
    }

    #[test]
    fn complex_and_image_positions_round_trip() {
        let view = View::new(-0.75, 0.1, 0.003);
        let size = (1280, 720);
        let point = view.complex_from_pos_in_image((100.25, 700.5), size);
        let back = view.pos_in_image_from_complex(&point, size);
        assert!((back.0 - 100.25).abs() < 1e-6 && (back.1 - 700.5).abs() < 1e-6);
        let grid = view.pixel_grid(size.0, size.1);
        let center = f64s(view.complex_from_pos_in_image((10.5, 20.5), size));
        let grid_point = grid.complex_from_pixel(10, 20);
        assert!((center.0 - grid_point.0).abs() < 1e-15 && (center.1 - grid_point.1).abs() < 1e-15);
    }

    #[test]
    fn zooming_keeps_the_fixed_point_at_the_same_place_in_the_image() {
        let view = View::new(-0.5, 0.0, 3.0);
        let size = (800, 600);
        let cursor = (613.0, 97.0);
        let point = view.complex_from_pos_in_image(cursor, size);
        let zoomed = view.zoomed_about(point.clone(), 1.25);
        let after = zoomed.pos_in_image_from_complex(&point, size);
        // The zoomed image lies on its own lattice: within half a pixel.
        assert!(
            (after.0 - cursor.0).abs() <= 0.5 + 1e-9 && (after.1 - cursor.1).abs() <= 0.5 + 1e-9
        );
        assert!((zoomed.zoom_relative_to(&view) - 1.25).abs() < 1e-12);
        assert_eq!(zoomed.zoom_text_relative_to(&view), "1.2");
        let deep = View::from_decimals("0", "1", "2.6e-400").expect("a view");
        let home = View::new(-0.6, 0.0, 2.6);
        assert_eq!(deep.zoom_text_relative_to(&home), "1e400");
        for (span, text) in [
            (2.6, "1"),
            (2.6 / 3.815, "3.8"),
            (2.6 / 250.0, "250"),
            (2.6 / 999.9, "1000"),
            (2.6 * 2.0, "0.5"),
            (2.6 / 2.6e20, "2.6e20"),
            (2.6 / 9.97e20, "1e21"),
            (2.6 * 2.4e4, "4.2e-5"),
        ] {
            let view = View::new(0.0, 0.0, span);
            assert_eq!(view.zoom_text_relative_to(&home), text, "span {span}");
        }
    }

    #[test]
    fn panning_moves_content_with_the_drag() {
        let view = View::new(0.0, 0.0, 2.0);
        let size = (200, 100);
        let point = view.complex_from_pos_in_image((50.0, 50.0), size);
        let panned = view.panned_by_pixels((30.0, -10.0), size.1);
        let after = panned.pos_in_image_from_complex(&point, size);
        assert!((after.0 - 80.0).abs() < 1e-9 && (after.1 - 40.0).abs() < 1e-9);
    }

    #[test]
    fn invalid_views_are_refused() {
        for (x, y, span) in [
            (f64::NAN, 0.0, 1.0),
            (0.0, f64::INFINITY, 1.0),
            (0.0, 0.0, 0.0),
            (0.0, 0.0, -1.0),
            (0.0, 0.0, f64::NAN),
        ] {
            assert!(
                View::try_new(x, y, span).is_err(),
                "({x}, {y}, {span}) should be refused"
            );
        }
        assert!(View::new(0.0, 0.0, 0.0).validate().is_err());
        assert!(default_home().validate().is_ok());
    }

    fn seahorse_point() -> (BigFloat, BigFloat) {
        (
            decimal("-0.743643887037158704752191506114774"),
            decimal("0.131825904205311970493132056385139"),
        )
    }

    /// Zooms by 1.25 about the point under `cursor` until the span is below `depth`,
    /// checking the point stays under the cursor, then back out as many steps: the view
    /// it ends on.
    fn zoom_in_and_out(depth: f64, size: (u32, u32), cursor: (f64, f64)) -> View {
        let mut view = View::new(-0.5, 0.0, 3.0);
        let point = view.complex_from_pos_in_image(cursor, size);
        let mut steps = 0;
        while view.span_f64() > depth {
            steps += 1;
            view = view.zoomed_about(point.clone(), 1.25);
            let after = view.pos_in_image_from_complex(&point, size);
            assert!(
                (after.0 - cursor.0).abs() <= 0.5 + 1e-6
                    && (after.1 - cursor.1).abs() <= 0.5 + 1e-6,
                "span {}: the point moved to {after:?}",
                view.span
            );
        }
        for _ in 0..steps {
            view = view.zoomed_about(point.clone(), 1.0 / 1.25);
        }
        view
    }

    #[test]
    fn zooming_to_1e_minus_300_about_a_point_keeps_it_under_the_cursor_and_back() {
        let size = (800, 600);
        for depth in [1e-24, 1e-300] {
            let view = zoom_in_and_out(depth, size, (613.25, 97.5));
            // Back out, the centre is where it started to far below a pixel.
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
    }

    #[test]
    fn deep_views_keep_every_digit_of_their_center_and_pan_on_their_lattice() {
        let (x, y) = seahorse_point();
        for span in [1e-20, 1e-120, 1e-300] {
            let view = View::at(x.clone(), y.clone(), BigFloat::from_f64(span));
            let size = (640, 360);
            let grid = view.pixel_grid(size.0, size.1);
            assert!(!grid.exact_origin.0.is_zero(), "deep views have an origin");
            let pixel = view.scale_per_pixel(size.1);
            let center = grid.complex_from_pos_in_image((320.5, 180.5));
            assert!(
                (&center.0 - &x).to_f64().abs() <= pixel,
                "{span:e}: within a pixel of the centre"
            );
            let neighbour = grid.complex_from_pos_in_image((321.5, 180.5));
            let step = (&neighbour.0 - &center.0).to_f64();
            assert!(
                (step - pixel).abs() < pixel * 1e-6,
                "{span:e}: neighbours one step apart: {step:e}"
            );
            let panned = view.panned_by_pixels((-37.0, 12.0), size.1);
            let panned_grid = panned.pixel_grid(size.0, size.1);
            assert_eq!(panned_grid.shift_from(&grid), Some((37, -12)), "{span:e}");
            assert_eq!(
                panned_grid.complex_from_pos_in_image((100.5, 100.5)),
                grid.complex_from_pos_in_image((137.5, 88.5))
            );
        }
        let shallow = View::at(x, y, BigFloat::from_f64(1e-20)).pixel_grid(640, 360);
        assert_ne!(shallow.x_origin, Dd::ZERO, "a double-double origin too");
    }

    #[test]
    fn a_location_copied_as_text_reads_back_as_the_same_view() {
        let (x, y) = seahorse_point();
        for span in ["1.5e-22", "3e-300", "2.5e-400"] {
            let view =
                View::at(x.clone(), y.clone(), decimal(span)).panned_by_pixels((0.25, -0.5), 700);
            let text = view.location_text();
            assert!(
                text.starts_with("--center=-0.743643887037158704752191"),
                "{text}"
            );
            assert!(text.ends_with(&format!("--span {span}")), "{text}");
            assert_eq!(View::parse_location(&text), Ok(view));
        }
        let loose = View::parse_location("-0.75, 0.1, 0.001").expect("three numbers");
        assert_eq!(
            Ok(loose.clone()),
            View::from_decimals("-0.75", "0.1", "0.001")
        );
        assert_eq!(loose.location_text(), "--center=-0.75,0.1 --span 0.001");
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
    fn spans_far_below_f64s_range_render_to_1e_20000_and_are_held_below() {
        let view = View::parse_location("-1.5 0 1e-400").expect("a tiny span reads");
        assert_eq!(view.span.to_decimal(), "1e-400");
        assert!(view.validate().is_ok() && view.check_renderable().is_ok());
        let deepest = View::parse_location("-1.5 0 1e-20000").expect("reads");
        assert!(deepest.check_renderable().is_ok());
        let view = View::parse_location("-1.5 0 1e-30000").expect("a tinier span reads");
        let refused = view.check_renderable().expect_err("not rendered");
        assert!(refused.to_string().contains("1e-30000"), "{refused}");
    }

    #[test]
    fn deep_grids_write_their_steps_scaled_and_keep_every_pixel_s_place() {
        for span in ["1e-100", "1e-400", "3e-1000", "1e-20000"] {
            let view = View::parse_location(&format!("-1.5 0.25 {span}")).expect("reads");
            let grid = view.pixel_grid(640, 360);
            let step_log2 = view.pixel_step_log2(360);
            assert_eq!(grid.scale_exponent > 0, step_log2 < -480.0, "{span}");
            // The step in the grid's units, times 2^-scale, is the pixel's size.
            let unscaled_log2 = grid.x_step.log2() - f64::from(grid.scale_exponent);
            assert!((unscaled_log2 - step_log2).abs() < 1e-9, "{span}");
            // Pixels map to points and back at any depth.
            let point = grid.complex_from_pos_in_image((100.5, 20.5));
            let (x, y) = grid.pos_in_image_from_complex(&point);
            assert!(
                (x - 100.5).abs() < 1e-6 && (y - 20.5).abs() < 1e-6,
                "{span}: {x} {y}"
            );
            // The centre pixel is within a pixel of the view's centre.
            let (x, y) =
                grid.pos_in_image_from_complex(&(view.center_x.clone(), view.center_y.clone()));
            assert!(
                (x - 320.0).abs() <= 1.0 && (y - 180.0).abs() <= 1.0,
                "{span}: {x} {y}"
            );
        }
    }

    #[test]
    fn a_view_is_nearby_at_the_same_span_within_a_span_of_its_centre() {
        let view = View::from_decimals("-0.75", "0.1", "0.002").expect("a view");
        let moved = |x: &str, y: &str, span: &str| {
            view.is_nearby_at_same_span(&View::from_decimals(x, y, span).expect("a view"))
        };
        assert!(moved("-0.75", "0.1", "0.002"));
        assert!(moved("-0.7515", "0.1019", "0.002"));
        assert!(!moved("-0.753", "0.1", "0.002"), "a span and a half across");
        assert!(!moved("-0.75", "0.103", "0.002"), "a span and a half up");
        assert!(!moved("-0.75", "0.1", "0.001"), "zoomed");
    }

    #[test]
    fn precision_warning_starts_at_deep_zoom() {
        assert!(!View::new(-0.75, 0.1, 1e-9).near_precision_limit(1000));
        assert!(View::new(-0.75, 0.1, 1e-14).near_precision_limit(1000));
        assert!(!View::new(-0.75, 0.1, 1e-24).near_double_double_limit(1000));
        assert!(View::new(-0.75, 0.1, 1e-28).near_double_double_limit(1000));
    }

    #[test]
    fn zooming_about_a_position_keeps_its_point_exactly_through_any_number_of_zooms() {
        let size_px = (320, 180);
        let pos = (123.456, 78.9);
        let mut view = View::new(-0.75, 0.1, 3.0);
        let fixed = view.complex_at_exact_pos(pos, size_px);
        for _ in 0..300 {
            view = view.zoomed_about_pos_in_image(pos, size_px, 9.3);
            assert_eq!(view.complex_at_exact_pos(pos, size_px), fixed);
        }
        assert!(view.span.log2() < -900.0, "{}", view.span);
    }

    #[test]
    fn the_wheel_keeps_a_point_a_hair_off_the_middle_exactly_past_f64_s_range() {
        // A cursor 1e-5 pixels off the image's middle: the offset's factor is tiny, and
        // its bits would fall below the centre's last one unless snapped.
        let size = (640, 360);
        for (span, pos) in [
            ("1e-395", (320.0, 180.00001)),
            ("1e-2000", (319.99999, 12.5)),
        ] {
            let mut view = View::from_decimals("0", "1", span).expect("a view");
            let fixed = view.complex_at_exact_pos(pos, size);
            for _ in 0..30 {
                view = view.zoomed_about_pos_in_image(pos, size, 1.25_f64.powi(10));
                assert_eq!(view.complex_at_exact_pos(pos, size), fixed, "{span}");
            }
        }
    }
}
