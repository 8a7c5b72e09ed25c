//! Gradients: the colour loop a palette maps escape values through. A gradient is a list of
//! segments tiling [0, 1] as GIMP's are (each with its two end colours, a middle point, a
//! blend shape and the space its colours are mixed in), so every GIMP gradient is kept
//! exactly; "stops" are the segments' ends, which is what the window's editor moves, adds,
//! deletes and recolours. The shipped gradients mix in Oklab (even perceived steps). Each
//! gradient carries a 4096-entry table so colouring a pixel is one lookup and one blend.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Entries in a gradient's lookup table; pixels blend the two nearest, so a gradient is
/// drawn to well under one byte per component except across hard edges, which it softens
/// over 1/4096 of the loop.
const TABLE_LEN: usize = 4096;
/// The most segments a gradient may have (a 256-colour map needs 256).
pub const MAX_SEGMENTS: usize = 4096;
/// The narrowest segment the editor leaves when a stop is moved or added, in loop units.
const MIN_SEGMENT_WIDTH: f64 = 1e-4;
/// Below this, positions count as equal (GIMP's own epsilon).
const EPSILON: f64 = 1e-7;

/// A colour as sRGB components in [0, 1] (red, green, blue).
pub type Colour = [f32; 3];

/// How a segment's colour moves from its start to its end (GIMP's blend functions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blend {
    /// Straight, reaching the halfway colour at the middle point.
    Linear,
    /// A power curve through the middle point.
    Curved,
    /// Eased in and out.
    Sine,
    /// A quarter circle, fast at first.
    SphereIncreasing,
    /// A quarter circle, slow at first.
    SphereDecreasing,
    /// The start colour up to the middle point, then the end colour.
    Step,
}

impl Blend {
    /// Every blend, by its number in GIMP's `.ggr` files.
    const BY_GGR_NUMBER: [Blend; 6] = [
        Self::Linear,
        Self::Curved,
        Self::Sine,
        Self::SphereIncreasing,
        Self::SphereDecreasing,
        Self::Step,
    ];

    /// The blend numbered `number` in a `.ggr` file.
    pub fn from_ggr_number(number: u32) -> Option<Self> {
        Self::BY_GGR_NUMBER.get(number as usize).copied()
    }

    /// Its number in a `.ggr` file.
    pub fn ggr_number(self) -> u32 {
        Self::BY_GGR_NUMBER
            .iter()
            .position(|blend| *blend == self)
            .unwrap_or(0) as u32
    }

    /// How far from the start colour to the end colour (0 to 1) a point `position` of the
    /// way through a segment is, for a middle point `middle` of the way through (GIMP's
    /// formulas).
    fn factor(self, position: f64, middle: f64) -> f64 {
        let linear = || {
            if position <= middle {
                if middle < EPSILON {
                    0.0
                } else {
                    0.5 * position / middle
                }
            } else if 1.0 - middle < EPSILON {
                1.0
            } else {
                0.5 + 0.5 * (position - middle) / (1.0 - middle)
            }
        };
        match self {
            Self::Linear => linear(),
            Self::Curved => {
                let middle = middle.max(EPSILON);
                position.powf(0.5_f64.ln() / middle.ln())
            }
            Self::Sine => {
                ((-std::f64::consts::FRAC_PI_2 + std::f64::consts::PI * linear()).sin() + 1.0) / 2.0
            }
            Self::SphereIncreasing => {
                let from_end = linear() - 1.0;
                (1.0 - from_end * from_end).max(0.0).sqrt()
            }
            Self::SphereDecreasing => {
                let along = linear();
                1.0 - (1.0 - along * along).max(0.0).sqrt()
            }
            Self::Step => {
                if position >= middle {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// The space a segment mixes its two colours in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColourSpace {
    /// Oklab: equal steps look equal; the shipped gradients and maps use it.
    Oklab,
    /// The sRGB components, mixed directly (GIMP's "RGB").
    Rgb,
    /// Hue, saturation and value, the hue turning counter-clockwise (GIMP's "HSV CCW").
    HsvCounterClockwise,
    /// Hue, saturation and value, the hue turning clockwise (GIMP's "HSV CW").
    HsvClockwise,
}

/// One piece of a gradient: from `start` to `end` (positions around the loop, 0 to 1) its
/// colour moves from `start_colour` to `end_colour`, halfway at `middle`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Where it starts, 0 to 1.
    pub start: f64,
    /// Where its colour is halfway, between start and end.
    pub middle: f64,
    /// Where it ends, 0 to 1.
    pub end: f64,
    /// Its colour at the start.
    pub start_colour: Colour,
    /// Its colour at the end.
    pub end_colour: Colour,
    /// How the colour moves between them.
    pub blend: Blend,
    /// The space the colours are mixed in.
    pub space: ColourSpace,
}

impl Segment {
    /// A linear segment from `start` to `end`, halfway at the centre.
    pub fn linear(
        (start, end): (f64, f64),
        (start_colour, end_colour): (Colour, Colour),
        space: ColourSpace,
    ) -> Self {
        Self {
            start,
            middle: (start + end) / 2.0,
            end,
            start_colour,
            end_colour,
            blend: Blend::Linear,
            space,
        }
    }

    /// Its colour at `position` (within its start and end).
    fn colour_at(&self, position: f64) -> Colour {
        let width = self.end - self.start;
        let (along, middle) = if width < EPSILON {
            (0.5, 0.5)
        } else {
            (
                ((position - self.start) / width).clamp(0.0, 1.0),
                ((self.middle - self.start) / width).clamp(0.0, 1.0),
            )
        };
        let factor = self.blend.factor(along, middle);
        mix(self.start_colour, self.end_colour, factor, self.space)
    }
}

/// Mixes two colours `factor` of the way from `from` to `to` in `space`.
fn mix(from: Colour, to: Colour, factor: f64, space: ColourSpace) -> Colour {
    let lerp = |a: f64, b: f64| a + (b - a) * factor;
    let widen = |colour: Colour| colour.map(f64::from);
    let [from, to] = [widen(from), widen(to)];
    let mixed = match space {
        ColourSpace::Rgb => [
            lerp(from[0], to[0]),
            lerp(from[1], to[1]),
            lerp(from[2], to[2]),
        ],
        ColourSpace::Oklab => {
            let (a, b) = (oklab_from_srgb(from), oklab_from_srgb(to));
            srgb_from_oklab([lerp(a[0], b[0]), lerp(a[1], b[1]), lerp(a[2], b[2])])
        }
        ColourSpace::HsvCounterClockwise | ColourSpace::HsvClockwise => {
            let (mut a, mut b) = (hsv_from_rgb(from), hsv_from_rgb(to));
            // The hue goes the way the segment says, through 1 = 0 if need be.
            if space == ColourSpace::HsvCounterClockwise && a[0] >= b[0] {
                b[0] += 1.0;
            }
            if space == ColourSpace::HsvClockwise && a[0] <= b[0] {
                a[0] += 1.0;
            }
            let hue = lerp(a[0], b[0]).rem_euclid(1.0);
            rgb_from_hsv([hue, lerp(a[1], b[1]), lerp(a[2], b[2])])
        }
    };
    mixed.map(|component| component.clamp(0.0, 1.0) as f32)
}

fn linear_from_srgb(component: f64) -> f64 {
    if component <= 0.04045 {
        component / 12.92
    } else {
        ((component + 0.055) / 1.055).powf(2.4)
    }
}

fn srgb_from_linear(component: f64) -> f64 {
    if component <= 0.003_130_8 {
        component * 12.92
    } else {
        1.055 * component.max(0.0).powf(1.0 / 2.4) - 0.055
    }
}

/// Björn Ottosson's Oklab, from sRGB components.
fn oklab_from_srgb(colour: [f64; 3]) -> [f64; 3] {
    let [r, g, b] = colour.map(linear_from_srgb);
    let l = (0.412_221_470_8 * r + 0.536_332_536_3 * g + 0.051_445_992_9 * b).cbrt();
    let m = (0.211_903_498_2 * r + 0.680_699_545_1 * g + 0.107_396_956_6 * b).cbrt();
    let s = (0.088_302_461_9 * r + 0.281_718_837_6 * g + 0.629_978_700_5 * b).cbrt();
    [
        0.210_454_255_3 * l + 0.793_617_785 * m - 0.004_072_046_8 * s,
        1.977_998_495_1 * l - 2.428_592_205 * m + 0.450_593_709_9 * s,
        0.025_904_037_1 * l + 0.782_771_766_2 * m - 0.808_675_766 * s,
    ]
}

/// sRGB components from Oklab (out-of-gamut results are clamped by the caller).
fn srgb_from_oklab(lab: [f64; 3]) -> [f64; 3] {
    let [lightness, a, b] = lab;
    let l = (lightness + 0.396_337_777_4 * a + 0.215_803_757_3 * b).powi(3);
    let m = (lightness - 0.105_561_345_8 * a - 0.063_854_172_8 * b).powi(3);
    let s = (lightness - 0.089_484_177_5 * a - 1.291_485_548 * b).powi(3);
    [
        4.076_741_662_1 * l - 3.307_711_591_3 * m + 0.230_969_929_2 * s,
        -1.268_438_004_6 * l + 2.609_757_401_1 * m - 0.341_319_396_5 * s,
        -0.004_196_086_3 * l - 0.703_418_614_7 * m + 1.707_614_701 * s,
    ]
    .map(srgb_from_linear)
}

/// Hue (0 to 1), saturation and value from RGB (as Python's `colorsys`).
fn hsv_from_rgb([r, g, b]: [f64; 3]) -> [f64; 3] {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    if max <= min {
        return [0.0, 0.0, max];
    }
    let range = max - min;
    let hue = if max == r {
        (g - b) / range
    } else if max == g {
        2.0 + (b - r) / range
    } else {
        4.0 + (r - g) / range
    };
    [(hue / 6.0).rem_euclid(1.0), range / max, max]
}

/// RGB from hue (0 to 1), saturation and value.
fn rgb_from_hsv([hue, saturation, value]: [f64; 3]) -> [f64; 3] {
    let sector = (hue * 6.0).floor();
    let within = hue * 6.0 - sector;
    let p = value * (1.0 - saturation);
    let q = value * (1.0 - saturation * within);
    let t = value * (1.0 - saturation * (1.0 - within));
    match (sector as i64).rem_euclid(6) {
        0 => [value, t, p],
        1 => [q, value, p],
        2 => [p, value, t],
        3 => [p, q, value],
        4 => [t, p, value],
        _ => [value, p, q],
    }
}

/// Why a list of segments is not a gradient.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GradientError {
    /// No segments.
    #[error("a gradient needs at least one segment")]
    Empty,
    /// More than `MAX_SEGMENTS`.
    #[error("{count} segments is more than the {MAX_SEGMENTS} a gradient may have")]
    TooManySegments {
        /// How many there were.
        count: usize,
    },
    /// A position or colour is NaN or infinite.
    #[error("segment {segment} has a value that is not a number")]
    NotANumber {
        /// Its number, from 1.
        segment: usize,
    },
    /// Positions out of order or outside 0 to 1, or a gap or an overlap.
    #[error("segment {segment} {problem}")]
    BadPositions {
        /// Its number, from 1.
        segment: usize,
        /// What is wrong.
        problem: String,
    },
}

/// A gradient: named segments tiling [0, 1], and their lookup table. Cheap to clone.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "GradientRecord", into = "GradientRecord")]
pub struct Gradient {
    shared: Arc<GradientData>,
}

struct GradientData {
    name: String,
    segments: Vec<Segment>,
    /// `TABLE_LEN + 1` colours, the last repeating the first, so a lookup always has a
    /// right neighbour.
    table: Vec<Colour>,
}

impl std::fmt::Debug for Gradient {
    // Without the table: 4097 colours would drown any message.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Gradient")
            .field("name", &self.shared.name)
            .field("segments", &self.shared.segments)
            .finish()
    }
}

impl PartialEq for Gradient {
    fn eq(&self, other: &Self) -> bool {
        self.shared.name == other.shared.name && self.shared.segments == other.shared.segments
    }
}

/// A gradient as stored in documents and settings: a shipped gradient's name (what
/// documents before format 4 and settings hold), or a name and its segments.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum GradientRecord {
    Shipped(String),
    Segments {
        name: String,
        segments: Vec<Segment>,
    },
}

impl TryFrom<GradientRecord> for Gradient {
    type Error = String;

    fn try_from(record: GradientRecord) -> Result<Self, Self::Error> {
        match record {
            GradientRecord::Shipped(name) => Gradient::shipped(&name).ok_or_else(|| {
                format!(
                    "unknown gradient {name:?}: the shipped ones are {}",
                    SHIPPED_GRADIENT_NAMES.join(", ")
                )
            }),
            GradientRecord::Segments { name, segments } => {
                Gradient::new(&name, segments).map_err(|error| error.to_string())
            }
        }
    }
}

impl From<Gradient> for GradientRecord {
    fn from(gradient: Gradient) -> Self {
        Self::Segments {
            name: gradient.shared.name.clone(),
            segments: gradient.shared.segments.clone(),
        }
    }
}

/// The shipped gradients' names, in menu order.
pub const SHIPPED_GRADIENT_NAMES: [&str; 6] = [
    "classic",
    "fire",
    "ocean",
    "grayscale",
    "rainbow",
    "twilight",
];

/// The shipped gradients' colours, evenly spaced around the loop (the last blends back into
/// the first, so the loop has no seam).
fn shipped_colours(name: &str) -> Option<&'static [[u8; 3]]> {
    Some(match name {
        // Deep blue, white and gold: the classic escape-time look.
        "classic" => &[
            [0, 7, 100],
            [32, 107, 203],
            [237, 255, 255],
            [255, 170, 0],
            [120, 40, 0],
            [0, 2, 30],
        ],
        // Black, red, orange, yellow and white, and back.
        "fire" => &[
            [0, 0, 0],
            [128, 0, 0],
            [230, 60, 0],
            [255, 170, 0],
            [255, 255, 200],
            [255, 170, 0],
            [230, 60, 0],
            [128, 0, 0],
        ],
        // Dark blue through teal to pale cyan.
        "ocean" => &[
            [2, 10, 40],
            [0, 60, 120],
            [0, 140, 160],
            [150, 230, 230],
            [0, 140, 160],
            [0, 60, 120],
        ],
        // Black to white and back.
        "grayscale" => &[[0, 0, 0], [255, 255, 255]],
        // The hue circle.
        "rainbow" => &[
            [255, 0, 0],
            [255, 255, 0],
            [0, 255, 0],
            [0, 255, 255],
            [0, 0, 255],
            [255, 0, 255],
        ],
        // Pale lilac, blue, dark violet and red (a cyclic "twilight").
        "twilight" => &[[226, 217, 226], [94, 128, 185], [48, 20, 80], [152, 60, 70]],
        _ => return None,
    })
}

/// A byte as a component in [0, 1].
pub fn component_from_byte(byte: u8) -> f32 {
    f32::from(byte) / 255.0
}

/// A component in [0, 1] as a byte: round(255 c), clamped; NaN is 0.
pub fn byte_from_component(component: f32) -> u8 {
    if component.is_nan() {
        return 0;
    }
    (component.clamp(0.0, 1.0) * 255.0).round() as u8
}

impl Default for Gradient {
    fn default() -> Self {
        Self::shipped("classic").unwrap_or_else(|| Self::evenly_spaced("classic", &[[0; 3]]))
    }
}

impl Gradient {
    /// A gradient from its segments, which must tile [0, 1] in order (ends within 1e-4 of
    /// each other are joined; the first starts at 0 and the last ends at 1).
    pub fn new(name: &str, mut segments: Vec<Segment>) -> Result<Self, GradientError> {
        const JOIN_TOLERANCE: f64 = 1e-4;
        if segments.is_empty() {
            return Err(GradientError::Empty);
        }
        if segments.len() > MAX_SEGMENTS {
            return Err(GradientError::TooManySegments {
                count: segments.len(),
            });
        }
        let last = segments.len() - 1;
        let mut previous_end = 0.0;
        for (index, segment) in segments.iter_mut().enumerate() {
            let number = index + 1;
            let numbers = [segment.start, segment.middle, segment.end];
            let colours = segment.start_colour.iter().chain(&segment.end_colour);
            if numbers.iter().any(|value| !value.is_finite())
                || colours.clone().any(|value| !value.is_finite())
            {
                return Err(GradientError::NotANumber { segment: number });
            }
            let bad = |problem: String| GradientError::BadPositions {
                segment: number,
                problem,
            };
            if (segment.start - previous_end).abs() > JOIN_TOLERANCE {
                return Err(bad(if index == 0 {
                    format!("starts at {} instead of 0", segment.start)
                } else {
                    format!(
                        "starts at {} but the one before ends at {previous_end}",
                        segment.start
                    )
                }));
            }
            segment.start = previous_end;
            if index == last {
                if (segment.end - 1.0).abs() > JOIN_TOLERANCE {
                    return Err(bad(format!("ends at {} instead of 1", segment.end)));
                }
                segment.end = 1.0;
            }
            if segment.end < segment.start {
                return Err(bad(format!(
                    "ends at {} before it starts at {}",
                    segment.end, segment.start
                )));
            }
            if !(segment.start - JOIN_TOLERANCE..=segment.end + JOIN_TOLERANCE)
                .contains(&segment.middle)
            {
                return Err(bad(format!(
                    "has its middle at {}, outside {} to {}",
                    segment.middle, segment.start, segment.end
                )));
            }
            segment.middle = segment.middle.clamp(segment.start, segment.end);
            for colour in [&mut segment.start_colour, &mut segment.end_colour] {
                *colour = colour.map(|component| component.clamp(0.0, 1.0));
            }
            previous_end = segment.end;
        }
        Ok(Self::from_checked(name, segments))
    }

    fn from_checked(name: &str, segments: Vec<Segment>) -> Self {
        let mut data = GradientData {
            name: name.to_owned(),
            segments,
            table: Vec::new(),
        };
        data.table = (0..=TABLE_LEN)
            .map(|index| data.evaluate(index as f64 / TABLE_LEN as f64))
            .collect();
        Self {
            shared: Arc::new(data),
        }
    }

    /// A loop through `colours`, evenly spaced, each blending into the next and the last
    /// back into the first, mixed in Oklab (a shipped gradient, or a Fractint map).
    pub fn evenly_spaced(name: &str, colours: &[[u8; 3]]) -> Self {
        let count = colours.len().max(1);
        let colour = |index: usize| {
            colours
                .get(index % count)
                .copied()
                .unwrap_or_default()
                .map(component_from_byte)
        };
        let segments = (0..count)
            .map(|index| {
                Segment::linear(
                    (
                        index as f64 / count as f64,
                        (index + 1) as f64 / count as f64,
                    ),
                    (colour(index), colour(index + 1)),
                    ColourSpace::Oklab,
                )
            })
            .collect();
        Self::from_checked(name, segments)
    }

    /// The shipped gradient called `name`.
    pub fn shipped(name: &str) -> Option<Self> {
        Self::all_shipped()
            .iter()
            .find(|gradient| gradient.name() == name)
            .cloned()
    }

    /// Every shipped gradient, in menu order (built once: a table takes a few
    /// thousand Oklab conversions, too many to repeat every frame).
    pub fn all_shipped() -> &'static [Self] {
        static SHIPPED: std::sync::OnceLock<Vec<Gradient>> = std::sync::OnceLock::new();
        SHIPPED.get_or_init(|| {
            SHIPPED_GRADIENT_NAMES
                .iter()
                .filter_map(|name| {
                    shipped_colours(name).map(|colours| Self::evenly_spaced(name, colours))
                })
                .collect()
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Its segments, in order around the loop.
    pub fn segments(&self) -> &[Segment] {
        &self.shared.segments
    }

    /// The same gradient under another name.
    pub fn renamed(&self, name: &str) -> Self {
        Self::from_checked(name, self.shared.segments.clone())
    }

    /// The same segments mixed in `space` (documents before format 4 mixed in sRGB).
    pub fn mixed_in(&self, space: ColourSpace) -> Self {
        let segments = self
            .segments()
            .iter()
            .map(|segment| Segment { space, ..*segment })
            .collect();
        Self::from_checked(self.name(), segments)
    }

    /// The exact colour at `position` around the loop (any number; whole turns wrap).
    pub fn colour_at_exact(&self, position: f64) -> Colour {
        self.shared.evaluate(position.rem_euclid(1.0))
    }

    /// The colour at `position` around the loop, from the table (what images use).
    pub fn colour_at(&self, position: f32) -> Colour {
        let scaled = position.rem_euclid(1.0) * TABLE_LEN as f32;
        let index = (scaled as usize).min(TABLE_LEN - 1);
        let blend = scaled - index as f32;
        let table = &self.shared.table;
        let (from, to) = (table[index], table[index + 1]);
        [
            from[0] + (to[0] - from[0]) * blend,
            from[1] + (to[1] - from[1]) * blend,
            from[2] + (to[2] - from[2]) * blend,
        ]
    }

    /// The lookup table as red, green, blue floats, `TABLE_LEN + 1` colours (the last
    /// repeats the first), for a Lua colouring's `gradient(t)`.
    pub fn table_components(&self) -> Vec<f32> {
        self.shared.table.iter().flatten().copied().collect()
    }

    /// The colour at `position` as bytes.
    pub fn colour_bytes_at(&self, position: f32) -> [u8; 3] {
        self.colour_at(position).map(byte_from_component)
    }

    /// The stops: the segments' ends, from 0 to 1, each with the colour on its right (the
    /// last, at 1, with the colour on its left).
    pub fn stops(&self) -> Vec<(f64, Colour)> {
        let segments = self.segments();
        let mut stops: Vec<(f64, Colour)> = segments
            .iter()
            .map(|segment| (segment.start, segment.start_colour))
            .collect();
        if let Some(last) = segments.last() {
            stops.push((last.end, last.end_colour));
        }
        stops
    }

    /// Stop `index` (0 to segments) given `colour` on both of its sides.
    pub fn with_stop_colour(&self, index: usize, colour: Colour) -> Self {
        let mut segments = self.segments().to_vec();
        if let Some(before) = index.checked_sub(1).and_then(|i| segments.get_mut(i)) {
            before.end_colour = colour;
        }
        if let Some(after) = segments.get_mut(index) {
            after.start_colour = colour;
        }
        Self::from_checked(self.name(), segments)
    }

    /// A new stop at `position` (0 to 1), splitting the segment there without changing
    /// the colour at that point; its index, or None where the segment is too narrow to
    /// split or the gradient has the most segments it may have.
    pub fn with_stop_added(&self, position: f64) -> Option<(Self, usize)> {
        let segments = self.segments();
        if segments.len() >= MAX_SEGMENTS || !position.is_finite() {
            return None;
        }
        let position = position.clamp(0.0, 1.0);
        let index = self.shared.segment_index_at(position);
        let segment = segments[index];
        if position - segment.start < MIN_SEGMENT_WIDTH
            || segment.end - position < MIN_SEGMENT_WIDTH
        {
            return None;
        }
        let colour = segment.colour_at(position);
        let halves = [
            Segment {
                end: position,
                middle: (segment.start + position) / 2.0,
                end_colour: colour,
                ..segment
            },
            Segment {
                start: position,
                middle: (position + segment.end) / 2.0,
                start_colour: colour,
                ..segment
            },
        ];
        let mut new = segments.to_vec();
        new.splice(index..=index, halves);
        Some((Self::from_checked(self.name(), new), index + 1))
    }

    /// Stop `index` removed, joining the segments on its sides (the ends at 0 and 1 and
    /// the only segment's stops stay); None where it cannot go.
    pub fn with_stop_removed(&self, index: usize) -> Option<Self> {
        let segments = self.segments();
        if index == 0 || index >= segments.len() {
            return None;
        }
        let (before, after) = (segments[index - 1], segments[index]);
        let joined = Segment {
            end: after.end,
            middle: (before.start + after.end) / 2.0,
            end_colour: after.end_colour,
            ..before
        };
        let mut new = segments.to_vec();
        new.splice(index - 1..=index, [joined]);
        Some(Self::from_checked(self.name(), new))
    }

    /// Stop `index` moved to `position`, kept between its neighbours (the ends stay at 0
    /// and 1); the middles of the two segments it bounds keep their proportions.
    pub fn with_stop_moved(&self, index: usize, position: f64) -> Option<Self> {
        let segments = self.segments();
        if index == 0 || index >= segments.len() || !position.is_finite() {
            return None;
        }
        let (before, after) = (segments[index - 1], segments[index]);
        let low = before.start + MIN_SEGMENT_WIDTH;
        let high = after.end - MIN_SEGMENT_WIDTH;
        if low > high {
            return None;
        }
        let position = position.clamp(low, high);
        let proportion = |segment: &Segment| {
            let width = segment.end - segment.start;
            if width < EPSILON {
                0.5
            } else {
                (segment.middle - segment.start) / width
            }
        };
        let mut new = segments.to_vec();
        new[index - 1] = Segment {
            end: position,
            middle: before.start + (position - before.start) * proportion(&before),
            ..before
        };
        new[index] = Segment {
            start: position,
            middle: position + (after.end - position) * proportion(&after),
            ..after
        };
        Some(Self::from_checked(self.name(), new))
    }
}

impl GradientData {
    /// The segment holding `position` (0 to 1): the first that ends at or after it.
    fn segment_index_at(&self, position: f64) -> usize {
        self.segments
            .partition_point(|segment| segment.end < position)
            .min(self.segments.len().saturating_sub(1))
    }

    fn evaluate(&self, position: f64) -> Colour {
        match self.segments.get(self.segment_index_at(position)) {
            Some(segment) => segment.colour_at(position),
            None => [0.0; 3],
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn close(a: Colour, b: Colour) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    fn one_segment(blend: Blend, space: ColourSpace, middle: f64) -> Gradient {
        Gradient::new(
            "test",
            vec![Segment {
                start: 0.0,
                middle,
                end: 1.0,
                start_colour: [0.0, 0.0, 0.0],
                end_colour: [1.0, 0.5, 0.25],
                blend,
                space,
            }],
        )
        .expect("valid")
    }

    #[test]
    fn the_blends_follow_gimps_formulas_worked_by_hand() {
        // Linear with its middle at 0.25: halfway at 0.25, then linear to the end.
        let linear = one_segment(Blend::Linear, ColourSpace::Rgb, 0.25);
        assert!(close(linear.colour_at_exact(0.25), [0.5, 0.25, 0.125]));
        assert!(close(linear.colour_at_exact(0.625), [0.75, 0.375, 0.1875]));
        // Curved, middle 0.25: factor = pos^(ln 0.5 / ln 0.25) = sqrt(pos).
        let curved = one_segment(Blend::Curved, ColourSpace::Rgb, 0.25);
        assert!(close(curved.colour_at_exact(0.64), [0.8, 0.4, 0.2]));
        // Sine, middle 0.5: factor = (sin(-pi/2 + pi * 0.25) + 1) / 2 at pos 0.25.
        let sine = one_segment(Blend::Sine, ColourSpace::Rgb, 0.5);
        let factor = ((std::f64::consts::PI * -0.25).sin() + 1.0) / 2.0;
        assert!(close(
            sine.colour_at_exact(0.25),
            [factor as f32, 0.5 * factor as f32, 0.25 * factor as f32]
        ));
        // Sphere increasing at pos 0.5: sqrt(1 - 0.25) ; decreasing: 1 - sqrt(0.75).
        let increasing = one_segment(Blend::SphereIncreasing, ColourSpace::Rgb, 0.5);
        let factor = 0.75_f64.sqrt() as f32;
        assert!(close(
            increasing.colour_at_exact(0.5),
            [factor, factor / 2.0, factor / 4.0]
        ));
        let decreasing = one_segment(Blend::SphereDecreasing, ColourSpace::Rgb, 0.5);
        let factor = 1.0 - 0.75_f64.sqrt() as f32;
        assert!(close(
            decreasing.colour_at_exact(0.5),
            [factor, factor / 2.0, factor / 4.0]
        ));
        // Step at middle 0.3.
        let step = one_segment(Blend::Step, ColourSpace::Rgb, 0.3);
        assert!(close(step.colour_at_exact(0.29), [0.0; 3]));
        assert!(close(step.colour_at_exact(0.31), [1.0, 0.5, 0.25]));
    }

    #[test]
    fn hsv_segments_turn_the_hue_the_way_they_say() {
        let red_to_blue = |space| {
            Gradient::new(
                "hsv",
                vec![Segment::linear(
                    (0.0, 1.0),
                    ([1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
                    space,
                )],
            )
            .expect("valid")
        };
        // Red (hue 0) to blue (hue 2/3): counter-clockwise passes green (hue 1/3) halfway,
        // clockwise passes magenta (hue 5/6).
        let ccw = red_to_blue(ColourSpace::HsvCounterClockwise);
        assert!(close(ccw.colour_at_exact(0.5), [0.0, 1.0, 0.0]));
        let cw = red_to_blue(ColourSpace::HsvClockwise);
        assert!(close(cw.colour_at_exact(0.5), [1.0, 0.0, 1.0]));
        let rgb = red_to_blue(ColourSpace::Rgb);
        assert!(close(rgb.colour_at_exact(0.5), [0.5, 0.0, 0.5]));
    }

    #[test]
    fn oklab_mixes_black_and_white_to_a_perceived_middle_grey() {
        let gradient = Gradient::new(
            "grey",
            vec![Segment::linear(
                (0.0, 1.0),
                ([0.0; 3], [1.0; 3]),
                ColourSpace::Oklab,
            )],
        )
        .expect("valid");
        // Oklab lightness 0.5 is linear luminance 0.125, sRGB 0.3885 (byte 99), not 128.
        let middle = gradient.colour_at_exact(0.5);
        assert!((middle[0] - 0.3885).abs() < 1e-3, "{middle:?}");
        assert_eq!(gradient.colour_bytes_at(0.5), [99, 99, 99]);
        // Pure colours survive the round trip through Oklab.
        for colour in [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.2, 0.4, 0.6],
        ] {
            let back = srgb_from_oklab(oklab_from_srgb(colour));
            assert!(
                back.iter().zip(colour).all(|(a, b)| (a - b).abs() < 1e-5),
                "{back:?}"
            );
        }
    }

    #[test]
    fn the_table_matches_the_exact_colours_within_a_byte() {
        for gradient in Gradient::all_shipped() {
            for step in 0..1000 {
                let position = step as f64 / 1000.0 + 0.000_37;
                let exact = gradient.colour_at_exact(position).map(byte_from_component);
                let table = gradient.colour_bytes_at(position as f32);
                let worst = exact.iter().zip(table).map(|(a, b)| a.abs_diff(b)).max();
                assert!(worst <= Some(1), "{} at {position}", gradient.name());
            }
        }
    }

    #[test]
    fn segments_that_do_not_tile_the_loop_are_refused_with_their_number() {
        let segment =
            |start, end| Segment::linear((start, end), ([0.0; 3], [1.0; 3]), ColourSpace::Rgb);
        let gap = Gradient::new("gap", vec![segment(0.0, 0.4), segment(0.5, 1.0)]);
        assert_eq!(
            gap.expect_err("gap").to_string(),
            "segment 2 starts at 0.5 but the one before ends at 0.4"
        );
        let short = Gradient::new("short", vec![segment(0.0, 0.9)]);
        assert_eq!(
            short.expect_err("short").to_string(),
            "segment 1 ends at 0.9 instead of 1"
        );
        let nan = Gradient::new("nan", vec![segment(0.0, f64::NAN)]);
        assert!(matches!(nan, Err(GradientError::NotANumber { segment: 1 })));
        assert_eq!(Gradient::new("none", Vec::new()), Err(GradientError::Empty));
    }

    #[test]
    fn stops_are_added_moved_recoloured_and_removed_without_changing_the_rest() {
        let gradient = Gradient::shipped("grayscale").expect("shipped");
        assert_eq!(gradient.stops().len(), 3);
        let before = gradient.colour_at_exact(0.25);
        let (added, index) = gradient.with_stop_added(0.25).expect("added");
        assert_eq!(index, 1);
        assert_eq!(added.stops().len(), 4);
        // Splitting keeps the colour at the new stop, and everywhere past the split segment.
        assert!(close(added.colour_at_exact(0.25), before));
        assert!(close(
            added.colour_at_exact(0.75),
            gradient.colour_at_exact(0.75)
        ));
        let red = added.with_stop_colour(index, [1.0, 0.0, 0.0]);
        assert!(close(red.colour_at_exact(0.25), [1.0, 0.0, 0.0]));
        let moved = red.with_stop_moved(index, 0.1).expect("moved");
        assert!(close(moved.colour_at_exact(0.1), [1.0, 0.0, 0.0]));
        assert!((moved.stops()[1].0 - 0.1).abs() < 1e-12);
        // A stop cannot pass its neighbour, nor can the ends move or go.
        let pushed = moved.with_stop_moved(index, 0.9).expect("moved");
        assert!(pushed.stops()[1].0 < pushed.stops()[2].0);
        assert!(moved.with_stop_moved(0, 0.5).is_none());
        assert!(moved.with_stop_removed(0).is_none());
        assert!(moved.with_stop_removed(moved.stops().len() - 1).is_none());
        let removed = moved.with_stop_removed(index).expect("removed");
        assert_eq!(removed.stops().len(), 3);
        assert!(close(removed.colour_at_exact(0.5), [1.0; 3]));
    }

    #[test]
    fn shipped_gradients_loop_without_seams_and_round_trip_through_json() {
        for gradient in Gradient::all_shipped() {
            let start = gradient.colour_bytes_at(0.0);
            let end = gradient.colour_bytes_at(0.99999);
            let jump = start.iter().zip(end).map(|(a, b)| a.abs_diff(b)).max();
            assert!(jump <= Some(2), "{} jumps by {jump:?}", gradient.name());
            let json = serde_json::to_string(&gradient).expect("json");
            let back: Gradient = serde_json::from_str(&json).expect("back");
            assert_eq!(&back, gradient);
            let by_name: Gradient =
                serde_json::from_str(&format!("{:?}", gradient.name())).expect("by name");
            assert_eq!(&by_name, gradient);
        }
        assert!(serde_json::from_str::<Gradient>("\"plaid\"").is_err());
    }
}
