//! The settings panel: image size, thread count, iteration limit, palette and navigation.
//! Returns what changed; the app decides what to re-render (a palette change only
//! recolours).

use egui::Ui;

use super::settings::{SIZE_PRESETS, Settings, SizeChoice};
use crate::engine::palette::Gradient;
use crate::engine::render::default_thread_count;

/// What the user changed in the settings panel.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ControlsResponse {
    /// Size, threads or max_iter changed: render again.
    pub render_settings_changed: bool,
    /// The palette changed: recolour.
    pub palette_changed: bool,
    /// Home was clicked.
    pub home: bool,
    /// Back was clicked.
    pub back: bool,
    /// Forward was clicked.
    pub forward: bool,
}

/// The largest thread count offered: twice the cores (at least 2), at most 64.
pub fn max_threads() -> usize {
    (default_thread_count() * 2).clamp(2, crate::engine::render::MAX_THREADS)
}

/// Shows the settings. `size_px` is the current image size (for the custom size fields).
pub fn controls_ui(ui: &mut Ui, settings: &mut Settings, size_px: (u32, u32)) -> ControlsResponse {
    let mut response = ControlsResponse::default();
    let before = (settings.size, settings.threads, settings.max_iter);

    egui::Grid::new("render-settings")
        .num_columns(2)
        .show(ui, |ui| {
            let label = ui.label("Image size");
            let selected = match settings.size {
                SizeChoice::Width(width) => format!("{width} wide"),
                SizeChoice::Custom { width, height } => format!("{width}×{height}"),
                SizeChoice::FitWindow => "Fit window".to_owned(),
            };
            egui::ComboBox::from_id_salt("image-size")
                .selected_text(selected)
                .show_ui(ui, |ui| {
                    for width in SIZE_PRESETS {
                        ui.selectable_value(
                            &mut settings.size,
                            SizeChoice::Width(width),
                            format!("{width} wide"),
                        );
                    }
                    ui.selectable_value(&mut settings.size, SizeChoice::FitWindow, "Fit window");
                    let custom = SizeChoice::Custom {
                        width: size_px.0,
                        height: size_px.1,
                    };
                    if ui
                        .selectable_label(
                            matches!(settings.size, SizeChoice::Custom { .. }),
                            "Custom W×H",
                        )
                        .clicked()
                    {
                        settings.size = custom;
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();

            if let SizeChoice::Custom { width, height } = &mut settings.size {
                let label = ui.label("Custom size");
                ui.horizontal(|ui| {
                    ui.add(egui::DragValue::new(width).range(1..=16_384).suffix(" px"))
                        .labelled_by(label.id);
                    ui.label("×");
                    ui.add(egui::DragValue::new(height).range(1..=16_384).suffix(" px"))
                        .labelled_by(label.id);
                });
                ui.end_row();
            }

            let label = ui.label("Threads");
            ui.add(egui::DragValue::new(&mut settings.threads).range(1..=max_threads()))
                .labelled_by(label.id)
                .on_hover_text("Worker threads, one Lua state each");
            ui.end_row();

            let label = ui.label("Max iterations");
            ui.horizontal(|ui| {
                let mut use_kernels = settings.max_iter.is_none();
                if ui.checkbox(&mut use_kernels, "kernel's").changed() {
                    settings.max_iter = if use_kernels { None } else { Some(500) };
                }
                if let Some(max_iter) = &mut settings.max_iter {
                    ui.add(
                        egui::DragValue::new(max_iter)
                            .range(1..=crate::engine::kernel::MAX_MAX_ITER)
                            .speed(10.0),
                    )
                    .labelled_by(label.id);
                }
            });
            ui.end_row();
        });
    response.render_settings_changed =
        before != (settings.size, settings.threads, settings.max_iter);

    ui.separator();
    let palette_before = settings.palette;
    egui::Grid::new("palette-settings")
        .num_columns(2)
        .show(ui, |ui| {
            let palette = &mut settings.palette;
            let label = ui.label("Palette");
            egui::ComboBox::from_id_salt("palette")
                .selected_text(palette.gradient.name())
                .show_ui(ui, |ui| {
                    for gradient in Gradient::ALL {
                        ui.selectable_value(&mut palette.gradient, gradient, gradient.name());
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Density");
            ui.add(egui::Slider::new(&mut palette.density, 0.05..=20.0).logarithmic(true))
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Offset");
            ui.add(egui::Slider::new(&mut palette.offset, 0.0..=1.0))
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Inside colour");
            ui.color_edit_button_srgb(&mut palette.inside)
                .labelled_by(label.id);
            ui.end_row();
        });
    response.palette_changed = palette_before != settings.palette;

    ui.separator();
    ui.horizontal(|ui| {
        response.back = ui
            .add_enabled(settings.history.can_go_back(), egui::Button::new("Back"))
            .on_hover_text("Alt+Left")
            .clicked();
        response.forward = ui
            .add_enabled(
                settings.history.can_go_forward(),
                egui::Button::new("Forward"),
            )
            .on_hover_text("Alt+Right")
            .clicked();
        response.home = ui
            .button("Home")
            .on_hover_text("Home key: the kernel's home view")
            .clicked();
    });
    response
}
