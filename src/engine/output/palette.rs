//! Colouring: turns a rendered `ValueImage` into an RGB image, in parallel, without
//! re-running the kernel. Escape values go through a cyclic gradient (offset and density
//! move and stretch the colour bands); inside pixels get the inside colour; direct-colour
//! kernels (`output = "rgb"`) are only clamped and converted.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::gradient::{Gradient, byte_from_component};
use crate::engine::kernel::OutputMode;
use crate::engine::render::ValueImage;

/// How escape values become colours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
            gradient: Gradient::default(),
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
        self.gradient.colour_bytes_at(cycles.rem_euclid(1.0))
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
            OutputMode::Escape { .. } => {
                // The escape value is each pixel's first.
                let channels = output.channels();
                rgb.par_chunks_mut(3 * PIXELS_PER_TASK)
                    .zip(values.par_chunks(channels * PIXELS_PER_TASK))
                    .for_each(|(rgb, values)| {
                        for (pixel, values) in
                            rgb.chunks_exact_mut(3).zip(values.chunks_exact(channels))
                        {
                            pixel.copy_from_slice(&self.colour_of(values[0]));
                        }
                    });
            }
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
    byte_from_component(component)
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
    fn offset_shifts_and_density_stretches_the_bands() {
        let base = Palette::default();
        let shifted = Palette {
            offset: 0.25,
            ..base.clone()
        };
        // Value 1 starts the loop; (sqrt(25) - 1) / 4 = 1 cycle wraps back to its start.
        assert_eq!(base.colour_of(1.0), base.gradient.colour_bytes_at(0.0));
        assert_eq!(base.colour_of(25.0), base.gradient.colour_bytes_at(0.0));
        assert_eq!(shifted.colour_of(25.0), base.gradient.colour_bytes_at(0.25));
        let dense = Palette {
            density: 2.0,
            ..base.clone()
        };
        assert_eq!(dense.colour_of(9.0), base.colour_of(25.0));
    }

    #[test]
    fn direct_colour_is_clamped() {
        let image = ValueImage {
            channel_names: Vec::new(),
            width_px: 2,
            height_px: 1,
            output: OutputMode::Rgb,
            values: vec![0.0, 0.5, 1.0, -3.0, 7.0, f32::NAN],
        };
        let rgb = Palette::default().colourize(&image);
        assert_eq!(rgb.as_raw(), &vec![0, 128, 255, 0, 255, 0]);
    }
}
