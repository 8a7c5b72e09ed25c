//! Every unsafe operation moonbrot performs on Lua, in one place: creating a state with the
//! FFI and debug libraries (for the trusted driver only), the stop switch that interrupts a
//! running kernel from another thread, and handing the driver a pointer to a Rust buffer.
//!
//! Why a hook: LuaJIT's compiled traces ignore hooks unless LuaJIT is built with
//! LUAJIT_ENABLE_CHECKHOOK (set in .cargo/config.toml). A count hook installed only when a
//! stop is requested costs nothing while nobody stops, and stops even `while true do end`.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::atomic::AtomicU32;
use std::sync::{Mutex, MutexGuard, PoisonError};

use mlua::{Function, LightUserData, Lua, LuaOptions, StdLib, ffi};

/// The message the stop hook raises. Callers decide from their own stop flag whether a
/// failure was a stop, never from this text (a kernel can raise the same string).
const STOP_MESSAGE: &std::ffi::CStr = c"moonbrot: render stopped";

/// A new Lua state with the libraries kernels and the trusted driver need: base, math,
/// string, table, bit, jit (without it LuaJIT does not compile: 5x slower), ffi and debug.
/// No io, os or package. The kernel never sees ffi, jit or debug: sandbox.lua builds its
/// environment from a whitelist and the driver keeps ffi and debug.getinfo in locals.
pub(crate) fn new_lua_state() -> Lua {
    let libraries = StdLib::MATH
        | StdLib::STRING
        | StdLib::TABLE
        | StdLib::BIT
        | StdLib::JIT
        | StdLib::FFI
        | StdLib::DEBUG;
    // SAFETY: `unsafe_new_with` is unsafe only because ffi and debug can break memory
    // safety if untrusted code reaches them. Only engine code (sandbox.lua, driver.lua) runs
    // in the global environment; kernels are loaded as text into an environment that holds
    // neither, with no getfenv, load or require to reach them.
    unsafe { Lua::unsafe_new_with(libraries, LuaOptions::new()) }
}

/// Calls a driver unit function (`render_escape_unit` or `render_rgb_unit` in driver.lua)
/// that stores f32 results through the FFI into `out` (f32 bit patterns in atomics, so the
/// image can be shared between threads in safe Rust). Returns the driver's (ok, message).
///
/// SAFETY (of the Lua side; no Rust `unsafe` is needed to pass a pointer): AtomicU32 has
/// the size and alignment of f32 and allows writes through a pointer derived from a shared
/// reference (it is an UnsafeCell); the driver writes only indices below `out.len()`, which
/// it receives as `value_count` and checks against the unit's size before writing; `out`
/// stays borrowed, so alive, for the whole call, and no other thread touches this range
/// meanwhile (a unit is taken by one worker, and read only after it is listed finished);
/// the pointer lives only in the driver's locals, which kernel code cannot reach.
pub(crate) fn call_unit_driver(
    driver_function: &Function,
    pixel: &Function,
    out: &[AtomicU32],
    width_px: u32,
    row_count: u32,
    grid: &super::view::PixelGrid,
) -> mlua::Result<(bool, Option<String>)> {
    let out_address = LightUserData(out.as_ptr().cast_mut().cast::<c_void>());
    driver_function.call::<(bool, Option<String>)>((
        pixel,
        out_address,
        out.len(),
        width_px,
        row_count,
        grid.x_first,
        grid.x_step,
        grid.y_first,
        grid.y_step,
    ))
}

/// A raw pointer to a Lua state (any thread of it: LuaJIT keeps hooks in the global state).
struct RawState(*mut ffi::lua_State);

// SAFETY: the pointer is only used for `lua_sethook`, which LuaJIT allows from another
// thread while the state runs (it is what lua.c's SIGINT handler does), and only while the
// `ArmedStop` that stored it keeps the state borrowed, so alive.
unsafe impl Send for RawState {}

/// What a switch holds while armed: which job may stop the state, and the state.
struct Armed {
    job_id: u64,
    state: RawState,
}

/// Lets another thread stop the Lua code a worker is running. A worker arms it around
/// each call into Lua for a job; `trip` for that job then makes the running code raise an
/// error at its next instruction, even inside a compiled trace, and keep raising (so a
/// kernel's own pcall cannot swallow the stop) until the call returns and the switch is
/// disarmed, which removes the hook.
#[derive(Default)]
pub(crate) struct StopSwitch {
    armed: Mutex<Option<Armed>>,
}

/// The switch armed for one call into a Lua state; disarms (and removes any hook) on drop.
pub(crate) struct ArmedStop<'a> {
    switch: &'a StopSwitch,
    _state: PhantomData<&'a Lua>,
}

impl StopSwitch {
    fn lock(&self) -> MutexGuard<'_, Option<Armed>> {
        self.armed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Arms the switch for `job_id` while `lua` runs. Returns None, unarmed, if
    /// `is_stopped()` is already true once armed: checking after arming means a stop
    /// requested at any moment is either seen here or trips the hook.
    pub(crate) fn arm<'a>(
        &'a self,
        lua: &'a Lua,
        job_id: u64,
        is_stopped: impl Fn() -> bool,
    ) -> Option<ArmedStop<'a>> {
        let state = lua.exec_raw_lua(|raw| RawState(raw.state()));
        *self.lock() = Some(Armed { job_id, state });
        let armed = ArmedStop {
            switch: self,
            _state: PhantomData,
        };
        if is_stopped() {
            return None; // dropping `armed` disarms
        }
        Some(armed)
    }

    /// Stops the Lua code running for `job_id`, if the switch is armed for that job.
    pub(crate) fn trip(&self, job_id: u64) {
        let guard = self.lock();
        if let Some(armed) = guard.as_ref().filter(|armed| armed.job_id == job_id) {
            // SAFETY: the state is alive: it stays borrowed by the ArmedStop until the
            // ArmedStop's drop takes this same lock and clears the entry. lua_sethook only
            // writes the hook fields of the global state, which LuaJIT reads at its next
            // instruction or trace check.
            unsafe {
                ffi::lua_sethook(armed.state.0, Some(stop_hook), ffi::LUA_MASKCOUNT, 1);
            }
        }
    }
}

impl Drop for ArmedStop<'_> {
    fn drop(&mut self) {
        let mut guard = self.switch.lock();
        if let Some(armed) = guard.take() {
            // SAFETY: the state is alive (borrowed for this guard's lifetime) and no Lua code
            // runs on it now: the call this guard covered has returned.
            unsafe {
                ffi::lua_sethook(armed.state.0, None, 0, 0);
            }
        }
    }
}

/// The count hook: raise an error in the running Lua code.
unsafe extern "C-unwind" fn stop_hook(state: *mut ffi::lua_State, _debug: *mut ffi::lua_Debug) {
    // SAFETY: LuaJIT calls the hook on the thread running `state`, with the state valid;
    // raising an error from a hook is allowed (lua.c's interrupt does the same). This frame
    // holds nothing that needs dropping, so unwinding through it is sound.
    unsafe {
        ffi::lua_pushstring(state, STOP_MESSAGE.as_ptr());
        ffi::lua_error(state);
    }
}
