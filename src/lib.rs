//! moonbrot: a fractal explorer whose fractal is a Lua kernel you edit live, rendered by
//! parallel LuaJIT states. The `engine` does the work; `cli` is a thin adapter over it.

pub mod cli;
pub mod engine;
