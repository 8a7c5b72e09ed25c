//! A render that takes long: after a second the image shows how long it has run, how far
//! it is, and a Stop button (Esc does the same); when no row has finished after a few
//! seconds, a hint that the kernel may be looping. A stop leaves the last image and renders
//! nothing until the next change or Run.

use std::time::Duration;

use super::MoonbrotApp;
use crate::gui::commands::Command;

/// A render in flight this long gets the banner over the image.
const LONG_RENDER: Duration = Duration::from_secs(1);
/// With no row finished after this long, the banner says the kernel may be looping.
const LOOPING_HINT_AFTER: Duration = Duration::from_secs(3);

impl MoonbrotApp {
    /// Stops the render in flight, if any.
    pub(super) fn stop_render(&mut self) {
        let Some(progress) = self.canvas.progress.take() else {
            return;
        };
        self.threads.render.cancel();
        // No request has generation 0: whatever the stopped one still reports is ignored.
        self.rendering.generation = 0;
        if let Some(autosave) = &mut self.threads.autosave {
            autosave.set_rendering(false);
        }
        self.notices.render_stopped = Some(format!(
            "Render stopped after {:.1} s: change the kernel or the view, or Run, to render \
             again.",
            progress.started.elapsed().as_secs_f64()
        ));
    }

    /// Queues Esc's command when it has something to do (picking, or a render in flight),
    /// leaving the key to egui otherwise.
    pub(super) fn push_escape(&mut self, ctx: &egui::Context) {
        if self.gestures.picking.is_none() && self.canvas.progress.is_none() {
            return;
        }
        if ctx.input_mut(|input| input.consume_key(egui::Modifiers::NONE, egui::Key::Escape)) {
            self.commands.push(Command::Escape);
        }
    }

    /// The banner over the image while a render takes long.
    pub(super) fn long_render_ui(&mut self, ctx: &egui::Context) {
        let Some(progress) = &self.canvas.progress else {
            return;
        };
        let elapsed = progress.started.elapsed();
        if elapsed < LONG_RENDER {
            ctx.request_repaint_after(LONG_RENDER - elapsed);
            return;
        }
        // The elapsed time moves even when no row arrives.
        ctx.request_repaint_after(Duration::from_millis(500));
        let rows_done = progress.rows_done();
        let rows = self.image_size_px().1;
        let looping = rows_done == 0
            && progress.reference_iterations.is_none()
            && elapsed > LOOPING_HINT_AFTER;
        let mut stop = false;
        egui::Area::new(egui::Id::unique("moonbrot-long-render"))
            .fixed_pos(self.canvas.area.left_top() + egui::vec2(8.0, 8.0))
            .show(ctx, |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.label(format!(
                            "Rendering for {:.0} s: {rows_done} of {rows} rows",
                            elapsed.as_secs_f64().floor()
                        ));
                        stop = ui.button("Stop (Esc)").clicked();
                    });
                    if looping {
                        ui.colored_label(
                            ui.visuals().warn_fg_color,
                            format!(
                                "No row has finished in {:.0} s: the kernel may be looping \
                                 (a loop that never ends, or a very high max_iter).",
                                elapsed.as_secs_f64().floor()
                            ),
                        );
                    }
                });
            });
        if stop {
            self.commands.push(Command::StopRender);
        }
    }
}
