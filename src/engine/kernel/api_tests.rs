//! The language-server definitions (`LUA_LS_DEFINITIONS`, `moonbrot api --lua-ls`) against
//! the sandbox they describe: they parse in LuaJIT, and every global the sandbox gives
//! kernels (and every `dd` function) is annotated or listed as kept from Lua.

use std::sync::Arc;

use mlua::Value;

use super::LUA_LS_DEFINITIONS;
use super::state::{KernelLog, SandboxedState};

/// What a kernel or a colouring defines or sets itself (the contract), and what the
/// colouring's state adds: annotated too.
const CONTRACT_GLOBALS: &[&str] = &[
    "pixel",
    "pixel_deep",
    "max_iter",
    "home",
    "symmetry",
    "output",
    "channels",
    "colour",
    "colour_inside",
    "gradient",
];

/// True when the definitions declare `name` (a function, a global with a type) or list it
/// among the standard globals the sandbox keeps.
fn is_annotated(name: &str) -> bool {
    LUA_LS_DEFINITIONS.lines().any(|line| {
        line.starts_with(&format!("function {name}("))
            || line.starts_with(&format!("{name} = "))
            || (line.starts_with("-- kept:")
                && line.split_whitespace().skip(2).any(|kept| kept == name))
    })
}

#[test]
fn the_language_server_definitions_parse_in_luajit() {
    let lua = mlua::Lua::new();
    lua.load(LUA_LS_DEFINITIONS)
        .set_name("=moonbrot-api")
        .into_function()
        .expect("the definitions parse");
}

#[test]
fn every_global_the_sandbox_gives_kernels_is_annotated() {
    let state = SandboxedState::new(64 << 20, &Arc::new(KernelLog::discard())).expect("state");
    let mut missing = Vec::new();
    let mut seen = 0;
    for pair in state.environment.pairs::<String, Value>() {
        let (name, _) = pair.expect("global");
        seen += 1;
        // Given only by the test build (the `testing` feature), never to users.
        if name == "moonbrot_test_stall" {
            continue;
        }
        if !is_annotated(&name) {
            missing.push(name);
        }
    }
    let dd: mlua::Table = state.environment.get("dd").expect("dd");
    for pair in dd.pairs::<String, Value>() {
        let (name, _) = pair.expect("dd function");
        if !LUA_LS_DEFINITIONS.contains(&format!("function dd.{name}(")) {
            missing.push(format!("dd.{name}"));
        }
    }
    for name in CONTRACT_GLOBALS {
        if !is_annotated(name) {
            missing.push((*name).to_owned());
        }
    }
    assert!(seen > 20, "the sandbox gave only {seen} globals");
    assert!(missing.is_empty(), "not annotated: {missing:?}");
}
