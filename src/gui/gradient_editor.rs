//! The gradient editor under the palette settings: the gradient drawn as a bar with its
//! stops as handles below it. Click a handle to select it, drag it to move it,
//! double-click the bar to add a stop there; the selected stop's colour has a picker and
//! a Delete button (the ends at 0 and 1 stay). Every edit gives a new `Gradient`, which
//! the app applies like any palette change: the image recolours, nothing renders.

use egui::{Color32, Pos2, Rect, Sense, Stroke, Ui, Vec2};

use crate::engine::output::{Gradient, byte_from_component, component_from_byte};

/// The bar's height, in points.
const BAR_HEIGHT: f32 = 22.0;
/// The handles' row height under the bar, in points.
const HANDLE_HEIGHT: f32 = 12.0;
/// How near a click must be to a handle to take it, in points.
const HANDLE_REACH: f32 = 6.0;
/// Columns the bar is drawn with (each a flat rectangle).
const BAR_COLUMNS: usize = 256;

/// The editor's state between frames: the selected stop (an index into the stops).
fn selected_id(ui: &Ui) -> egui::Id {
    ui.scope_id().with("gradient-editor-selected")
}

/// Shows the editor for `gradient`; returns the edited gradient when the user changed it.
pub fn gradient_editor_ui(ui: &mut Ui, gradient: &Gradient) -> Option<Gradient> {
    let stops = gradient.stops();
    let id = selected_id(ui);
    let mut selected: Option<usize> = ui
        .data(|data| data.get_temp(id))
        .filter(|index| *index < stops.len());
    let width = ui.available_width().max(120.0);
    let (rect, response) = ui.allocate_exact_size(
        Vec2::new(width, BAR_HEIGHT + HANDLE_HEIGHT),
        Sense::click_and_drag(),
    );
    let bar = Rect::from_min_size(rect.min, Vec2::new(width, BAR_HEIGHT));
    let position_of_x = |x: f32| f64::from(((x - bar.left()) / bar.width()).clamp(0.0, 1.0));
    let x_of_position = |position: f64| bar.left() + position as f32 * bar.width();
    let mut edited: Option<Gradient> = None;

    let nearest_handle = |pointer: Pos2| {
        stops
            .iter()
            .enumerate()
            .map(|(index, (position, _))| (index, (x_of_position(*position) - pointer.x).abs()))
            .filter(|(_, distance)| *distance <= HANDLE_REACH)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(index, _)| index)
    };
    if let Some(pointer) = response.interact_pointer_pos() {
        if response.double_clicked() && pointer.y <= bar.bottom() {
            if let Some((added, index)) = gradient.with_stop_added(position_of_x(pointer.x)) {
                edited = Some(added);
                selected = Some(index);
            }
        } else if response.drag_started() || response.clicked() {
            if let Some(index) = nearest_handle(pointer) {
                selected = Some(index);
            }
        } else if response.dragged()
            && let Some(index) = selected
            && index > 0
            && index + 1 < stops.len()
        {
            edited = gradient.with_stop_moved(index, position_of_x(pointer.x));
        }
    }

    if ui.is_rect_visible(rect) {
        let painter = ui.painter_at(rect.expand(2.0));
        for column in 0..BAR_COLUMNS {
            let from = column as f32 / BAR_COLUMNS as f32;
            let to = (column + 1) as f32 / BAR_COLUMNS as f32;
            let [red, green, blue] = gradient.colour_bytes_at((from + to) / 2.0);
            painter.rect_filled(
                Rect::from_x_y_ranges(
                    bar.left() + from * bar.width()..=bar.left() + to * bar.width() + 0.5,
                    bar.y_range(),
                ),
                0.0,
                Color32::from_rgb(red, green, blue),
            );
        }
        let outline = ui.visuals().widgets.noninteractive.fg_stroke.color;
        for (index, (position, colour)) in stops.iter().enumerate() {
            let x = x_of_position(*position);
            let top = bar.bottom() + 1.0;
            let points = vec![
                Pos2::new(x, top),
                Pos2::new(x - 5.0, top + HANDLE_HEIGHT - 1.0),
                Pos2::new(x + 5.0, top + HANDLE_HEIGHT - 1.0),
            ];
            let [red, green, blue] = colour.map(byte_from_component);
            let stroke = if selected == Some(index) {
                Stroke::new(2.0, ui.visuals().selection.stroke.color)
            } else {
                Stroke::new(1.0, outline)
            };
            painter.add(egui::Shape::convex_polygon(
                points,
                Color32::from_rgb(red, green, blue),
                stroke,
            ));
        }
    }
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Slider, true, "Gradient stops"));
    response.on_hover_text(
        "The gradient: double-click to add a stop, drag a stop to move it, click one to \
         pick its colour",
    );

    if let Some(index) = selected {
        let current = edited.clone().unwrap_or_else(|| gradient.clone());
        let current_stops = current.stops();
        if let Some((position, colour)) = current_stops.get(index).copied() {
            ui.horizontal(|ui| {
                ui.label(format!("Stop {position:.3}"));
                let mut bytes = colour.map(byte_from_component);
                let picked = ui
                    .color_edit_button_srgb(&mut bytes)
                    .on_hover_text("This stop's colour");
                if picked.changed() {
                    edited = Some(current.with_stop_colour(index, bytes.map(component_from_byte)));
                }
                let removable = index > 0 && index + 1 < current_stops.len();
                if ui
                    .add_enabled(removable, egui::Button::new("Delete stop"))
                    .on_hover_text("Remove this stop (the ends stay)")
                    .on_disabled_hover_text("The stops at the ends stay")
                    .clicked()
                    && let Some(removed) = current.with_stop_removed(index)
                {
                    edited = Some(removed);
                    selected = None;
                }
            });
        }
    }
    ui.data_mut(|data| match selected {
        Some(index) => {
            data.insert_temp(id, index);
        }
        None => data.remove::<usize>(id),
    });
    edited
}
