//! The settings panel: image size, thread count, iteration limit, palette, and the kernel's
//! own parameters. It edits copies of the values and returns a `Command` for each change;
//! the app applies them (and its scheduler decides what to re-render: a palette change only
//! recolours).

use egui::Ui;

use super::commands::{Command, RenderSetting};
use super::gradient_editor::gradient_editor_ui;
use super::settings::{MAX_CHOSEN_SIDE_PX, SIZE_PRESETS, Settings, SizeChoice};
use crate::engine::kernel::MAX_MAX_ITER;
use crate::engine::kernel::{ParameterKind, ParameterSpec, ParameterValue};
use crate::engine::output::{Gradient, Palette};
use crate::engine::render::{MAX_THREADS, default_thread_count};

/// The width of each part of a complex parameter's entry, in points.
const COMPLEX_PART_WIDTH: f32 = 110.0;

/// What an edited gradient's name ends with (the file or shipped gradient it came from
/// keeps its own).
const EDITED_SUFFIX: &str = " (edited)";

/// The iteration limit offered when the user unticks "automatic".
const DEFAULT_USER_MAX_ITER: u32 = 500;

/// The largest thread count offered: twice the cores (at least 2), at most `MAX_THREADS`.
pub fn max_threads() -> usize {
    (default_thread_count() * 2).clamp(2, MAX_THREADS)
}

/// Shows the settings. `size_px` is the current image size (the custom size starts there).
pub fn controls_ui(ui: &mut Ui, settings: &Settings, size_px: (u32, u32)) -> Vec<Command> {
    let mut commands = Vec::new();
    egui::Grid::new("render-settings")
        .num_columns(2)
        .show(ui, |ui| {
            let mut size = settings.size;
            size_ui(ui, &mut size, size_px);
            if size != settings.size {
                commands.push(Command::Set(RenderSetting::Size(size)));
            }
            let mut threads = settings.threads;
            let label = ui.label("Threads");
            ui.add(egui::DragValue::new(&mut threads).range(1..=max_threads()))
                .labelled_by(label.id)
                .on_hover_text("Worker threads, one Lua state each");
            ui.end_row();
            if threads != settings.threads {
                commands.push(Command::Set(RenderSetting::Threads(threads)));
            }
            let mut max_iter = settings.max_iter;
            max_iter_ui(ui, &mut max_iter);
            if max_iter != settings.max_iter {
                commands.push(Command::Set(RenderSetting::MaxIter(max_iter)));
            }
            let label = ui.label("Solid guessing");
            let mut guessing = settings.guessing;
            ui.checkbox(&mut guessing, "")
                .labelled_by(label.id)
                .on_hover_text(
                    "Fill flat regions (the set's inside) from their outline instead of \
                     computing every pixel. A few pixels in a million may differ; \
                     direct-colour kernels are always computed in full.",
                );
            if guessing != settings.guessing {
                commands.push(Command::Set(RenderSetting::Guessing(guessing)));
            }
            ui.end_row();
        });
    ui.separator();
    let mut palette = settings.palette.clone();
    palette_ui(ui, &mut palette, &mut commands);
    if palette != settings.palette {
        commands.push(Command::Set(RenderSetting::Palette(palette)));
    }
    commands
}

/// The size picker (presets, fit window, custom) and, for a custom size, its fields.
fn size_ui(ui: &mut Ui, size: &mut SizeChoice, size_px: (u32, u32)) {
    let label = ui.label("Image size");
    let selected = match *size {
        SizeChoice::Width(width) => format!("{width} wide"),
        SizeChoice::Custom { width, height } => format!("{width}×{height}"),
        SizeChoice::FitWindow => "Fit window".to_owned(),
    };
    egui::ComboBox::from_id_salt("image-size")
        .selected_text(selected)
        .show_ui(ui, |ui| {
            for width in SIZE_PRESETS {
                ui.selectable_value(size, SizeChoice::Width(width), format!("{width} wide"));
            }
            ui.selectable_value(size, SizeChoice::FitWindow, "Fit window");
            let is_custom = matches!(size, SizeChoice::Custom { .. });
            if ui.selectable_label(is_custom, "Custom W×H").clicked() && !is_custom {
                *size = SizeChoice::Custom {
                    width: size_px.0,
                    height: size_px.1,
                };
            }
        })
        .response
        .labelled_by(label.id);
    ui.end_row();

    if let SizeChoice::Custom { width, height } = size {
        let label = ui.label("Custom size");
        ui.horizontal(|ui| {
            ui.add(side_px_field(width)).labelled_by(label.id);
            ui.label("×");
            ui.add(side_px_field(height)).labelled_by(label.id);
        });
        ui.end_row();
    }
}

fn side_px_field(value: &mut u32) -> egui::DragValue<'_> {
    egui::DragValue::new(value)
        .range(1..=MAX_CHOSEN_SIDE_PX)
        .suffix(" px")
}

/// "automatic" (the kernel's own `max_iter`, raised and fitted to deep views rendered by
/// perturbation) or a number.
fn max_iter_ui(ui: &mut Ui, max_iter: &mut Option<u32>) {
    let label = ui.label("Max iterations");
    ui.horizontal(|ui| {
        let mut automatic = max_iter.is_none();
        if ui
            .checkbox(&mut automatic, "automatic")
            .on_hover_text(
                "the kernel's own max_iter; deep views rendered by perturbation raise it with \
                 the depth and where pixels reach it",
            )
            .changed()
        {
            *max_iter = (!automatic).then_some(DEFAULT_USER_MAX_ITER);
        }
        if let Some(max_iter) = max_iter {
            ui.add(
                egui::DragValue::new(max_iter)
                    .range(1..=MAX_MAX_ITER)
                    .speed(10.0),
            )
            .labelled_by(label.id);
        }
    });
    ui.end_row();
}

/// Gradient (a shipped one, a file's, or as edited), its editor, density, offset and
/// inside colour; Open and Export of gradient files go out as commands.
fn palette_ui(ui: &mut Ui, palette: &mut Palette, commands: &mut Vec<Command>) {
    egui::Grid::new("palette-settings")
        .num_columns(2)
        .show(ui, |ui| {
            let label = ui.label("Palette");
            egui::ComboBox::from_id_salt("palette")
                .selected_text(palette.gradient.name())
                .show_ui(ui, |ui| {
                    for gradient in Gradient::all_shipped() {
                        let chosen = *gradient == palette.gradient;
                        if ui.selectable_label(chosen, gradient.name()).clicked() {
                            palette.gradient = gradient.clone();
                        }
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
            ui.label("");
            ui.horizontal(|ui| {
                if ui
                    .button("Open gradient…")
                    .on_hover_text(
                        "Colour with a gradient file: GIMP .ggr, Fractint .map, Ultra Fractal .ugr",
                    )
                    .clicked()
                {
                    commands.push(Command::OpenGradient);
                }
                if ui
                    .button("Save as .ggr…")
                    .on_hover_text("Save this gradient as a GIMP gradient file")
                    .clicked()
                {
                    commands.push(Command::ExportGradient);
                }
            });
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
    // Below the grid, at the panel's width: in a grid cell it would widen the panel.
    if let Some(edited) = gradient_editor_ui(ui, &palette.gradient) {
        palette.gradient = if edited.name().ends_with(EDITED_SUFFIX) {
            edited
        } else {
            edited.renamed(&format!("{}{EDITED_SUFFIX}", edited.name()))
        };
    }
}

/// The kernel's parameters as controls: a slider with an exact entry for numbers, a
/// checkbox, a menu of options, and for a complex point two numbers and "Pick on image".
/// `values` holds every parameter with the value it renders with.
pub fn parameters_ui(
    ui: &mut Ui,
    values: &[(ParameterSpec, ParameterValue)],
    picking: Option<&str>,
) -> Vec<Command> {
    let mut commands = Vec::new();
    egui::Grid::new("kernel-parameters")
        .num_columns(2)
        .show(ui, |ui| {
            for (spec, value) in values {
                let label = ui.label(spec.display_name());
                let changed = parameter_control(ui, label.id, spec, value, picking, &mut commands);
                if let Some(value) = changed {
                    commands.push(Command::SetParameter(spec.name.clone(), value));
                }
                label.on_hover_text(format!("param.{}: {}", spec.name, spec.kind.describe()));
                ui.end_row();
            }
        });
    if ui
        .button("Defaults")
        .on_hover_text("Every parameter back to the value in the kernel text")
        .clicked()
    {
        commands.push(Command::ResetParameters);
    }
    commands
}

/// One parameter's control; returns its new value if the user changed it.
fn parameter_control(
    ui: &mut Ui,
    label: egui::Id,
    spec: &ParameterSpec,
    value: &ParameterValue,
    picking: Option<&str>,
    commands: &mut Vec<Command>,
) -> Option<ParameterValue> {
    match (&spec.kind, value) {
        (ParameterKind::Real { min, max }, ParameterValue::Real(number)) => {
            let mut number = *number;
            ui.add(
                egui::Slider::new(&mut number, *min..=*max).clamping(egui::SliderClamping::Always),
            )
            .labelled_by(label)
            .changed()
            .then_some(ParameterValue::Real(number))
        }
        (ParameterKind::Integer { min, max }, ParameterValue::Integer(number)) => {
            let mut number = *number;
            ui.add(egui::Slider::new(&mut number, *min..=*max))
                .labelled_by(label)
                .changed()
                .then_some(ParameterValue::Integer(number))
        }
        (ParameterKind::Boolean, ParameterValue::Boolean(on)) => {
            let mut on = *on;
            ui.checkbox(&mut on, "")
                .labelled_by(label)
                .changed()
                .then_some(ParameterValue::Boolean(on))
        }
        (ParameterKind::Choice { options }, ParameterValue::Choice(chosen)) => {
            let mut picked = None;
            egui::ComboBox::from_id_salt(("parameter", &spec.name))
                .selected_text(chosen.as_str())
                .show_ui(ui, |ui| {
                    for option in options {
                        if ui.selectable_label(option == chosen, option).clicked() {
                            picked = Some(ParameterValue::Choice(option.clone()));
                        }
                    }
                })
                .response
                .labelled_by(label);
            picked.filter(|picked| picked != value)
        }
        (ParameterKind::Complex, ParameterValue::Complex { re, im }) => {
            let (mut re, mut im) = (*re, *im);
            let mut changed = false;
            ui.horizontal_wrapped(|ui| {
                for (part, name) in [(&mut re, "real part"), (&mut im, "imaginary part")] {
                    // A fixed width: a value with more digits (a picked point) must not
                    // widen the panel, which would shrink the image and render it again.
                    changed |= ui
                        .add_sized(
                            [COMPLEX_PART_WIDTH, ui.spacing().interact_size.y],
                            egui::DragValue::new(part).speed(0.001).max_decimals(12),
                        )
                        .labelled_by(label)
                        .on_hover_text(name)
                        .changed();
                }
                let is_picking = picking == Some(spec.name.as_str());
                if ui
                    .selectable_label(is_picking, "Pick on image")
                    .on_hover_text("Click the image to set this point")
                    .clicked()
                {
                    commands.push(Command::PickPoint((!is_picking).then(|| spec.name.clone())));
                }
            });
            changed.then_some(ParameterValue::Complex { re, im })
        }
        // A value of another kind never reaches here (values are resolved against specs).
        _ => None,
    }
}
