//! `moonbrot api --lua-ls`: the kernel API as definitions for the Lua language server
//! (LuaLS), so an external editor (VS Code, Neovim) completes and checks kernels. Printed,
//! or written into a folder with a `.luarc.json` that sets LuaJIT and turns off the
//! libraries the sandbox leaves out.

use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use crate::engine::atomic_file::write_atomically;
use crate::engine::kernel::LUA_LS_DEFINITIONS;

/// The definitions file's name in the folder `--write` fills.
const DEFINITIONS_FILE: &str = "moonbrot-api.lua";
/// The language server's settings file.
const LUARC_FILE: &str = ".luarc.json";
/// The first line of every definitions file moonbrot writes: a file of that name without
/// it is the user's, and is not replaced.
const DEFINITIONS_MARK: &str = "---@meta moonbrot";

/// The settings `--write` puts in `.luarc.json` (when there is none).
const LUARC: &str = r#"{
  "$schema": "https://raw.githubusercontent.com/LuaLS/vscode-lua/master/setting/schema.json",
  "runtime.version": "LuaJIT",
  "runtime.builtin": {
    "coroutine": "disable",
    "debug": "disable",
    "ffi": "disable",
    "io": "disable",
    "jit": "disable",
    "os": "disable",
    "package": "disable"
  },
  "diagnostics.globals": ["pixel", "pixel_deep", "colour"]
}
"#;

#[derive(Args, Debug)]
pub(crate) struct ApiArgs {
    /// The definitions in the Lua language server's annotation format (LuaLS; VS Code's
    /// "Lua" extension, Neovim's lua_ls), printed unless --write is given.
    #[arg(long, required = true)]
    lua_ls: bool,
    /// Write them into FOLDER as moonbrot-api.lua, with a .luarc.json (LuaJIT, the
    /// sandbox's libraries) unless the folder has one already: open FOLDER, or a folder
    /// inside it, in your editor.
    #[arg(long, value_name = "FOLDER")]
    write: Option<PathBuf>,
}

pub(crate) fn run(args: &ApiArgs) -> Result<(), CliError> {
    debug_assert!(args.lua_ls, "clap requires --lua-ls");
    let text = match &args.write {
        None => LUA_LS_DEFINITIONS.to_owned(),
        Some(folder) => write_definitions(folder)?,
    };
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())
        .map_err(|error| CliError::Input(format!("cannot write to stdout: {error}")))
}

/// Writes the files into `folder`; returns what was done, to print.
fn write_definitions(folder: &Path) -> Result<String, CliError> {
    if !folder.is_dir() {
        return Err(CliError::Input(format!(
            "{} is not a folder: give the folder your kernels are in",
            folder.display()
        )));
    }
    let definitions = folder.join(DEFINITIONS_FILE);
    if let Ok(existing) = std::fs::read_to_string(&definitions)
        && !existing.starts_with(DEFINITIONS_MARK)
    {
        return Err(CliError::Input(format!(
            "{} exists and was not written by moonbrot: it is left as it is (move it, or \
             print the definitions with `moonbrot api --lua-ls`)",
            definitions.display()
        )));
    }
    let write = |path: &Path, text: &str| {
        write_atomically(path, text.as_bytes())
            .map_err(|error| CliError::Input(format!("cannot write {}: {error}", path.display())))
    };
    write(&definitions, LUA_LS_DEFINITIONS)?;
    let mut done = format!("wrote {}\n", definitions.display());
    let luarc = folder.join(LUARC_FILE);
    if luarc.exists() {
        done.push_str(&format!(
            "{} exists and is left as it is; for the sandbox's libraries, it needs:\n{LUARC}",
            luarc.display()
        ));
    } else {
        write(&luarc, LUARC)?;
        done.push_str(&format!("wrote {}\n", luarc.display()));
    }
    Ok(done)
}
