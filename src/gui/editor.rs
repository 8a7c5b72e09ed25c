//! The kernel editor: Lua source in a monospace text editor with syntax highlighting
//! (syntect through egui_extras), line numbers in a gutter that stays put when the text
//! scrolls sideways, and a marker on the line of the last error. Lines never wrap (each row
//! of the laid-out text is one source line); long ones scroll.

use egui::{Color32, Margin, Pos2, Rect, Stroke, Ui, vec2};
use egui_extras::syntax_highlighting::{CodeTheme, highlight};

/// The accessible label of the source editor (tests find it by this).
pub const SOURCE_LABEL: &str = "Kernel source (Lua)";
/// The accessible label of the colouring editor (tests find it by this).
pub const COLOURING_SOURCE_LABEL: &str = "Colouring source (Lua)";

/// Width of the line-number gutter, in monospace characters.
const GUTTER_CHARS: f32 = 5.0;

/// What happened in the editor this frame.
#[derive(Debug, Default, Clone, Copy)]
pub struct EditorResponse {
    /// The text changed.
    pub changed: bool,
    /// The editor has keyboard focus.
    pub has_focus: bool,
}

/// Shows the editor for `source`, marking `error_line` (1-based) if given. With
/// `scroll_to_start`, the view goes back to the text's top-left corner (a new kernel, or
/// the first frame: a scroll position from an earlier session means nothing now).
pub fn editor_ui(
    ui: &mut Ui,
    label_text: &str,
    source: &mut String,
    error_line: Option<u32>,
    error_text: Option<&str>,
    scroll_to_start: bool,
) -> EditorResponse {
    let label = ui.label(label_text);
    let theme = CodeTheme::from_memory(ui.ctx(), ui.style());
    let mut layouter = |ui: &Ui, text: &dyn egui::TextBuffer, _wrap_width: f32| {
        let mut job = highlight(ui.ctx(), ui.style(), &theme, text.as_str(), "lua");
        job.wrap.max_width = f32::INFINITY;
        ui.fonts_mut(|fonts| fonts.layout_job(job))
    };
    let font_id = egui::TextStyle::Monospace.resolve(ui.style());
    let char_width = ui.fonts_mut(|fonts| fonts.glyph_width(&font_id, '0'));
    let gutter_width = GUTTER_CHARS * char_width + 8.0;

    let mut response = EditorResponse::default();
    let mut scroll_area = egui::ScrollArea::both()
        .id_salt(label_text)
        .auto_shrink([false, false]);
    if scroll_to_start {
        scroll_area = scroll_area.scroll_offset(egui::Vec2::ZERO);
    }
    scroll_area.show(ui, |ui| {
        // A fixed id salt: an automatic id would change when a message appears above the
        // editor, and the editor would lose the keyboard focus in the middle of typing.
        let output = egui::TextEdit::multiline(source)
            .id_salt(("moonbrot-editor", label_text))
            .code_editor()
            .desired_width(f32::INFINITY)
            .desired_rows(30)
            .margin(Margin {
                left: gutter_width as i8,
                right: 4,
                top: 2,
                bottom: 2,
            })
            .layouter(&mut layouter)
            .show(ui);
        let text_response = output.response.response.labelled_by(label.id);
        response.changed = text_response.changed();
        response.has_focus = text_response.has_focus();

        // The gutter stays at the left edge of what is visible, over the text when it is
        // scrolled sideways, so line numbers never scroll away.
        let painter = ui.painter();
        let visible = ui.clip_rect();
        let gutter = Rect::from_min_max(
            // Inside the editor's frame while it is in view, the whole left edge once the
            // text has scrolled under it.
            Pos2::new(
                visible.left().max(text_response.rect.left() + 1.0),
                visible.top().max(text_response.rect.top() + 1.0),
            ),
            Pos2::new(
                visible.left() + gutter_width - 2.0,
                visible.bottom().min(text_response.rect.bottom() - 1.0),
            ),
        );
        painter.rect_filled(gutter, 0.0, ui.visuals().extreme_bg_color);
        let gutter_right = gutter.right() - 6.0;
        for (index, row) in output.galley.rows.iter().enumerate() {
            let line = index as u32 + 1;
            let row_rect = row.rect().translate(output.galley_pos.to_vec2());
            let is_error = error_line == Some(line);
            if is_error {
                let highlight_rect = Rect::from_min_max(
                    Pos2::new(visible.left(), row_rect.top()),
                    Pos2::new(text_response.rect.right(), row_rect.bottom()),
                );
                painter.rect_filled(
                    highlight_rect,
                    0.0,
                    Color32::from_rgba_unmultiplied(220, 50, 50, 40),
                );
                painter.line_segment(
                    [highlight_rect.left_top(), highlight_rect.left_bottom()],
                    Stroke::new(3.0, Color32::from_rgb(230, 60, 60)),
                );
            }
            let colour = if is_error {
                Color32::from_rgb(255, 110, 110)
            } else {
                ui.visuals().weak_text_color()
            };
            painter.text(
                Pos2::new(gutter_right, row_rect.center().y),
                egui::Align2::RIGHT_CENTER,
                line.to_string(),
                font_id.clone(),
                colour,
            );
            if is_error && let Some(error_text) = error_text {
                let marker = Rect::from_min_size(
                    Pos2::new(visible.left(), row_rect.top()),
                    vec2(gutter_width, row_rect.height()),
                );
                ui.interact(
                    marker,
                    egui::Id::unique("moonbrot-error-marker"),
                    egui::Sense::hover(),
                )
                .on_hover_text(error_text);
            }
        }
    });
    response
}
