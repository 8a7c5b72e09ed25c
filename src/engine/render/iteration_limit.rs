//! The automatic iteration limit of a render by perturbation, fitted to the image: the
//! depth gives a limit (`automatic_max_iter`), and small probe renders of the same view
//! say how many pixels reach each limit tried. The first is below the depth's limit, and
//! the limit climbs to it while pixels reach it, or stops early where none does while the
//! reference orbit goes on (the pixels all escape long before the depth's limit). From
//! the depth's limit, where many pixels reach it, the limit is raised fourfold while
//! raising it lets a good share of them escape (pixels that were cut off, not inside the
//! set), and where the reference orbit escapes, to twice its length (the pixels about it
//! escape about as late). Raising stops when it no longer helps (what is left is inside:
//! a minibrot), after a few rounds, or at `MAX_MAX_ITER`. While almost no pixel escapes
//! at either limit, raising goes on (nothing is known yet), and is kept only if a higher
//! limit lets pixels out (a view inside the set keeps the depth's limit). Stopping while
//! raising still helped is reported, so the user knows that more iterations would show
//! more.

use crate::engine::error::RenderError;
use crate::engine::kernel::two_significant_digits;

/// The share of a probe's pixels reaching the limit below which the limit stands.
const INSIDE_SHARE_TO_RAISE: f64 = 0.01;

/// Raising the limit is kept when at least this share of the pixels that reached it
/// escape with the raised one.
const SHARE_ESCAPING_TO_KEEP: f64 = 1.0 / 3.0;

/// A share of pixels at the limit so large that whether they are inside is not known.
const ALL_BUT_A_FEW: f64 = 0.95;

/// How many times the limit is raised fourfold at most (64 times the depth's limit).
const MAX_RAISES: u32 = 3;

/// The pixels of a probe render at one limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Probe {
    /// The share of pixels that reached the limit.
    pub inside_share: f64,
    /// Where the reference orbit escaped, if it did before the limit.
    pub reference_escaped_at: Option<u32>,
    /// True when every pixel still follows the reference near the limit (its series
    /// holds for the whole view to within a sixteenth of it): none can have escaped.
    pub pixels_follow_reference: bool,
}

/// The limit chosen, and whether raising it still let pixels escape when the search
/// stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FittedLimit {
    /// The iteration limit to render with.
    pub max_iter: u32,
    /// True when many pixels reach it and a higher limit would let a good share of them
    /// escape (the search ran out of rounds or reached `MAX_MAX_ITER`), or may (a higher
    /// limit's reference orbit would not fit in the memory limit: `memory_bound`).
    pub still_cuts: bool,
    /// True when the search stopped because a higher limit's reference orbit would not
    /// fit in the memory limit, while pixels still reached this one.
    pub memory_bound: bool,
}

/// Fits the limit from `depth_limit` by calling `probe` at each limit tried, the first
/// at `first_limit` (at most `depth_limit`). Below the depth's limit the limit climbs
/// fourfold while a pixel reaches it (sixteenfold while every pixel still follows the
/// reference: each climb makes the reference's table of skips again), and stops where
/// none does while the reference orbit goes on, at twice that limit: the pixels then all
/// escape long before the depth's limit, and only the reference orbit would run on to it
/// (a view about a point of the set whose pixels escape early, such as c = i at 1e-1000:
/// 2,700 steps against the depth's 16,000,000). Where a pixel reaches the depth's limit,
/// or the reference escapes, the fitting goes on from the depth's limit as without the
/// climb.
/// `probe` gives None for a limit whose reference orbit would not fit in the memory
/// limit: the fitting keeps what it has (a climb that cannot reach the depth's limit says
/// the limit still cuts where pixels reached it).
pub(super) fn fitted_limit(
    first_limit: u32,
    depth_limit: u32,
    probe: &mut dyn FnMut(u32) -> Result<Option<Probe>, RenderError>,
) -> Result<FittedLimit, RenderError> {
    let mut limit = first_limit.clamp(1, depth_limit.max(1));
    let Some(mut at_limit) = probe(limit)? else {
        // Not even the first fits: the render says so itself.
        return Ok(FittedLimit {
            max_iter: limit,
            still_cuts: false,
            memory_bound: false,
        });
    };
    while limit < depth_limit {
        if at_limit.reference_escaped_at.is_none() && at_limit.inside_share == 0.0 {
            // Twice the limit no probe pixel reached, for the image's pixels between the
            // probe's (at 1e-20 beside the seahorse valley's point, 320x180: the probe's
            // all escaped below 16,000, seven of the image's between 16,000 and 18,000).
            return Ok(FittedLimit {
                max_iter: two_significant_digits(2.0 * f64::from(limit)).min(depth_limit),
                still_cuts: false,
                memory_bound: false,
            });
        }
        let climb = if at_limit.pixels_follow_reference {
            16.0
        } else {
            4.0
        };
        // Once the reference escaped, a higher limit costs the pixels only.
        let higher = if at_limit.reference_escaped_at.is_some() {
            depth_limit
        } else {
            two_significant_digits(climb * f64::from(limit)).min(depth_limit)
        };
        let Some(at_higher) = probe(higher)? else {
            let still_cuts = at_limit.inside_share >= INSIDE_SHARE_TO_RAISE;
            return Ok(FittedLimit {
                max_iter: limit,
                still_cuts,
                memory_bound: still_cuts,
            });
        };
        (limit, at_limit) = (higher, at_higher);
    }
    // The reference escapes at N: the pixels about it escape near N, some well after.
    if let Some(escaped_at) = at_limit.reference_escaped_at {
        let twice = two_significant_digits(2.0 * f64::from(escaped_at));
        if twice > limit
            && let Some(at_twice) = probe(twice)?
        {
            (limit, at_limit) = (twice, at_twice);
        }
    }
    // The last limit a raise let pixels escape at (or the first): raises with nothing
    // escaping yet are tried, and kept only if a later one lets pixels out.
    let mut kept = FittedLimit {
        max_iter: limit,
        still_cuts: false,
        memory_bound: false,
    };
    for _ in 0..MAX_RAISES {
        if at_limit.inside_share < INSIDE_SHARE_TO_RAISE {
            return Ok(kept);
        }
        let raised = two_significant_digits(4.0 * f64::from(limit));
        if raised <= limit {
            // At MAX_MAX_ITER.
            return Ok(kept);
        }
        let Some(with_raised) = probe(raised)? else {
            kept.memory_bound = kept.still_cuts;
            return Ok(kept);
        };
        let escaped = at_limit.inside_share - with_raised.inside_share;
        if escaped >= at_limit.inside_share * SHARE_ESCAPING_TO_KEEP {
            kept = FittedLimit {
                max_iter: raised,
                still_cuts: with_raised.inside_share >= INSIDE_SHARE_TO_RAISE,
                memory_bound: false,
            };
        } else if with_raised.inside_share < ALL_BUT_A_FEW {
            // Most of them stay: inside the set, not cut off.
            return Ok(kept);
        }
        // Else almost nothing escapes at either limit: not known yet (deep views need
        // far more than the depth's guess), so try higher.
        limit = raised;
        at_limit = with_raised;
    }
    Ok(kept)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    /// A probe over pixels that escape at the given iteration counts (None: inside).
    fn probe_of(
        escapes: &[Option<u32>],
        reference_escaped_at: Option<u32>,
        tried: &mut Vec<u32>,
    ) -> impl FnMut(u32) -> Result<Option<Probe>, RenderError> {
        move |limit| {
            tried.push(limit);
            let inside = escapes
                .iter()
                .filter(|escape| escape.is_none_or(|at| at > limit))
                .count();
            Ok(Some(Probe {
                inside_share: inside as f64 / escapes.len() as f64,
                reference_escaped_at: reference_escaped_at.filter(|&at| at <= limit),
                pixels_follow_reference: false,
            }))
        }
    }

    #[test]
    fn a_limit_that_cuts_no_pixels_stands() {
        let escapes: Vec<_> = (1..=1000).map(|n| Some(n * 3)).collect();
        let mut tried = Vec::new();
        let fitted =
            fitted_limit(5000, 5000, &mut probe_of(&escapes, None, &mut tried)).expect("fits");
        assert_eq!(fitted.max_iter, 5000);
        assert!(!fitted.still_cuts);
        assert_eq!(tried, [5000]);
    }

    #[test]
    fn pixels_cut_off_raise_the_limit_until_they_escape() {
        // A fifth of the pixels escape between 6,000 and 16,000 iterations.
        let mut escapes: Vec<_> = (0..800).map(|n| Some(100 + n)).collect();
        escapes.extend((0..200).map(|n| Some(6000 + 50 * n)));
        let mut tried = Vec::new();
        let fitted =
            fitted_limit(5000, 5000, &mut probe_of(&escapes, None, &mut tried)).expect("fits");
        assert_eq!(fitted.max_iter, 20_000);
        assert!(!fitted.still_cuts);
        assert_eq!(tried, [5000, 20_000]);
    }

    #[test]
    fn pixels_inside_do_not_raise_it() {
        // A minibrot: a third of the pixels never escape, a few escape just past the limit.
        let mut escapes: Vec<Option<u32>> = vec![None; 330];
        escapes.extend((0..660).map(|n| Some(100 + n)));
        escapes.extend((0..10).map(|n| Some(6000 + n)));
        let mut tried = Vec::new();
        let fitted =
            fitted_limit(5000, 5000, &mut probe_of(&escapes, None, &mut tried)).expect("fits");
        assert_eq!(fitted.max_iter, 5000);
        assert!(!fitted.still_cuts);
        assert_eq!(tried, [5000, 20_000]);
    }

    #[test]
    fn an_image_with_nothing_escaping_yet_raises_it_blind() {
        // Every pixel escapes between 30,000 and 40,000 iterations.
        let escapes: Vec<_> = (0..1000).map(|n| Some(30_000 + 10 * n)).collect();
        let mut tried = Vec::new();
        let fitted =
            fitted_limit(1900, 1900, &mut probe_of(&escapes, None, &mut tried)).expect("fits");
        assert_eq!(tried, [1900, 7600, 30_000, 120_000]);
        assert_eq!(fitted.max_iter, 120_000);
        assert!(!fitted.still_cuts);
    }

    #[test]
    fn a_view_inside_the_set_keeps_the_depths_limit() {
        let escapes = vec![None; 1000];
        let mut tried = Vec::new();
        let fitted =
            fitted_limit(2900, 2900, &mut probe_of(&escapes, None, &mut tried)).expect("fits");
        assert_eq!(tried, [2900, 12_000, 48_000, 190_000]);
        assert_eq!(fitted.max_iter, 2900);
        assert!(!fitted.still_cuts);
    }

    #[test]
    fn an_escaping_reference_sets_a_floor_of_twice_its_length() {
        let escapes: Vec<_> = (1..=1000).map(|n| Some(n * 4)).collect();
        let mut tried = Vec::new();
        let fitted = fitted_limit(5000, 5000, &mut probe_of(&escapes, Some(4100), &mut tried))
            .expect("fits");
        assert_eq!(fitted.max_iter, 8200);
        assert_eq!(tried, [5000, 8200]);
    }

    #[test]
    fn running_out_of_rounds_while_raising_helps_is_reported() {
        // Escapes spread so that each fourfold raise lets half of the rest out.
        let escapes: Vec<_> = (0..1000)
            .map(|n| {
                let u = (f64::from(n) + 0.5) / 1000.0;
                Some((1000.0 / (u * u)).min(1e9) as u32)
            })
            .collect();
        let fitted =
            fitted_limit(1000, 1000, &mut probe_of(&escapes, None, &mut Vec::new())).expect("fits");
        assert_eq!(fitted.max_iter, 64_000);
        assert!(fitted.still_cuts);
    }

    #[test]
    fn pixels_that_all_escape_early_stop_the_climb_below_the_depths_limit() {
        // About a point of the set (its reference never escapes): every pixel escapes
        // between 2,000 and 2,700 steps.
        let escapes: Vec<_> = (0..1000).map(|n| Some(2000 + n * 7 / 10)).collect();
        let mut tried = Vec::new();
        let fitted = fitted_limit(1000, 16_000_000, &mut probe_of(&escapes, None, &mut tried))
            .expect("fits");
        assert_eq!(tried, [1000, 4000]);
        assert_eq!(fitted.max_iter, 8000, "twice the limit no pixel reached");
        assert!(!fitted.still_cuts);
    }

    #[test]
    fn a_climb_that_meets_the_reference_s_escape_fits_as_from_the_depths_limit() {
        // The reference escapes at 30,000 and the pixels about it near there.
        let escapes: Vec<_> = (0..1000).map(|n| Some(25_000 + 10 * n)).collect();
        let mut tried = Vec::new();
        let fitted = fitted_limit(
            1000,
            200_000,
            &mut probe_of(&escapes, Some(30_000), &mut tried),
        )
        .expect("fits");
        assert_eq!(tried, [1000, 4000, 16_000, 64_000, 200_000]);
        assert_eq!(fitted.max_iter, 200_000);
        let mut from_depth = Vec::new();
        let without_climb = fitted_limit(
            200_000,
            200_000,
            &mut probe_of(&escapes, Some(30_000), &mut from_depth),
        )
        .expect("fits");
        assert_eq!(without_climb, fitted);
    }

    #[test]
    fn a_view_inside_the_set_climbs_to_the_depths_limit_and_keeps_it() {
        let escapes = vec![None; 1000];
        let mut tried = Vec::new();
        let fitted =
            fitted_limit(1000, 2900, &mut probe_of(&escapes, None, &mut tried)).expect("fits");
        assert_eq!(tried, [1000, 2900, 12_000, 48_000, 190_000]);
        assert_eq!(fitted.max_iter, 2900);
    }

    #[test]
    fn the_climb_is_sixteenfold_while_every_pixel_follows_the_reference() {
        // Every pixel follows the reference until 1,000,000 steps, where it escapes.
        let mut tried = Vec::new();
        let mut probe = |limit: u32| {
            tried.push(limit);
            Ok(Some(Probe {
                inside_share: 1.0,
                reference_escaped_at: (limit >= 1_000_000).then_some(1_000_000),
                pixels_follow_reference: limit < 1_000_000,
            }))
        };
        let fitted = fitted_limit(1000, 4_000_000, &mut probe).expect("fits");
        assert_eq!(tried[..4], [1000, 16_000, 260_000, 4_000_000]);
        assert_eq!(fitted.max_iter, 4_000_000);
    }

    #[test]
    fn limits_past_the_memory_limit_are_not_tried_and_the_fitting_keeps_what_it_has() {
        // Inside the set: nothing ever escapes; orbits past 100,000 steps do not fit.
        let tried = std::cell::RefCell::new(Vec::new());
        let mut probe = |limit: u32| {
            tried.borrow_mut().push(limit);
            Ok((limit <= 100_000).then_some(Probe {
                inside_share: 1.0,
                reference_escaped_at: None,
                pixels_follow_reference: false,
            }))
        };
        // The climb stops short of the depth's limit, and says the limit may cut.
        let fitted = fitted_limit(1000, 2_600_000, &mut probe).expect("fits");
        assert_eq!(*tried.borrow(), [1000, 4000, 16_000, 64_000, 260_000]);
        assert_eq!(
            fitted,
            FittedLimit {
                max_iter: 64_000,
                still_cuts: true,
                memory_bound: true,
            }
        );
        // From the depth's limit, the raises stop where they would not fit.
        tried.borrow_mut().clear();
        let fitted = fitted_limit(2900, 2900, &mut probe).expect("fits");
        assert_eq!(*tried.borrow(), [2900, 12_000, 48_000, 190_000]);
        assert_eq!(fitted.max_iter, 2900);
    }
}
