//! The pixel lattice: where each pixel's centre lies in the complex plane for one image
//! size (`PixelGrid`), and the rectangles of pixels that renders are cut into (`UnitRect`)
//! with their place on the lattice as the Lua driver takes it (`UnitLattice`).
//!
//! One expression places every pixel, whoever computes it (the Lua driver, the native
//! twins, the window's canvas), so a pixel's point never depends on which unit, band or
//! pan computed it.

use std::sync::Arc;

use super::big_float::BigFloat;
use super::double_double::Dd;
use super::view::Precision;

/// Where each pixel's centre lies in the complex plane, for one image size.
///
/// Pixel centres lie on a lattice of the pixel step: column `c` is at
/// `x_origin + (first_column_index + c + 0.5) * x_step`, row `r` at
/// `y_origin + (first_row_index + r + 0.5) * y_step`, with the origins 0 for ordinary
/// views (indices up to 2^40). So a view moved by whole pixels has the very same points
/// at its kept pixels (which lets a pan keep them: the lattice index is all that
/// changes), and a point and its mirror image across the real axis are exact negations of
/// each other. The image is the view rounded to the nearest whole pixel of that lattice:
/// at most half a pixel from its exact centre.
///
/// Deeper, the origins are the centre rounded to a power of two about 2^20 pixels wide
/// (so pans still keep the origin), held exactly (`exact_origin`, a `BigFloat`) and in
/// double-double: in f64 a pixel's point is `x_origin.hi() + offset`; in double-double
/// precision `x_origin + offset`, exact to a billionth of a pixel down to double-double's
/// depth; by perturbation, the offset from the reference point is
/// `(exact_origin - reference) + offset`, at any depth, with the first term in
/// double-double (`scaled_dd`): it and `offset` can both be 2^20 pixels and cancel.
///
/// The Lua driver and the native reference evaluate exactly this expression, so the two
/// see bit-identical coordinates.
///
/// Deeper still, where a pixel step is below 2^-480, the steps and every offset from the
/// origin are written in units of 2^-`scale_exponent` (a step in [1, 2)): f64 offsets then
/// neither underflow nor lose digits at any span, and perturbation, the only way such
/// views render, carries the scale through (`complex_from_pixel` and
/// `deep_complex_from_pixel`, for f64 and double-double, are for unscaled grids).
#[derive(Debug, Clone, PartialEq)]
pub struct PixelGrid {
    /// Real part of the lattice's origin (0 unless the view is deep), to the nearest
    /// double-double.
    pub x_origin: Dd,
    /// Real distance between neighbouring columns.
    pub x_step: f64,
    /// The lattice index of column 0's left edge.
    pub first_column_index: i64,
    /// Imaginary part of the lattice's origin.
    pub y_origin: Dd,
    /// Imaginary distance between neighbouring rows (negative: rows go down).
    pub y_step: f64,
    /// The lattice index of row 0's top edge.
    pub first_row_index: i64,
    /// The steps (and offsets from the origin) are in units of 2^-`scale_exponent` (0 for
    /// all but views with pixel steps below 2^-480).
    pub scale_exponent: i32,
    /// The origin (real, imaginary) exactly.
    pub exact_origin: Arc<(BigFloat, BigFloat)>,
}

/// Lattice indices beyond this (in size) are not used with origin 0: a pixel's offset
/// `index * step` is then rounded by at most 2^-13 of a pixel.
const MAX_LATTICE_INDEX: f64 = (1_u64 << 40) as f64;
/// Deep lattices put their origin on a multiple of a power of two this many times the
/// pixel step (rounded up): pans move the origin only when they cross such a cell, and
/// every index stays below 2^21 (offsets exact to 2^-31 of a pixel).
const DEEP_CELL_PIXELS_LOG2: i64 = 20;

/// The lattice index of an image's first edge and the origin, for an axis whose centre is
/// `centre` and whose pixels are `step` apart in units of 2^-`scale_exponent` (`pixels` of
/// them): the nearest lattice position to the exact one, with origin 0; or, when that
/// index would be too large, the same with the origin at the centre rounded to a deep cell.
pub(super) fn lattice_axis(
    center: &BigFloat,
    step: f64,
    scale_exponent: i32,
    pixels: u32,
) -> (BigFloat, i64) {
    let step = step.max(f64::MIN_POSITIVE);
    let scaled = |value: &BigFloat| {
        if scale_exponent == 0 {
            value.to_f64()
        } else {
            value.times_power_of_two(i64::from(scale_exponent)).to_f64()
        }
    };
    let half_image = f64::from(pixels) / 2.0;
    let index = (scaled(center) / step - half_image).round();
    if index.is_finite() && index.abs() <= MAX_LATTICE_INDEX {
        // In range, so the conversion is exact.
        return (BigFloat::zero(), index as i64);
    }
    let cell_exponent =
        step.log2().ceil() as i64 - i64::from(scale_exponent) + DEEP_CELL_PIXELS_LOG2;
    let origin = center.snapped_to_power_of_two(cell_exponent);
    let index = (scaled(&(center - &origin)) / step - half_image).round();
    if index.is_finite() && index.abs() <= MAX_LATTICE_INDEX {
        (origin, index as i64)
    } else {
        // Only for steps so small that the centre itself is below the grid (not a view).
        (center.clone(), -(half_image.round() as i64))
    }
}

impl PixelGrid {
    /// The complex point at the centre of pixel (column, row), in f64 (as a kernel's
    /// `pixel(x, y)` receives it).
    pub fn complex_from_pixel(&self, column: u32, row: u32) -> (f64, f64) {
        (
            self.x_origin.hi() + self.column_center(i64::from(column)) * self.x_step,
            self.y_origin.hi() + self.row_center(i64::from(row)) * self.y_step,
        )
    }

    /// The complex point at the centre of pixel (column, row), in double-double, bit for
    /// bit as a kernel's `pixel_deep(x, y)` receives it.
    pub fn deep_complex_from_pixel(&self, column: u32, row: u32) -> (Dd, Dd) {
        (
            self.x_origin
                .add_f64_as_lua(self.column_center(i64::from(column)) * self.x_step),
            self.y_origin
                .add_f64_as_lua(self.row_center(i64::from(row)) * self.y_step),
        )
    }

    /// The lattice coordinate of column `column`'s centre (exact: a half-integer).
    pub fn column_center(&self, column: i64) -> f64 {
        (self.first_column_index + column) as f64 + 0.5
    }

    /// The lattice coordinate of row `row`'s centre (exact: a half-integer).
    pub fn row_center(&self, row: i64) -> f64 {
        (self.first_row_index + row) as f64 + 0.5
    }

    /// The complex point at a position in the image, in pixels from its top-left corner
    /// (fractional positions allowed: (0.5, 0.5) is the first pixel's centre).
    pub fn complex_from_pos_in_image(&self, pos_in_image: (f64, f64)) -> (BigFloat, BigFloat) {
        let (x_origin, y_origin) = &*self.exact_origin;
        (
            x_origin
                + &self.unscaled((self.first_column_index as f64 + pos_in_image.0) * self.x_step),
            y_origin + &self.unscaled((self.first_row_index as f64 + pos_in_image.1) * self.y_step),
        )
    }

    /// An offset written in the grid's units, as the number it stands for.
    fn unscaled(&self, offset: f64) -> BigFloat {
        BigFloat::from_f64(offset).times_power_of_two(-i64::from(self.scale_exponent))
    }

    /// An exact distance in the grid's units (`scale_exponent`), to the nearest f64.
    pub fn scaled_f64(&self, distance: &BigFloat) -> f64 {
        if self.scale_exponent == 0 {
            distance.to_f64()
        } else {
            distance
                .times_power_of_two(i64::from(self.scale_exponent))
                .to_f64()
        }
    }

    /// An exact distance in the grid's units, to the nearest double-double: for offsets
    /// far larger than the pixels' own from the reference (the origin's, up to 2^21
    /// pixels), whose f64 alone would be wrong by up to 2^-32 of a pixel.
    pub fn scaled_dd(&self, distance: &BigFloat) -> Dd {
        if self.scale_exponent == 0 {
            distance.to_dd()
        } else {
            distance
                .times_power_of_two(i64::from(self.scale_exponent))
                .to_dd()
        }
    }

    /// The position in the image (pixels from the top-left corner) of a complex point.
    pub fn pos_in_image_from_complex(&self, point: &(BigFloat, BigFloat)) -> (f64, f64) {
        let (x_origin, y_origin) = &*self.exact_origin;
        (
            self.scaled_f64(&(&point.0 - x_origin)) / self.x_step - self.first_column_index as f64,
            self.scaled_f64(&(&point.1 - y_origin)) / self.y_step - self.first_row_index as f64,
        )
    }

    /// How many pixels `self`'s content is shifted from `earlier`'s, as (columns, rows):
    /// pixel (c, r) here shows the point of pixel (c + columns, r + rows) there. None when
    /// the two are not the same lattice (another step or origin), so no pixel is shared.
    pub fn shift_from(&self, earlier: &PixelGrid) -> Option<(i64, i64)> {
        let same_lattice = self.exact_origin == earlier.exact_origin
            && self.scale_exponent == earlier.scale_exponent
            && self.x_step.to_bits() == earlier.x_step.to_bits()
            && self.y_step.to_bits() == earlier.y_step.to_bits();
        same_lattice.then(|| {
            (
                self.first_column_index - earlier.first_column_index,
                self.first_row_index - earlier.first_row_index,
            )
        })
    }
}

/// The pixels of the image one work unit covers: `width` columns from `left`, `height`
/// rows from `top` (in the whole image's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnitRect {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

impl UnitRect {
    /// The lattice indices of the rect's first column and row in `grid`, as the driver
    /// takes them (exact integers in f64: the grid keeps its indices far below 2^53).
    pub fn lattice_indices(&self, grid: &PixelGrid) -> (f64, f64) {
        (
            (grid.first_column_index + i64::from(self.left)) as f64,
            (grid.first_row_index + i64::from(self.top)) as f64,
        )
    }
}

/// A unit's place on the pixel lattice as driver.lua's loops and `locate_error` take it
/// (their last six arguments): pixel (c, r) of the unit is at
/// `x_origin + (column_index + c + 0.5) * x_step`, rows alike. In double-double precision
/// the origins given are 0 and the deep pixel function adds the grid's origin itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitLattice {
    x_origin: f64,
    x_step: f64,
    column_index: f64,
    y_origin: f64,
    y_step: f64,
    row_index: f64,
}

impl UnitLattice {
    /// The lattice of `rect` in `grid`, for coordinates in `precision`.
    pub(crate) fn of(rect: &UnitRect, grid: &PixelGrid, precision: Precision) -> Self {
        let (column_index, row_index) = rect.lattice_indices(grid);
        let (x_origin, y_origin) = match precision {
            Precision::Double => (grid.x_origin.hi(), grid.y_origin.hi()),
            Precision::DoubleDouble | Precision::Perturbation => (0.0, 0.0),
        };
        Self {
            x_origin,
            x_step: grid.x_step,
            column_index,
            y_origin,
            y_step: grid.y_step,
            row_index,
        }
    }

    /// Every pixel of a unit at one point (for warming a kernel's trace up).
    pub(crate) fn at_one_point((x, y): (f64, f64)) -> Self {
        Self {
            x_origin: x,
            x_step: 0.0,
            column_index: 0.0,
            y_origin: y,
            y_step: 0.0,
            row_index: 0.0,
        }
    }

    /// The six numbers driver.lua's loops take after the unit's size, in order:
    /// `x_origin, x_step, column_index, y_origin, y_step, row_index`.
    pub(crate) fn driver_arguments(&self) -> [f64; 6] {
        [
            self.x_origin,
            self.x_step,
            self.column_index,
            self.y_origin,
            self.y_step,
            self.row_index,
        ]
    }
}
