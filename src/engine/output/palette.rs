//! Colouring: turns a rendered `ValueImage` into an RGB image, in parallel, without
//! re-running the kernel. Escape values go through a cyclic gradient (offset and density
//! move and stretch the colour bands); inside pixels get the inside colour; direct-colour
//! kernels (`output = "rgb"`) are only clamped and converted.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::engine::kernel::OutputMode;
use crate::engine::render::ValueImage;

/// A built-in gradient: colour stops, evenly spaced around a loop (the last blends back
/// into the first, so the cyclic mapping has no seams).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gradient {
    /// Deep blue, white and gold: the classic escape-time look.
    Classic,
    /// Black, red, orange, yellow and white, and back.
    Fire,
    /// Dark blue through teal to pale cyan.
    Ocean,
    /// Black to white and back.
    Grayscale,
    /// The hue circle.
    Rainbow,
    /// Pale lilac, blue, dark violet and red (a cyclic "twilight").
    Twilight,
}

impl Gradient {
    /// Every gradient, in menu order.
    pub const ALL: [Gradient; 6] = [
        Self::Classic,
        Self::Fire,
        Self::Ocean,
        Self::Grayscale,
        Self::Rainbow,
        Self::Twilight,
    ];

    /// Its name, as used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Fire => "fire",
            Self::Ocean => "ocean",
            Self::Grayscale => "grayscale",
            Self::Rainbow => "rainbow",
            Self::Twilight => "twilight",
        }
    }

    /// The gradient with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|gradient| gradient.name() == name)
    }

    fn stops(self) -> &'static [[u8; 3]] {
        match self {
            Self::Classic => &[
                [0, 7, 100],
                [32, 107, 203],
                [237, 255, 255],
                [255, 170, 0],
                [120, 40, 0],
                [0, 2, 30],
            ],
            Self::Fire => &[
                [0, 0, 0],
                [128, 0, 0],
                [230, 60, 0],
                [255, 170, 0],
                [255, 255, 200],
                [255, 170, 0],
                [230, 60, 0],
                [128, 0, 0],
            ],
            Self::Ocean => &[
                [2, 10, 40],
                [0, 60, 120],
                [0, 140, 160],
                [150, 230, 230],
                [0, 140, 160],
                [0, 60, 120],
            ],
            Self::Grayscale => &[[0, 0, 0], [255, 255, 255]],
            Self::Rainbow => &[
                [255, 0, 0],
                [255, 255, 0],
                [0, 255, 0],
                [0, 255, 255],
                [0, 0, 255],
                [255, 0, 255],
            ],
            Self::Twilight => &[[226, 217, 226], [94, 128, 185], [48, 20, 80], [152, 60, 70]],
        }
    }

    /// The colour at `t` in [0, 1) around the loop.
    pub fn colour_at(self, t: f32) -> [u8; 3] {
        let stops = self.stops();
        let position = t.rem_euclid(1.0) * stops.len() as f32;
        let index = (position as usize).min(stops.len() - 1);
        let blend = position - index as f32;
        let (from, to) = (stops[index], stops[(index + 1) % stops.len()]);
        let mix =
            |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * blend).round() as u8;
        [
            mix(from[0], to[0]),
            mix(from[1], to[1]),
            mix(from[2], to[2]),
        ]
    }
}

/// How escape values become colours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Palette {
    /// The colour loop.
    pub gradient: Gradient,
    /// Colour cycles per 4 units of sqrt(escape value) (higher: narrower bands).
    pub density: f32,
    /// Shift around the loop, in cycles (0 to 1).
    pub offset: f32,
    /// The colour of points inside the set.
    pub inside: [u8; 3],
}

impl Default for Palette {
    fn default() -> Self {
        Self {
            gradient: Gradient::Classic,
            density: 1.0,
            offset: 0.0,
            inside: [0, 0, 0],
        }
    }
}

impl Palette {
    /// The colour of one escape value. Negative, NaN and infinite values are inside.
    ///
    /// The square root keeps bands readable both near the set, where escape values run to
    /// the iteration limit, and far from it, where they are small; starting the loop at
    /// value 1 gives the far field (values 1 to 3) the gradient's first colour.
    pub fn colour_of(&self, value: f32) -> [u8; 3] {
        if !value.is_finite() || value < 0.0 {
            return self.inside;
        }
        let cycles = self.offset + self.density * (value.sqrt() - 1.0) * 0.25;
        self.gradient.colour_at(cycles.rem_euclid(1.0))
    }

    /// Colours a whole image (RGB, 3 bytes per pixel, row by row), in parallel.
    pub fn colourize(&self, image: &ValueImage) -> image::RgbImage {
        let mut rgb = vec![0_u8; image.values.len() / image.output.channels() * 3];
        self.colourize_into(image.output, &image.values, &mut rgb);
        image::RgbImage::from_raw(image.width_px, image.height_px, rgb)
            .unwrap_or_else(|| image::RgbImage::new(image.width_px, image.height_px))
    }

    /// Colours `values` (as produced for `output`) into `rgb` (3 bytes per pixel); used for
    /// whole images and for single units as they arrive.
    pub fn colourize_into(&self, output: OutputMode, values: &[f32], rgb: &mut [u8]) {
        const PIXELS_PER_TASK: usize = 4096;
        match output {
            OutputMode::Escape => rgb
                .par_chunks_mut(3 * PIXELS_PER_TASK)
                .zip(values.par_chunks(PIXELS_PER_TASK))
                .for_each(|(rgb, values)| {
                    for (pixel, value) in rgb.chunks_exact_mut(3).zip(values) {
                        pixel.copy_from_slice(&self.colour_of(*value));
                    }
                }),
            OutputMode::Rgb => rgb
                .par_chunks_mut(3 * PIXELS_PER_TASK)
                .zip(values.par_chunks(3 * PIXELS_PER_TASK))
                .for_each(|(rgb, values)| {
                    for (byte, value) in rgb.iter_mut().zip(values) {
                        *byte = direct_colour_byte(*value);
                    }
                }),
        }
    }
}

/// A direct-colour component in [0, 1] as a byte; out-of-range values are clamped and NaN
/// is black.
fn direct_colour_byte(component: f32) -> u8 {
    if component.is_nan() {
        return 0;
    }
    (component.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_values_get_the_inside_colour() {
        let palette = Palette {
            inside: [1, 2, 3],
            ..Palette::default()
        };
        for value in [-1.0, -0.001, f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(palette.colour_of(value), [1, 2, 3], "{value}");
        }
        assert_ne!(palette.colour_of(5.0), [1, 2, 3]);
    }

    #[test]
    fn gradients_are_cyclic_without_seams() {
        for gradient in Gradient::ALL {
            let start = gradient.colour_at(0.0);
            let end = gradient.colour_at(0.99999);
            let jump = start
                .iter()
                .zip(end)
                .map(|(a, b)| a.abs_diff(b))
                .max()
                .unwrap_or(0);
            assert!(
                jump <= 2,
                "{} jumps by {jump} where it wraps",
                gradient.name()
            );
            assert_eq!(Gradient::from_name(gradient.name()), Some(gradient));
        }
    }

    #[test]
    fn offset_shifts_and_density_stretches_the_bands() {
        let base = Palette::default();
        let shifted = Palette {
            offset: 0.25,
            ..base
        };
        // Value 1 starts the loop; (sqrt(25) - 1) / 4 = 1 cycle wraps back to its start.
        assert_eq!(base.colour_of(1.0), base.gradient.colour_at(0.0));
        assert_eq!(base.colour_of(25.0), base.gradient.colour_at(0.0));
        assert_eq!(shifted.colour_of(25.0), base.gradient.colour_at(0.25));
        let dense = Palette {
            density: 2.0,
            ..base
        };
        assert_eq!(dense.colour_of(9.0), base.colour_of(25.0));
    }

    #[test]
    fn direct_colour_is_clamped() {
        let image = ValueImage {
            width_px: 2,
            height_px: 1,
            output: OutputMode::Rgb,
            values: vec![0.0, 0.5, 1.0, -3.0, 7.0, f32::NAN],
        };
        let rgb = Palette::default().colourize(&image);
        assert_eq!(rgb.as_raw(), &vec![0, 128, 255, 0, 255, 0]);
    }
}
