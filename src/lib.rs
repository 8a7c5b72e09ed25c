//! moonbrot: a fractal explorer whose fractal is a Lua kernel you edit live, rendered by
//! parallel LuaJIT states. The `engine` does the work; `cli` and `gui` are thin adapters over
//! it, side by side: neither uses the other (the binary's `main` picks one). `gui` exists
//! only with the `gui` cargo feature (on by default).

pub mod cli;
pub mod engine;
#[cfg(feature = "gui")]
pub mod gui;
