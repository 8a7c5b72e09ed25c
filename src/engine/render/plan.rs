//! How a render is cut into work units and laid out in its buffer (`UnitPlan`), which
//! pixels of an earlier render a panned view keeps (`KeptPixels`), and which rows mirror
//! others across the real axis (`MirroredRows`).
//!
//! Every pixel's point comes from the view's pixel lattice (`PixelGrid`), never from the
//! unit it falls in, so units can be any rectangles. Solid guessing is the one thing that
//! depends on more than the pixel: a guessed value depends on its block, and driver.lua
//! fixes blocks to the lattice (columns `GUESS_BLOCK + 1` wide sharing edge columns, rows
//! `GUESS_BLOCK` high). So with guessing, units start and end on block rows, a band is
//! widened to whole block rows (the extra rows are computed and dropped), a tile of a row
//! of blocks starts its blocks on the edge column it shares with the tile to its left
//! (`PlannedUnit`), and a pan keeps only pixels whose block is cut by the image edges
//! exactly as before. The result is the same, bit for bit, as one whole render of the same
//! view, whatever the band, shard, tiles or pan (tests/suite/guessing.rs and
//! tests/suite/panning.rs check this).

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::rendered::RenderOutput;
use super::request::{RenderRequest, RowRange};
use crate::engine::geometry::{Dd, PixelGrid, Precision, UnitRect, View};
use crate::engine::kernel::{
    DERIVATIVE_CHANNELS, OutputMode, ParameterValue, PerturbationReference, Symmetry,
};

/// Lattice rows and columns per guessing block (driver.lua's GUESS_BLOCK).
pub(crate) const GUESS_BLOCK: u32 = 32;

/// The fewest rows and columns of a block driver.lua cuts further (its GUESS_MIN_SIDE).
const GUESS_MIN_SIDE: u32 = 4;
/// Work units hold at least this many pixels, so per-unit overhead stays small while
/// there are still hundreds of units to balance across threads.
const MIN_PIXELS_PER_UNIT: u32 = 2048;

/// The rows of `rows` (an image `height_px` high on `grid`) that a render must compute to
/// give those rows exactly as a whole render does: with guessing, widened to whole block
/// rows of the lattice.
pub(crate) fn rows_to_compute(
    rows: Range<u32>,
    height_px: u32,
    grid: &PixelGrid,
    guess: bool,
) -> Range<u32> {
    if !guess {
        return rows;
    }
    let first = block_edge_at_or_before(rows.start, grid.first_row_index);
    let end = block_edge_at_or_after(rows.end, grid.first_row_index).min(height_px);
    first..end
}

/// The last row (or column) at or before `position` that starts a guessing block on the
/// lattice, or 0.
fn block_edge_at_or_before(position: u32, first_index: i64) -> u32 {
    let offset = (first_index + i64::from(position)).rem_euclid(i64::from(GUESS_BLOCK));
    u32::try_from(i64::from(position) - offset).unwrap_or(0)
}

/// True when a guessing block `height_rows` high is guessed as its own mirror image:
/// driver.lua cuts a block's rows at their middle while it has more than GUESS_MIN_SIDE
/// of them, so each height on the way down must be even.
fn halves_evenly(height_rows: u32) -> bool {
    let mut height = height_rows;
    while height > GUESS_MIN_SIDE {
        if !height.is_multiple_of(2) {
            return false;
        }
        height /= 2;
    }
    true
}

/// The first row (or column) at or after `position` that starts a guessing block.
fn block_edge_at_or_after(position: u32, first_index: i64) -> u32 {
    let offset = (-(first_index + i64::from(position))).rem_euclid(i64::from(GUESS_BLOCK));
    position.saturating_add(u32::try_from(offset).unwrap_or(0))
}

/// The pixels of an earlier render of the same kernel and settings that a new view on the
/// same lattice keeps: pixel (column, row) of the new image, for columns in `columns` and
/// rows in `rows`, is pixel (column + shift.0, row + shift.1) of the earlier one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeptPixels {
    pub columns: Range<u32>,
    pub rows: Range<u32>,
    pub shift: (i64, i64),
}

impl KeptPixels {
    /// What an image of `size_px` on `grid` keeps of one of the same size on `earlier`,
    /// or None when too little is shared to be worth it, nothing is, or the two are the
    /// same view.
    pub fn between(
        earlier: &PixelGrid,
        grid: &PixelGrid,
        size_px: (u32, u32),
        guess: bool,
    ) -> Option<Self> {
        // The same view again is a deliberate re-run (Run, a benchmark): render it in full.
        let shift = grid.shift_from(earlier).filter(|shift| *shift != (0, 0))?;
        let columns = kept_along(size_px.0, shift.0, grid.first_column_index, guess, true)?;
        let rows = kept_along(size_px.1, shift.1, grid.first_row_index, guess, false)?;
        // Side strips include the kept range's edge columns when guessing; two columns at
        // least keep them apart.
        (columns.len() >= 2 && !rows.is_empty()).then_some(Self {
            columns,
            rows,
            shift,
        })
    }

    /// How many pixels are kept.
    pub fn pixel_count(&self) -> u64 {
        self.columns.len() as u64 * self.rows.len() as u64
    }

    /// The rectangles of a `size_px` image left to compute (they do not overlap).
    pub fn rects_to_compute(&self, size_px: (u32, u32), guess: bool) -> Vec<UnitRect> {
        let (width, height) = size_px;
        // With guessing, a side strip also computes the kept range's edge column: it is
        // the shared edge of the strip's last block, which must be whole.
        let shared_edge = u32::from(guess);
        let mut rects = Vec::new();
        let mut push = |left: u32, right: u32, top: u32, bottom: u32| {
            if right > left && bottom > top {
                rects.push(UnitRect {
                    left,
                    top,
                    width: right - left,
                    height: bottom - top,
                });
            }
        };
        push(0, width, 0, self.rows.start);
        push(0, width, self.rows.end, height);
        if self.columns.start > 0 {
            push(
                0,
                self.columns.start + shared_edge,
                self.rows.start,
                self.rows.end,
            );
        }
        if self.columns.end < width {
            push(
                self.columns.end - shared_edge,
                width,
                self.rows.start,
                self.rows.end,
            );
        }
        rects
    }
}

/// The positions along one axis (`length` pixels, lattice index `first_index` at 0) whose
/// pixel, and with guessing whose block, is the same as `shift` pixels further in the
/// earlier image. `shared_edges`: blocks share their edge (columns) or not (rows).
fn kept_along(
    length: u32,
    shift: i64,
    first_index: i64,
    guess: bool,
    shared_edges: bool,
) -> Option<Range<u32>> {
    let length_i = i64::from(length);
    if shift.abs() >= length_i {
        return None;
    }
    // New position p shows earlier position p + shift, which exists for 0 <= p + shift < length.
    let start = u32::try_from((-shift).max(0)).ok()?;
    let end = u32::try_from((length_i - shift).min(length_i)).ok()?;
    if !guess || shift == 0 {
        return Some(start..end);
    }
    // The blocks at both ends were cut differently by the earlier image's edges (or are
    // partly new): keep only whole blocks inside the overlap.
    let kept_start = block_edge_at_or_after(start, first_index);
    let kept_end = if shared_edges {
        // Keep up to and including the last edge column: it is computed, never guessed.
        block_edge_at_or_before(end.checked_sub(1)?, first_index) + 1
    } else {
        block_edge_at_or_before(end, first_index)
    };
    (kept_start < kept_end).then_some(kept_start..kept_end)
}

/// Rows of an image that mirror others across the real axis, for a kernel that declares
/// `symmetry = "real_axis"`: row `target.start + k` shows exactly what row
/// `mirror_of(target.start + k)` shows, so it is copied, not computed.
///
/// Exact because of the lattice: row r's centre is `(first_row_index + r + 0.5) * y_step`,
/// so the row whose index is `-(first_row_index + r) - 1` has the exact negation as its
/// centre, and the axis always lies between two rows. With guessing, the copied rows are
/// blocks guessed as the mirror image of their mirrors: whole blocks (row blocks mirror
/// onto row blocks, and driver.lua treats a block's rows symmetrically), and the blocks
/// cut to the same height by the first and last rows of rows lying evenly about the axis,
/// when that height halves evenly (`halves_evenly`); so guessed pixels mirror exactly too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MirroredRows {
    /// The rows copied from their mirrors.
    pub target: Range<u32>,
    /// Twice the axis's position, in rows from the image's top: the first row below the
    /// axis is `axis_twice / 2`, and row r mirrors row `axis_twice - 1 - r`.
    axis_twice: u32,
}

impl MirroredRows {
    /// The rows of `rows` (of an image on `grid`) to copy from their mirrors, which are
    /// also in `rows`; None when the axis does not cross `rows` or nothing can be copied.
    pub fn within(rows: Range<u32>, grid: &PixelGrid, guess: bool) -> Option<Self> {
        // The centred grid of very deep views does not put centres on exact negations.
        if grid.y_origin != Dd::ZERO {
            return None;
        }
        // The first row whose lattice index is 0 or more: the axis lies just before it.
        let axis = u32::try_from(-grid.first_row_index).ok()?;
        if axis <= rows.start || axis >= rows.end {
            return None;
        }
        let axis_twice = axis.checked_mul(2)?;
        let first_row_index = grid.first_row_index;
        // Either side can be the copied one: the rows above the axis that have a mirror in
        // `rows`, or those below it; with guessing, only blocks whose mirror is guessed as
        // their mirror image. Whole blocks are (the axis is a block edge). So is a block cut
        // by the rows' first row when the rows lie evenly about the axis (its mirror is cut
        // by their last row to the same height) and its rows halve evenly each time
        // driver.lua cuts it: a view centred on the axis then computes half its rows, not
        // up to 62 more.
        let mut above_start = rows.start.max(axis_twice.saturating_sub(rows.end));
        let mut below_end = rows.end.min(axis_twice - rows.start);
        if guess {
            let evenly_about_axis = rows.start + rows.end == axis_twice;
            let whole_start = block_edge_at_or_after(above_start, first_row_index);
            if !(evenly_about_axis && halves_evenly(whole_start - above_start)) {
                above_start = whole_start;
            }
            let whole_end = block_edge_at_or_before(below_end, first_row_index);
            if !(evenly_about_axis && halves_evenly(below_end - whole_end)) {
                below_end = whole_end;
            }
        }
        let above = above_start.min(axis)..axis;
        let below = axis..below_end.max(axis);
        let target = if above.len() >= below.len() {
            above
        } else {
            below
        };
        (!target.is_empty()).then_some(Self { target, axis_twice })
    }

    /// The row that row `row` mirrors.
    pub fn mirror_of(&self, row: u32) -> u32 {
        self.axis_twice - 1 - row
    }

    /// The rows the copied ones are copied from.
    pub fn source(&self) -> Range<u32> {
        self.mirror_of(self.target.end - 1)..self.mirror_of(self.target.start) + 1
    }

    /// `rect` without the copied rows: up to two rectangles.
    pub fn rects_to_compute(&self, rect: UnitRect) -> impl Iterator<Item = UnitRect> {
        let bottom = rect.top + rect.height;
        let parts = [
            (rect.top, bottom.min(self.target.start)),
            (rect.top.max(self.target.end), bottom),
        ];
        parts
            .into_iter()
            .filter(|(top, end)| end > top)
            .map(move |(top, end)| UnitRect {
                top,
                height: end - top,
                ..rect
            })
    }
}

/// Guessed units wanted per worker thread: enough that the last units to finish leave the
/// other threads idle for little of the render (a guessed unit is a whole row of blocks,
/// 32 rows: 1024x768 is 24 of them, which 16 threads cannot share evenly). Not more: tiles
/// cost where threads work side by side on the same rows (measured on 2 threads, 1280x720,
/// `moonbrot bench --views`: guessing cost 4.6-5.6% on the filaments and 3.0-3.6% on the
/// Julia set with two tiles a row of blocks, 1.1-2.4% with one; on one thread two tiles cost
/// nothing measurable). With 4, two threads leave 1280x720 in whole rows and sixteen cut
/// its 23 rows of blocks into 3 tiles each (8 a row measured no better on two threads).
const GUESSED_UNITS_PER_THREAD: usize = 4;

/// The fewest blocks across a guessing tile: a tile right of another computes its left
/// edge column again, one column in 32 times this.
const MIN_TILE_BLOCKS: u32 = 4;

/// A work unit: the pixels it computes and stores, and whether its guessing blocks start
/// one column to the left of them, on the edge column that the tile to its left stores
/// (blocks share their edge columns, and a tile's first block needs its whole border).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlannedUnit {
    pub rect: UnitRect,
    pub starts_on_left_edge: bool,
}

impl PlannedUnit {
    /// The rectangle the driver renders: `rect`, with the left edge column when the unit
    /// starts on it (the worker then keeps that column out of the image).
    pub fn driver_rect(&self) -> UnitRect {
        if self.starts_on_left_edge {
            UnitRect {
                left: self.rect.left - 1,
                width: self.rect.width + 1,
                ..self.rect
            }
        } else {
            self.rect
        }
    }
}

/// Cuts `rect` into work units of whole rows, at least MIN_PIXELS_PER_UNIT pixels each,
/// starting on the lattice's multiples of the unit height (whole guessing blocks). With
/// guessing and more than one thread, rows of blocks are also cut across into tiles of
/// whole blocks when there are fewer than GUESSED_UNITS_PER_THREAD rows per thread: the
/// tiles' pixels do not overlap, and each tile's blocks are the lattice's, so the image is
/// the same as from whole rows.
pub(crate) fn units_of(
    rect: UnitRect,
    grid: &PixelGrid,
    (guess, threads): (bool, usize),
    units: &mut Vec<PlannedUnit>,
) {
    if rect.width == 0 {
        return;
    }
    let mut rows_per_unit = MIN_PIXELS_PER_UNIT.div_ceil(rect.width).max(1);
    if guess {
        rows_per_unit = rows_per_unit.next_multiple_of(GUESS_BLOCK);
    }
    let end = rect.top + rect.height;
    let mut top = rect.top;
    let mut rows = Vec::new();
    while top < end {
        let offset = (grid.first_row_index + i64::from(top)).rem_euclid(i64::from(rows_per_unit));
        let step = rows_per_unit - u32::try_from(offset).unwrap_or(0);
        let bottom = top.saturating_add(step).min(end);
        rows.push(UnitRect {
            top,
            height: bottom - top,
            ..rect
        });
        top = bottom;
    }
    let tiles_wanted = if guess && threads > 1 {
        (GUESSED_UNITS_PER_THREAD * threads).div_ceil(rows.len().max(1))
    } else {
        1
    };
    let cuts = tile_cuts(rect, grid, tiles_wanted);
    for row in rows {
        let mut left = row.left;
        for &cut in cuts
            .iter()
            .chain(std::iter::once(&(rect.left + rect.width - 1)))
        {
            units.push(PlannedUnit {
                rect: UnitRect {
                    left,
                    width: cut + 1 - left,
                    ..row
                },
                starts_on_left_edge: left != row.left,
            });
            left = cut + 1;
        }
    }
}

/// The block edge columns of `rect` (not its first or last) after which a new tile
/// starts, for about `tiles_wanted` tiles across of at least MIN_TILE_BLOCKS blocks.
fn tile_cuts(rect: UnitRect, grid: &PixelGrid, tiles_wanted: usize) -> Vec<u32> {
    if tiles_wanted <= 1 {
        return Vec::new();
    }
    let last = rect.left + rect.width - 1;
    let first_edge = block_edge_at_or_after(rect.left + 1, grid.first_column_index);
    let edges: Vec<u32> = (first_edge..last).step_by(GUESS_BLOCK as usize).collect();
    let blocks = edges.len() + 1;
    let tiles = tiles_wanted.min(blocks / MIN_TILE_BLOCKS as usize).max(1);
    // Tile k ends after block k * blocks / tiles: widths differ by one block at most.
    (1..tiles)
        .filter_map(|tile| edges.get(tile * blocks / tiles - 1).copied())
        .collect()
}

/// How the image is cut into units.
pub(super) struct UnitPlan {
    width_px: u32,
    /// The rows of the image asked for (all of them unless a band was asked for).
    pub(super) rows: RowRange,
    /// The rows the job's buffer holds: `rows`, widened to whole guessing blocks.
    buffer_rows: Range<u32>,
    pub(super) units: Vec<PlannedUnit>,
    pub(super) grid: PixelGrid,
    pub(super) max_iter: Option<u32>,
    /// Every declared parameter's value (checked), set in each worker's state.
    pub(super) parameters: Vec<(String, ParameterValue)>,
    /// Render units by solid guessing.
    pub(super) guess: bool,
    /// The arithmetic of the pixels' coordinates.
    pub(super) precision: Precision,
    pub(super) output: OutputMode,
    pub(super) channels: usize,
    /// Pixels come from the derivative pixel (the formula's, four values each).
    pub(super) derivatives: bool,
    /// f64 pixels come from the formula's interleaved pixels (several a loop), not from
    /// the kernel's `pixel`.
    pub(super) interleaved: bool,
    /// Pixels of an earlier render this one keeps (a pan), copied in before units start.
    kept: Option<(KeptPixels, Arc<RenderOutput>)>,
    /// Rows copied from their mirrors across the real axis as their mirrors finish.
    mirrored: Option<MirroredRows>,
    /// The reference orbit, when the render is by perturbation.
    pub(super) perturbation: Option<Arc<PerturbationReference>>,
}

impl UnitPlan {
    /// The plan for `request`'s `rows`, at `view`, once the kernel is known to produce
    /// `output` and take `parameters`, run with `max_iter` iterations.
    pub(super) fn new(
        request: &RenderRequest,
        rows: RowRange,
        view: &View,
        parameters: Vec<(String, ParameterValue)>,
        (output, max_iter, symmetry): (OutputMode, u32, Symmetry),
        (precision, interleaved): (Precision, bool),
    ) -> Self {
        let (width_px, height_px) = (request.width_px, request.height_px);
        let guess = request.guessing && output == OutputMode::ESCAPE;
        let grid = view.pixel_grid(width_px, height_px);
        let buffer_rows = rows_to_compute(rows.first..rows.end(), height_px, &grid, guess);
        let kept = request
            .previous
            .as_ref()
            .filter(|previous| {
                rows.count == height_px
                    && previous.keeps_pixels_for(
                        request,
                        output,
                        (max_iter, precision, interleaved),
                        &parameters,
                    )
            })
            .and_then(|previous| {
                let earlier = previous.view.pixel_grid(width_px, height_px);
                KeptPixels::between(&earlier, &grid, (width_px, height_px), guess)
                    .map(|kept| (kept, Arc::clone(previous)))
            });
        let rects = match &kept {
            Some((kept, _)) => kept.rects_to_compute((width_px, height_px), guess),
            None => vec![UnitRect {
                left: 0,
                top: buffer_rows.start,
                width: width_px,
                height: buffer_rows.len() as u32,
            }],
        };
        let mirrored = (request.symmetry && symmetry == Symmetry::RealAxis)
            .then(|| MirroredRows::within(buffer_rows.clone(), &grid, guess))
            .flatten();
        let mut units = Vec::new();
        for rect in rects {
            match &mirrored {
                Some(mirrored) => {
                    for part in mirrored.rects_to_compute(rect) {
                        units_of(part, &grid, (guess, request.threads), &mut units);
                    }
                }
                None => units_of(rect, &grid, (guess, request.threads), &mut units),
            }
        }
        Self {
            width_px,
            rows,
            buffer_rows,
            units,
            grid,
            max_iter: Some(max_iter),
            parameters,
            guess,
            precision,
            output,
            channels: output.channels(),
            derivatives: false,
            interleaved,
            kept,
            mirrored,
            perturbation: None,
        }
    }

    /// True when rows are mirrored across the real axis.
    pub(super) fn mirrors(&self) -> bool {
        self.mirrored.is_some()
    }

    /// Values per row of the buffer.
    pub(super) fn stride(&self) -> usize {
        self.width_px as usize * self.channels
    }

    /// How many values the job's buffer holds.
    fn buffer_len(&self) -> usize {
        self.buffer_rows.len() * self.stride()
    }

    /// The index in the buffer of pixel (column, row) of the image.
    pub(super) fn buffer_index(&self, column: u32, row: u32) -> usize {
        (row - self.buffer_rows.start) as usize * self.stride() + column as usize * self.channels
    }

    /// The range of the buffer from `rect`'s first pixel to its last.
    pub(super) fn rect_value_range(&self, rect: &UnitRect) -> Range<usize> {
        let start = self.buffer_index(rect.left, rect.top);
        let last_row_start = self.buffer_index(rect.left, rect.top + rect.height - 1);
        start..last_row_start + rect.width as usize * self.channels
    }

    /// The buffer as it starts: the kept pixels of an earlier render, zeros elsewhere.
    pub(super) fn initial_buffer(&self) -> Vec<u32> {
        let mut buffer = vec![0_u32; self.buffer_len()];
        if let Some((kept, previous)) = &self.kept {
            let previous_values = &previous.image.values;
            let run = kept.columns.len() * self.channels;
            for row in kept.rows.clone() {
                let earlier_row = (i64::from(row) + kept.shift.1) as usize;
                let earlier_column = (i64::from(kept.columns.start) + kept.shift.0) as usize;
                let from = (earlier_row * self.width_px as usize + earlier_column) * self.channels;
                let to = self.buffer_index(kept.columns.start, row);
                if let (Some(source), Some(target)) = (
                    previous_values.get(from..from + run),
                    buffer.get_mut(to..to + run),
                ) {
                    for (target, value) in target.iter_mut().zip(source) {
                        *target = value.to_bits();
                    }
                }
            }
            // Copied rows are in no unit: their kept part comes from their kept mirrors.
            if let Some(mirrored) = &self.mirrored {
                for row in mirrored.target.clone() {
                    let source_row = mirrored.mirror_of(row);
                    if kept.rows.contains(&source_row) {
                        let from = self.buffer_index(kept.columns.start, source_row);
                        let to = self.buffer_index(kept.columns.start, row);
                        buffer.copy_within(from..from + run, to);
                    }
                }
            }
        }
        buffer
    }

    /// Copies the part of `rect` (a finished unit) that copied rows mirror into those
    /// rows of `image`, and returns the rectangle it filled.
    pub(super) fn mirror_unit(&self, rect: &UnitRect, image: &[AtomicU32]) -> Option<UnitRect> {
        let mirrored = self.mirrored.as_ref()?;
        let source = mirrored.source();
        let top = rect.top.max(source.start);
        let bottom = (rect.top + rect.height).min(source.end);
        if top >= bottom {
            return None;
        }
        let run = rect.width as usize * self.channels;
        // A derivative render's normal points the other way across the axis: its y part
        // changes sign (a float's sign bit; NaN, "not known", is left as it is, so the
        // image stays bit for bit the one computed in full).
        let flipped = if self.derivatives {
            DERIVATIVE_CHANNELS
                .iter()
                .position(|name| *name == "normal_y")
        } else {
            None
        };
        for row in top..bottom {
            let from = self.buffer_index(rect.left, row);
            let to = self.buffer_index(rect.left, mirrored.mirror_of(row));
            // The copied rows are in no unit, so no worker writes them.
            for (index, (target, value)) in image[to..to + run]
                .iter()
                .zip(&image[from..from + run])
                .enumerate()
            {
                let bits = value.load(Ordering::Relaxed);
                let sign =
                    if Some(index % self.channels) == flipped && !f32::from_bits(bits).is_nan() {
                        1 << 31
                    } else {
                        0
                    };
                target.store(bits ^ sign, Ordering::Relaxed);
            }
        }
        let mirror_top = mirrored.mirror_of(bottom - 1);
        Some(UnitRect {
            top: mirror_top,
            height: bottom - top,
            ..*rect
        })
    }

    /// Where the rows asked for lie in the finished buffer.
    pub(super) fn rows_asked_for(&self) -> BufferSlice {
        let skip = (self.rows.first - self.buffer_rows.start) as usize * self.stride();
        BufferSlice {
            skip,
            len: self.rows.count as usize * self.stride(),
        }
    }

    /// How many pixels were kept from an earlier render.
    pub(super) fn kept_pixel_count(&self) -> u64 {
        self.kept.as_ref().map_or(0, |(kept, _)| kept.pixel_count())
    }

    /// How many pixels of the rows asked for are copied from their mirrors.
    pub(super) fn mirrored_pixel_count(&self) -> u64 {
        self.mirrored.as_ref().map_or(0, |mirrored| {
            let top = mirrored.target.start.max(self.rows.first);
            let bottom = mirrored.target.end.min(self.rows.end());
            u64::from(bottom.saturating_sub(top)) * u64::from(self.width_px)
        })
    }
}

/// A run of values in a job's buffer.
pub(super) struct BufferSlice {
    skip: usize,
    len: usize,
}

impl BufferSlice {
    /// Those values of `buffer`, in place.
    pub(super) fn of(&self, mut buffer: Vec<f32>) -> Vec<f32> {
        buffer.truncate(self.skip + self.len);
        buffer.drain(..self.skip.min(buffer.len()));
        buffer
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use crate::engine::geometry::View;

    fn grid(size_px: (u32, u32)) -> PixelGrid {
        View::new(-0.7436, 0.1318, 0.01).pixel_grid(size_px.0, size_px.1)
    }

    #[test]
    fn without_guessing_a_pan_keeps_every_shared_pixel() {
        let size = (1280, 720);
        let before = grid(size);
        let after = View::new(-0.7436, 0.1318, 0.01)
            .panned_by_pixels((-100.0, 0.0), size.1)
            .pixel_grid(size.0, size.1);
        let kept = KeptPixels::between(&before, &after, size, false).expect("kept");
        assert_eq!(kept.shift, (100, 0));
        assert_eq!((kept.columns, kept.rows), (0..1180, 0..720));
    }

    #[test]
    fn with_guessing_a_pan_keeps_whole_blocks_only() {
        let size = (1280, 720);
        let before = grid(size);
        let after = View::new(-0.7436, 0.1318, 0.01)
            .panned_by_pixels((-100.0, 40.0), size.1)
            .pixel_grid(size.0, size.1);
        let kept = KeptPixels::between(&before, &after, size, true).expect("kept");
        let block = i64::from(GUESS_BLOCK);
        let column_index = |column: u32| after.first_column_index + i64::from(column);
        let row_index = |row: u32| after.first_row_index + i64::from(row);
        assert_eq!(column_index(kept.columns.start).rem_euclid(block), 0);
        assert_eq!(column_index(kept.columns.end - 1).rem_euclid(block), 0);
        assert_eq!(row_index(kept.rows.start).rem_euclid(block), 0);
        assert_eq!(row_index(kept.rows.end).rem_euclid(block), 0);
        assert!(kept.columns.len() > 1280 - 100 - 2 * 32);
        assert!(kept.rows.len() > 720 - 40 - 2 * 32);
    }

    #[test]
    fn the_rects_left_to_compute_cover_exactly_what_is_not_kept() {
        let size = (300_u32, 200_u32);
        let before = grid(size);
        for (dx, dy) in [(37.0, 0.0), (-5.0, 61.0), (0.0, -3.0), (120.0, -90.0)] {
            let after = View::new(-0.7436, 0.1318, 0.01)
                .panned_by_pixels((dx, dy), size.1)
                .pixel_grid(size.0, size.1);
            for guess in [false, true] {
                let Some(kept) = KeptPixels::between(&before, &after, size, guess) else {
                    continue;
                };
                let mut covered = vec![0_u8; (size.0 * size.1) as usize];
                for rect in kept.rects_to_compute(size, guess) {
                    for row in rect.top..rect.top + rect.height {
                        for column in rect.left..rect.left + rect.width {
                            covered[(row * size.0 + column) as usize] += 1;
                        }
                    }
                }
                for row in 0..size.1 {
                    for column in 0..size.0 {
                        let is_kept = kept.columns.contains(&column) && kept.rows.contains(&row);
                        let count = covered[(row * size.0 + column) as usize];
                        assert!(count <= 1, "{dx},{dy}: ({column}, {row}) computed twice");
                        if !is_kept {
                            assert_eq!(count, 1, "{dx},{dy}: ({column}, {row}) not computed");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_zoom_or_a_pan_past_the_image_keeps_nothing() {
        let size = (640, 480);
        let view = View::new(0.1, 0.2, 0.5);
        let before = view.pixel_grid(size.0, size.1);
        let zoomed = view
            .zoomed_about((0.1, 0.2), 2.0)
            .pixel_grid(size.0, size.1);
        assert_eq!(KeptPixels::between(&before, &zoomed, size, false), None);
        let far = view
            .panned_by_pixels((700.0, 0.0), size.1)
            .pixel_grid(size.0, size.1);
        assert_eq!(KeptPixels::between(&before, &far, size, false), None);
    }

    #[test]
    fn guessed_units_start_on_block_rows_of_the_lattice() {
        let size = (1000, 700);
        let grid = grid(size);
        let mut units = Vec::new();
        let whole = UnitRect {
            left: 0,
            top: 0,
            width: size.0,
            height: size.1,
        };
        units_of(whole, &grid, (true, 1), &mut units);
        assert_eq!(
            units.iter().map(|unit| unit.rect.height).sum::<u32>(),
            size.1
        );
        for unit in &units[1..] {
            let index = grid.first_row_index + i64::from(unit.rect.top);
            assert_eq!(index.rem_euclid(i64::from(GUESS_BLOCK)), 0);
        }
        let band = rows_to_compute(100..300, size.1, &grid, true);
        assert!(band.start <= 100 && band.end >= 300);
        assert_eq!(
            (grid.first_row_index + i64::from(band.start)).rem_euclid(32),
            0
        );
    }

    #[test]
    fn two_threads_leave_a_1280x720_image_in_whole_rows_of_blocks() {
        // Tiles cost where two threads work side by side on the same rows; 23 rows of
        // blocks are enough units for two.
        let size = (1280, 720);
        let grid = grid(size);
        let rect = UnitRect {
            left: 0,
            top: 0,
            width: size.0,
            height: size.1,
        };
        let mut units = Vec::new();
        units_of(rect, &grid, (true, 2), &mut units);
        assert!(
            units.iter().all(|unit| unit.rect.width == size.0),
            "{units:?}"
        );
        let mut many = Vec::new();
        units_of(rect, &grid, (true, 16), &mut many);
        assert!(
            many.len() >= 3 * units.len(),
            "{} units on 16 threads",
            many.len()
        );
    }

    #[test]
    fn guessed_rows_are_cut_into_tiles_of_whole_blocks_that_cover_each_pixel_once() {
        // Image size, threads, the rect's first column, the fewest units wanted.
        for (size, threads, left, fewest) in [
            ((1000, 700), 8, 0, 44),
            ((1280, 720), 16, 0, 64),
            ((700, 90), 8, 37, 15),
        ] {
            let grid = grid(size);
            let rect = UnitRect {
                left,
                top: 0,
                width: size.0 - left,
                height: size.1,
            };
            let mut units = Vec::new();
            units_of(rect, &grid, (true, threads), &mut units);
            let mut covered = vec![0_u8; (size.0 * size.1) as usize];
            for unit in &units {
                for row in unit.rect.top..unit.rect.top + unit.rect.height {
                    for column in unit.rect.left..unit.rect.left + unit.rect.width {
                        covered[(row * size.0 + column) as usize] += 1;
                    }
                }
                let driver = unit.driver_rect();
                let edge = grid.first_column_index + i64::from(driver.left);
                // A tile right of another starts its blocks on the shared edge column.
                assert_eq!(
                    unit.starts_on_left_edge,
                    edge.rem_euclid(i64::from(GUESS_BLOCK)) == 0 && driver.left != left,
                    "{unit:?}"
                );
                if unit.rect.height == GUESS_BLOCK {
                    assert!(
                        unit.rect.width * unit.rect.height >= MIN_PIXELS_PER_UNIT,
                        "{size:?} {threads} {unit:?}"
                    );
                }
            }
            let tiled = units.iter().filter(|unit| unit.starts_on_left_edge).count();
            assert!(tiled > 0, "{size:?} on {threads} threads is cut across");
            assert!(
                units.len() >= fewest,
                "{} units for {threads} threads",
                units.len()
            );
            for row in 0..size.1 {
                for column in 0..size.0 {
                    let expected = u8::from(column >= left);
                    assert_eq!(
                        covered[(row * size.0 + column) as usize],
                        expected,
                        "({column}, {row})"
                    );
                }
            }
        }
        // One thread: whole rows, as the driver guesses them best.
        let grid = grid((1000, 700));
        let mut units = Vec::new();
        let whole = UnitRect {
            left: 0,
            top: 0,
            width: 1000,
            height: 700,
        };
        units_of(whole, &grid, (true, 1), &mut units);
        assert!(
            units
                .iter()
                .all(|unit| unit.rect.width == 1000 && !unit.starts_on_left_edge)
        );
    }

    #[test]
    fn a_view_centred_on_the_axis_mirrors_its_cut_blocks_when_their_rows_halve_evenly() {
        // (height, the rows copied): the blocks cut by the image's edges are 8, 12 and 10
        // rows high; driver.lua cuts 8 into 4 + 4 and 12 into 6 + 6 then 3 + 3, both
        // mirror images of themselves, but 10 into 5 + 5 then 2 + 3, which is not.
        for (height, copied) in [(144, 0..72), (152, 0..76), (148, 10..74)] {
            let grid = View::new(-0.6, 0.0, 1.0).pixel_grid(300, height);
            let mirrored = MirroredRows::within(0..height, &grid, true).expect("mirrors");
            assert_eq!(mirrored.target, copied, "{height} rows");
            let unguessed = MirroredRows::within(0..height, &grid, false).expect("mirrors");
            assert_eq!(unguessed.target.len() as u32, height / 2);
        }
    }

    #[test]
    fn mirrored_rows_have_exactly_negated_centers_inside_the_rows_and_whole_blocks_when_guessing() {
        let mut checked = 0;
        for (center_y, height) in [
            (0.0, 200),
            (0.0, 144),
            (0.0, 148),
            (0.013, 201),
            (-0.3, 333),
            (0.24, 97),
        ] {
            let grid = View::new(-0.6, center_y, 1.0).pixel_grid(300, height);
            for guess in [false, true] {
                for rows in [0..height, 13..height - 20] {
                    let Some(mirrored) = MirroredRows::within(rows.clone(), &grid, guess) else {
                        continue;
                    };
                    checked += 1;
                    let source = mirrored.source();
                    assert!(rows.start <= source.start && source.end <= rows.end);
                    assert!(
                        source.start >= mirrored.target.end || source.end <= mirrored.target.start
                    );
                    for row in mirrored.target.clone() {
                        let (_, y) = grid.complex_from_pixel(0, row);
                        let (_, mirror_y) = grid.complex_from_pixel(0, mirrored.mirror_of(row));
                        assert_eq!(y.to_bits(), (-mirror_y).to_bits());
                    }
                    if guess {
                        // Block edges, or the rows' own first row when they lie evenly
                        // about the axis and the block it cuts halves evenly.
                        for edge in [mirrored.target.start, mirrored.target.end] {
                            let index = grid.first_row_index + i64::from(edge);
                            let on_block_edge = index.rem_euclid(i64::from(GUESS_BLOCK)) == 0;
                            let cut_evenly = edge == rows.start
                                && rows.start + rows.end == mirrored.axis_twice
                                && halves_evenly(
                                    block_edge_at_or_after(edge, grid.first_row_index) - edge,
                                );
                            assert!(on_block_edge || cut_evenly, "{edge} of {rows:?}");
                        }
                    }
                }
            }
        }
        assert!(checked >= 12, "{checked} cases mirror rows");
        // No axis in view: nothing to mirror.
        let away = View::new(-0.6, 2.0, 1.0).pixel_grid(300, 200);
        assert_eq!(MirroredRows::within(0..200, &away, false), None);
    }
}
