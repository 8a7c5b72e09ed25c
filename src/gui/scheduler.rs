//! The one place that decides whether to render again, when, and how much. Commands tell
//! it what changed (`Change`); each frame the app asks it what to do now (`Decision`).
//!
//! - A palette change only recolours the stored values: no render.
//! - Typing renders 0.3 s after the last keystroke (with auto-run on); a view change, a new
//!   kernel or new render settings render at once; a wheel gesture once the wheel rests; a
//!   drag when it ends.
//! - While the view area's size changes (a resize, or the panels laying themselves out at
//!   start) nothing starts: every change would cancel and restart the render.
//! - A large image gets a quarter-size preview pass first.
//! - While paused (the safe start) nothing renders until the user runs the kernel.

use std::time::{Duration, Instant};

/// Auto-run renders this long after the last keystroke.
pub const AUTO_RUN_DELAY: Duration = Duration::from_millis(300);
/// Wheel zooming renders once the wheel has rested this long.
pub const WHEEL_SETTLE_DELAY: Duration = Duration::from_millis(150);
/// A resized view area is rendered again once its size has been still this long.
pub const RESIZE_SETTLE_DELAY: Duration = Duration::from_millis(150);
/// Images with more pixels than this get a quarter-size preview pass first.
const PREVIEW_ABOVE_PIXELS: u32 = 320 * 240;

/// What changed, as far as rendering is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The window opened.
    Started,
    /// The user typed in the editor.
    Typed {
        /// Auto-run is on.
        auto_run: bool,
    },
    /// Another kernel replaced the editor's text.
    KernelReplaced,
    /// The view moved in one step (a click, a key, Back, Home...).
    ViewMoved,
    /// A drag is moving the view: render when it ends.
    Dragging,
    /// The wheel is zooming: render when it rests.
    Wheel,
    /// Size, threads or iteration limit changed.
    RenderSettings,
    /// The colouring changed.
    Palette,
    /// The user asked to run the kernel (Run): render at once, even while paused.
    RunAsked,
}

/// What the app should do this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing is due.
    Idle,
    /// Recolour the images on screen with the current palette (no render).
    Recolour,
    /// Start a render now, with these passes.
    Render(Passes),
    /// Something is due later: ask for a frame after this long.
    WaitFor(Duration),
}

/// The passes of a render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passes {
    /// Render a quarter-size preview first.
    pub preview: bool,
}

/// Decides when to render. See the module's documentation.
#[derive(Debug)]
pub struct RenderScheduler {
    render_due: Option<Instant>,
    recolour_due: bool,
    dragging: bool,
    /// The image size in the last frame, and since when it has been that.
    size_px_since: Option<((u32, u32), Instant)>,
    /// The size of the last render started.
    rendered_size_px: Option<(u32, u32)>,
    paused: Option<String>,
    /// The user asked for a render (Run): the next decision starts it.
    run_asked: bool,
}

impl Default for RenderScheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl RenderScheduler {
    /// A scheduler with the first render due (the window has just opened).
    pub fn new() -> Self {
        let mut scheduler = Self {
            render_due: None,
            recolour_due: false,
            dragging: false,
            size_px_since: None,
            rendered_size_px: None,
            paused: None,
            run_asked: false,
        };
        scheduler.changed(Change::Started, Instant::now());
        scheduler
    }

    /// Records what changed at `now`.
    pub fn changed(&mut self, change: Change, now: Instant) {
        self.dragging = change == Change::Dragging;
        let due = match change {
            Change::Started
            | Change::KernelReplaced
            | Change::ViewMoved
            | Change::RenderSettings => Some(now),
            Change::Typed { auto_run: true } => Some(now + AUTO_RUN_DELAY),
            Change::Wheel => Some(now + WHEEL_SETTLE_DELAY),
            Change::Typed { auto_run: false } | Change::Dragging => None,
            Change::RunAsked => {
                self.run_asked = true;
                Some(now)
            }
            Change::Palette => {
                self.recolour_due = true;
                None
            }
        };
        if due.is_some() {
            self.render_due = due;
        }
    }

    /// Records `change` at `now` if `changed` (a setting that was set to its own value
    /// changes nothing).
    pub fn changed_if(&mut self, changed: bool, change: Change, now: Instant) {
        if changed {
            self.changed(change, now);
        }
    }

    /// Pauses automatic rendering (the safe start) until `render_started`.
    pub fn pause(&mut self, reason: String) {
        self.paused = Some(reason);
        self.render_due = None;
    }

    /// Why automatic rendering is paused, if it is.
    pub fn paused_reason(&self) -> Option<&str> {
        self.paused.as_deref()
    }

    /// A render started (due or asked for): it ends a pause, and later sizes are compared
    /// with its size.
    pub fn render_started(&mut self, size_px: (u32, u32)) {
        self.render_due = None;
        self.paused = None;
        self.rendered_size_px = Some(size_px);
    }

    /// The passes for an image of `size_px`.
    pub fn passes_for(size_px: (u32, u32)) -> Passes {
        Passes {
            preview: size_px.0.saturating_mul(size_px.1) > PREVIEW_ABOVE_PIXELS,
        }
    }

    /// True while a render or a recolour is due (or the image size is settling).
    pub fn is_due(&self) -> bool {
        self.render_due.is_some() || self.recolour_due || self.run_asked
    }

    /// How long until the due render, if one is due.
    pub fn due_in(&self, now: Instant) -> Option<Duration> {
        self.render_due
            .map(|due| due.saturating_duration_since(now))
    }

    /// What to do at `now`, with the image at `size_px`. Call once per kept frame.
    pub fn decide(&mut self, now: Instant, size_px: (u32, u32)) -> Decision {
        if std::mem::take(&mut self.recolour_due) {
            return Decision::Recolour;
        }
        // Asked for: now, at this size, whatever the pause, a drag or a settling size.
        if std::mem::take(&mut self.run_asked) {
            return Decision::Render(Self::passes_for(size_px));
        }
        let stable_since = match self.size_px_since {
            Some((size, since)) if size == size_px => since,
            _ => {
                self.size_px_since = Some((size_px, now));
                now
            }
        };
        // The view area changed size since the last render: render again at the new size.
        if self.render_due.is_none()
            && self
                .rendered_size_px
                .is_some_and(|rendered| rendered != size_px)
        {
            self.render_due = Some(now);
        }
        if self.paused.is_some() {
            self.render_due = None;
            return Decision::Idle;
        }
        let Some(due) = self.render_due else {
            return Decision::Idle;
        };
        let start_at = due.max(stable_since + RESIZE_SETTLE_DELAY);
        if start_at <= now && !self.dragging {
            Decision::Render(Self::passes_for(size_px))
        } else {
            Decision::WaitFor(
                start_at
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(5)),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: (u32, u32) = (320, 200);

    /// A scheduler whose first render has run, its size long settled.
    fn settled(now: Instant) -> RenderScheduler {
        let mut scheduler = RenderScheduler::new();
        let before = now - Duration::from_secs(10);
        assert!(matches!(
            scheduler.decide(before, SIZE),
            Decision::WaitFor(_)
        ));
        scheduler.render_started(SIZE);
        scheduler
    }

    #[test]
    fn run_renders_at_once_even_while_paused_and_ends_the_pause() {
        let now = Instant::now();
        let mut scheduler = settled(now);
        scheduler.pause("safe start".to_owned());
        scheduler.changed(Change::ViewMoved, now);
        assert_eq!(scheduler.decide(now, SIZE), Decision::Idle, "paused");
        scheduler.changed(Change::RunAsked, now);
        assert_eq!(
            scheduler.decide(now, (640, 400)),
            Decision::Render(RenderScheduler::passes_for((640, 400))),
            "at once, even at a size that has not settled"
        );
        scheduler.render_started((640, 400));
        assert_eq!(scheduler.paused_reason(), None);
        assert_eq!(scheduler.decide(now, (640, 400)), Decision::Idle);
    }

    #[test]
    fn typing_renders_after_the_auto_run_delay_and_not_without_auto_run() {
        let now = Instant::now();
        let mut scheduler = settled(now);
        scheduler.changed(Change::Typed { auto_run: true }, now);
        assert!(matches!(scheduler.decide(now, SIZE), Decision::WaitFor(_)));
        assert_eq!(
            scheduler.decide(now + AUTO_RUN_DELAY, SIZE),
            Decision::Render(Passes { preview: false })
        );
        let mut scheduler = settled(now);
        scheduler.changed(Change::Typed { auto_run: false }, now);
        assert_eq!(scheduler.decide(now + AUTO_RUN_DELAY, SIZE), Decision::Idle);
    }

    #[test]
    fn a_palette_change_recolours_without_rendering() {
        let now = Instant::now();
        let mut scheduler = settled(now);
        scheduler.changed(Change::Palette, now);
        assert_eq!(scheduler.decide(now, SIZE), Decision::Recolour);
        assert_eq!(scheduler.decide(now, SIZE), Decision::Idle);
    }

    #[test]
    fn a_drag_renders_when_it_ends_and_a_wheel_when_it_rests() {
        let now = Instant::now();
        let mut scheduler = settled(now);
        scheduler.changed(Change::Dragging, now);
        assert_eq!(scheduler.decide(now, SIZE), Decision::Idle);
        scheduler.changed(Change::ViewMoved, now);
        assert!(matches!(scheduler.decide(now, SIZE), Decision::Render(_)));
        scheduler.render_started(SIZE);
        scheduler.changed(Change::Wheel, now);
        assert!(matches!(scheduler.decide(now, SIZE), Decision::WaitFor(_)));
        assert!(matches!(
            scheduler.decide(now + WHEEL_SETTLE_DELAY, SIZE),
            Decision::Render(_)
        ));
    }

    #[test]
    fn a_new_size_renders_once_it_has_settled() {
        let now = Instant::now();
        let mut scheduler = settled(now);
        let bigger = (640, 400);
        assert!(matches!(
            scheduler.decide(now, bigger),
            Decision::WaitFor(_)
        ));
        assert_eq!(
            scheduler.decide(now + RESIZE_SETTLE_DELAY, bigger),
            Decision::Render(Passes { preview: true })
        );
    }

    #[test]
    fn a_pause_holds_every_render_until_one_is_started() {
        let now = Instant::now();
        let mut scheduler = settled(now);
        scheduler.pause("safe start".to_owned());
        scheduler.changed(Change::ViewMoved, now);
        assert_eq!(
            scheduler.decide(now + Duration::from_secs(1), SIZE),
            Decision::Idle
        );
        assert_eq!(scheduler.paused_reason(), Some("safe start"));
        scheduler.render_started(SIZE);
        assert_eq!(scheduler.paused_reason(), None);
        scheduler.changed(Change::ViewMoved, now);
        assert!(matches!(scheduler.decide(now, SIZE), Decision::Render(_)));
    }
}
