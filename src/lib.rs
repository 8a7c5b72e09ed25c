//! moonbrot: a fractal explorer whose fractal is a Lua kernel you edit live, rendered by
//! parallel LuaJIT states. The `engine` does the work; `cli` and `gui` are thin adapters over
//! it.

pub mod cli;
pub mod engine;
pub mod gui;
