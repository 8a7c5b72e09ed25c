//! Histogram colouring: escape values equalised over an image, so each colour of the
//! gradient covers as many pixels as any other. `EscapeDistribution` is the image's
//! cumulative distribution of escape values, in 16,384 bins spaced by the logarithm of the
//! value (escape values run from about 1 to the iteration limit), read back with linear
//! interpolation within a bin: O(pixels) to build and to apply, with no sort.

use rayon::prelude::*;

use super::palette::Palette;
use crate::engine::render::ValueImage;

/// Bins of the distribution.
const BINS: usize = 16_384;

/// The cumulative distribution of an image's escape values (its outside pixels).
#[derive(Debug, Clone, PartialEq)]
pub struct EscapeDistribution {
    /// log(value) of the first bin's lower edge, and the bins' width in log(value).
    log_low: f64,
    log_step: f64,
    /// cumulative[i]: the fraction of values below bin i's lower edge (BINS + 1 entries).
    cumulative: Vec<f64>,
}

/// An escape value's place on the distribution's axis (values below 1e-12 count as it).
fn log_of(value: f32) -> f64 {
    f64::from(value).max(1e-12).ln()
}

fn is_outside(value: f32) -> bool {
    value >= 0.0 && value.is_finite()
}

impl EscapeDistribution {
    /// The distribution of `image`'s escape values (each pixel's first value); None when
    /// no pixel is outside.
    pub fn of_image(image: &ValueImage) -> Option<Self> {
        let channels = image.output.channels();
        if channels == 1 {
            return Self::of_values(&image.values);
        }
        let escape_values: Vec<f32> = image.values.iter().step_by(channels).copied().collect();
        Self::of_values(&escape_values)
    }

    /// The distribution of the escape values in `values` (one per pixel); None when no
    /// pixel is outside.
    pub fn of_values(values: &[f32]) -> Option<Self> {
        let (low, high) = values.iter().filter(|value| is_outside(**value)).fold(
            (f64::INFINITY, f64::NEG_INFINITY),
            |(low, high), value| {
                let log = log_of(*value);
                (low.min(log), high.max(log))
            },
        );
        if low > high {
            return None;
        }
        let log_step = ((high - low) / BINS as f64).max(1e-12);
        let bin_of = |value: f32| (((log_of(value) - low) / log_step) as usize).min(BINS - 1);
        let counts = values
            .par_chunks(65_536)
            .map(|chunk| {
                let mut counts = vec![0_u64; BINS];
                for value in chunk.iter().filter(|value| is_outside(**value)) {
                    counts[bin_of(*value)] += 1;
                }
                counts
            })
            .reduce(
                || vec![0_u64; BINS],
                |mut total, part| {
                    for (sum, count) in total.iter_mut().zip(part) {
                        *sum += count;
                    }
                    total
                },
            );
        let total = counts.iter().sum::<u64>().max(1) as f64;
        let mut cumulative = Vec::with_capacity(BINS + 1);
        let mut running = 0_u64;
        cumulative.push(0.0);
        for count in counts {
            running += count;
            cumulative.push(running as f64 / total);
        }
        Some(Self {
            log_low: low,
            log_step,
            cumulative,
        })
    }

    /// The fraction of the image's escape values below `value` (0 to 1), interpolated
    /// within its bin.
    pub fn rank(&self, value: f32) -> f64 {
        let position = ((log_of(value) - self.log_low) / self.log_step).clamp(0.0, BINS as f64);
        let bin = (position as usize).min(BINS - 1);
        let within = position - bin as f64;
        let (below, above) = (self.cumulative[bin], self.cumulative[bin + 1]);
        below + (above - below) * within
    }
}

impl Palette {
    /// Colours `image` (escape values) by rank on `distribution`: a value's colour is the
    /// gradient at offset + density x its rank, so density 1 runs the gradient once over
    /// the image's values from the lowest to the highest.
    pub fn colourize_by_rank(
        &self,
        image: &ValueImage,
        distribution: Option<&EscapeDistribution>,
    ) -> image::RgbImage {
        const PIXELS_PER_TASK: usize = 4096;
        let channels = image.output.channels();
        let mut rgb = vec![0_u8; image.values.len() / channels * 3];
        rgb.par_chunks_mut(3 * PIXELS_PER_TASK)
            .zip(image.values.par_chunks(channels * PIXELS_PER_TASK))
            .for_each(|(rgb, values)| {
                let escape_values = values.iter().step_by(channels);
                for (pixel, value) in rgb.chunks_exact_mut(3).zip(escape_values) {
                    let colour = match distribution {
                        Some(distribution) if is_outside(*value) => {
                            let turns = f64::from(self.offset)
                                + f64::from(self.density) * distribution.rank(*value);
                            self.gradient.colour_bytes_at(turns.rem_euclid(1.0) as f32)
                        }
                        _ => self.inside,
                    };
                    pixel.copy_from_slice(&colour);
                }
            });
        image::RgbImage::from_raw(image.width_px, image.height_px, rgb)
            .unwrap_or_else(|| image::RgbImage::new(image.width_px, image.height_px))
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_uniform_over_the_values_they_came_from() {
        // Values spread very unevenly: most near 2, a long tail to 5000.
        let values: Vec<f32> = (0..100_000)
            .map(|index| {
                let u = (index as f32 + 0.5) / 100_000.0;
                2.0 + 5000.0 * u.powi(6)
            })
            .chain([-1.0, f32::NAN, f32::INFINITY])
            .collect();
        let distribution = EscapeDistribution::of_values(&values).expect("outside values");
        for quantile in [0.1, 0.25, 0.5, 0.75, 0.9] {
            let value = values[(quantile * 100_000.0) as usize];
            let rank = distribution.rank(value);
            assert!((rank - quantile).abs() < 0.005, "{quantile}: {rank}");
        }
        assert_eq!(distribution.rank(0.5), 0.0);
        assert_eq!(distribution.rank(1e9), 1.0);
        assert!(EscapeDistribution::of_values(&[-1.0, f32::NAN]).is_none());
    }
}
