//! Keys stay with the widget they were typed into, however fast the next click comes.
//!
//! egui hands a frame all the input that arrived since the last one and lets each widget
//! read it while it is laid out. A pointer press anywhere else takes the keyboard focus
//! from the editor in that same frame, before the editor reads its text, so the characters
//! typed just before a click (several when frames are slow: software GL, a loaded machine)
//! were dropped. `split_at_kind_change` cuts such a frame in two: the input up to the
//! change from keyboard to pointer buttons (or back) is handled now, with the focus it was
//! typed under, and the rest is held back for the next frame, which is asked for at once.

use egui::{Event, RawInput};

/// Which of the two kinds of input that move the keyboard focus an event is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum InputKind {
    /// Typed text, keys, clipboard and input-method events: read by the focused widget.
    Keyboard,
    /// Button presses and releases, and touches: they move the focus.
    PointerButton,
}

fn kind_of(event: &Event) -> Option<InputKind> {
    match event {
        Event::Text(_)
        | Event::Key { .. }
        | Event::Paste(_)
        | Event::Copy
        | Event::Cut
        | Event::Ime(_) => Some(InputKind::Keyboard),
        Event::PointerButton { .. } | Event::Touch { .. } => Some(InputKind::PointerButton),
        _ => None,
    }
}

/// Puts the events `held` back from the last frame in front of this frame's, then holds
/// back again everything from the first change between keyboard and pointer-button input.
/// Returns true when something is held back: the caller asks for another frame at once.
/// Pointer moves and other events keep their place, so positions stay in order.
pub fn split_at_kind_change(held: &mut Vec<Event>, raw_input: &mut RawInput) -> bool {
    if !held.is_empty() {
        let arrived = std::mem::take(&mut raw_input.events);
        raw_input.events = std::mem::take(held);
        raw_input.events.extend(arrived);
    }
    let mut first_kind = None;
    let cut_at = raw_input.events.iter().position(|event| {
        let Some(kind) = kind_of(event) else {
            return false;
        };
        match first_kind {
            None => {
                first_kind = Some(kind);
                false
            }
            Some(first) => first != kind,
        }
    });
    if let Some(cut_at) = cut_at {
        *held = raw_input.events.split_off(cut_at);
    }
    !held.is_empty()
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn press(pressed: bool) -> Event {
        Event::PointerButton {
            pos: egui::pos2(10.0, 10.0),
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        }
    }

    fn text(typed: &str) -> Event {
        Event::Text(typed.to_owned())
    }

    fn input(events: Vec<Event>) -> RawInput {
        RawInput {
            events,
            ..RawInput::default()
        }
    }

    #[test]
    fn text_typed_before_a_click_in_the_same_frame_is_handled_before_the_click() {
        let mut held = Vec::new();
        let mut raw = input(vec![
            text("ab"),
            text("c"),
            Event::PointerMoved(egui::pos2(10.0, 10.0)),
            press(true),
            press(false),
        ]);
        assert!(split_at_kind_change(&mut held, &mut raw));
        assert_eq!(
            raw.events,
            vec![
                text("ab"),
                text("c"),
                Event::PointerMoved(egui::pos2(10.0, 10.0))
            ]
        );
        assert_eq!(held, vec![press(true), press(false)]);

        // The next frame starts with the click, before whatever arrived meanwhile.
        let mut next = input(vec![text("d")]);
        assert!(split_at_kind_change(&mut held, &mut next));
        assert_eq!(next.events, vec![press(true), press(false)]);
        let mut last = input(Vec::new());
        assert!(!split_at_kind_change(&mut held, &mut last));
        assert_eq!(last.events, vec![text("d")]);
    }

    #[test]
    fn a_frame_of_only_typing_or_only_clicks_is_left_whole() {
        let mut held = Vec::new();
        let typing = vec![text("a"), text("b"), text("c")];
        let mut raw = input(typing.clone());
        assert!(!split_at_kind_change(&mut held, &mut raw));
        assert_eq!(raw.events, typing);
        // A double click stays in one frame, so egui still sees it as one.
        let clicks = vec![press(true), press(false), press(true), press(false)];
        let mut raw = input(clicks.clone());
        assert!(!split_at_kind_change(&mut held, &mut raw));
        assert_eq!(raw.events, clicks);
    }

    #[test]
    fn keys_after_a_focusing_click_wait_for_the_click_to_take_effect() {
        let mut held = Vec::new();
        let mut raw = input(vec![press(true), press(false), text("x")]);
        assert!(split_at_kind_change(&mut held, &mut raw));
        assert_eq!(raw.events, vec![press(true), press(false)]);
        assert_eq!(held, vec![text("x")]);
    }
}
