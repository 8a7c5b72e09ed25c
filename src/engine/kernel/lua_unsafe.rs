//! Every unsafe operation moonbrot performs on Lua, in one place: creating a state with the
//! FFI and debug libraries (for the trusted driver only), the stop switch that interrupts a
//! running kernel when another thread asks (through a signal to the worker's own thread,
//! whose handler sets the hook), and handing the driver a pointer to a Rust buffer.
//!
//! Why a hook: LuaJIT's compiled traces ignore hooks unless LuaJIT is built with
//! LUAJIT_ENABLE_CHECKHOOK (set in .cargo/config.toml). A count hook installed only when a
//! stop is requested costs nothing while nobody stops, and stops even `while true do end`.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use mlua::{Function, LightUserData, Lua, LuaOptions, MultiValue, StdLib, Value, ffi};

use super::bla::{BlaTable, SCALED_ENTRY_LEN};
use super::reference::ReferenceOrbit;
use super::series::{SERIES_STAGE_LEN, SERIES_TERMS, SeriesSkip};
use crate::engine::geometry::{Dd, UnitLattice};

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

/// Calls a driver unit function (`render_escape_unit`, `render_guessed_unit` or
/// `render_rgb_unit` in driver.lua)
/// that stores f32 results through the FFI into `out` (f32 bit patterns in atomics, so the
/// image can be shared between threads in safe Rust). Returns the driver's (ok, message).
///
/// SAFETY (of the Lua side; no Rust `unsafe` is needed to pass a pointer): AtomicU32 has
/// the size and alignment of f32 and allows writes through a pointer derived from a shared
/// reference (it is an UnsafeCell); the driver writes only indices below `out.len()`, which
/// it receives as `value_count` and checks against the unit's size before writing, and
/// only the unit's own pixels (`width` floats per channel in each row, rows `stride`
/// floats apart); `out` stays borrowed, so alive, for the whole call, and no other thread
/// touches those pixels meanwhile (units do not overlap, a unit is taken by one worker, and
/// read only after it is listed finished; the range may span other units' pixels, which
/// the driver never touches); the pointer lives only in the driver's locals, which kernel
/// code cannot reach.
pub(crate) fn call_unit_driver(
    driver_function: &Function,
    pixel: &Function,
    out: &[AtomicU32],
    stride: usize,
    (width, height): (u32, u32),
    lattice: UnitLattice,
) -> mlua::Result<(bool, Option<String>)> {
    let out_address = LightUserData(out.as_ptr().cast_mut().cast::<c_void>());
    driver_function.call::<(bool, Option<String>)>((
        pixel,
        out_address,
        out.len(),
        stride,
        width,
        height,
        lattice,
    ))
}

/// Makes one unit's perturbation pixel function: driver.lua's `perturbation_pixel` called
/// with `factory` (written by formula.lua from the kernel's formula) and the reference
/// orbits' addresses.
///
/// SAFETY (of the Lua side, as for `call_unit_driver`): the driver casts the addresses to
/// `const double *` and the generated pixel function reads `orbit[2m]` and `orbit[2m + 1]`
/// only for m below `length` (it rebases before passing the orbit's last point), a tiny
/// point's four values only for records below the count given with them, and a
/// skip's map (`BlaTable::values`) and radius (`BlaTable::radii`, after the largest) only
/// for skips that end at or before the orbit's last point, at the index
/// `BlaTable::count` gives (the same count written in Lua), so every read is inside
/// the slices; they are only read. The scaled form of the skips is read only when the
/// scale is above 0, and this checks it then holds every entry. A pixel starting from the
/// series reads the stages' headers and one stage's `SERIES_TERMS` coefficients, within
/// the `series.stages.len()` values it is given, and starts at that stage's steps; this
/// checks the stages are whole and each starts before the orbit's last point. The pixel
/// function lives in Lua after
/// this call, but the caller calls it only within the same unit, while `orbit` and
/// `critical` (held by the job) are alive; it is reachable from no kernel code.
pub(crate) fn perturbation_pixel_function(
    make_pixel: &Function,
    factory: &Function,
    (orbit, orbit_skips, series): (&ReferenceOrbit, &BlaTable, &SeriesSkip),
    (critical, critical_skips): (&ReferenceOrbit, &BlaTable),
    (cr, ci): (f64, f64),
    (ox, oy, scale_exponent): (Dd, Dd, i32),
    max_iter: u32,
) -> mlua::Result<Function> {
    if !series.stages.len().is_multiple_of(SERIES_STAGE_LEN)
        || series
            .stage_steps()
            .any(|steps| !(steps >= 0.0 && steps + 1.0 < orbit.len() as f64))
    {
        return Err(mlua::Error::runtime(
            "a series' stages hold one coefficient per term and start inside their orbit",
        ));
    }
    let has_scaled_form =
        |table: &BlaTable| table.scaled_values.len() == 1 + table.entries() * SCALED_ENTRY_LEN;
    if scale_exponent > 0 && !(has_scaled_form(orbit_skips) && has_scaled_form(critical_skips)) {
        return Err(mlua::Error::runtime(
            "scaled pixels need the scaled form of the skips",
        ));
    }
    let address = |values: &[f64]| {
        Value::LightUserData(LightUserData(values.as_ptr().cast_mut().cast::<c_void>()))
    };
    let whole = |count: usize| Value::Integer(count as mlua::Integer);
    // More arguments than mlua's tuples take: a list of values.
    make_pixel.call::<Function>(MultiValue::from_vec(vec![
        Value::Function(factory.clone()),
        address(&orbit.points),
        whole(orbit.len()),
        address(&orbit_skips.values),
        whole(orbit_skips.min_level as usize),
        whole(orbit_skips.max_level as usize),
        address(&critical.points),
        whole(critical.len()),
        address(&critical_skips.values),
        whole(critical_skips.min_level as usize),
        whole(critical_skips.max_level as usize),
        Value::Number(cr),
        Value::Number(ci),
        Value::Number(ox.hi()),
        Value::Number(oy.hi()),
        Value::Number(ox.lo()),
        Value::Number(oy.lo()),
        whole(max_iter as usize),
        address(&orbit_skips.scaled_values),
        address(&critical_skips.scaled_values),
        address(&orbit_skips.radii),
        address(&critical_skips.radii),
        Value::Integer(mlua::Integer::from(scale_exponent)),
        address(&orbit.tiny),
        whole(orbit.tiny.len() / 4),
        address(&critical.tiny),
        whole(critical.tiny.len() / 4),
        address(&series.stages),
        whole(SERIES_TERMS),
        whole(series.stages.len()),
        Value::Number(series.inverse_dc_bound(scale_exponent)),
    ]))
}

/// Lets another thread stop the Lua code a worker is running. A worker arms it around
/// each call into Lua for a job; `trip` for that job then makes the running code raise an
/// error at its next instruction, even inside a compiled trace, and keep raising (so a
/// kernel's own pcall cannot swallow the stop) until the call returns and the switch is
/// disarmed, which removes the hook.
///
/// Why a signal: LuaJIT changes its hook mask and its dispatch table with plain
/// read-modify-writes on the thread running the state (when a trace starts, stops or is
/// aborted, around hooks and jit.attach callbacks). A `lua_sethook` from another thread
/// races with those writes, and a lost race can leave the hook unset for good (a stop was
/// lost that way in CI). So on Unix `trip` only sends a signal to the worker's thread, and
/// the handler sets the hook there, as lua.c does for Ctrl-C. A signal landing inside one
/// of LuaJIT's own updates can still have its write undone by the rest of that update, but
/// only on that thread and never for good: the engine trips a stopped job again every few
/// milliseconds, and each trip turns the hook off and on, which makes LuaJIT rebuild its
/// dispatch table from scratch. A signal landing while a trace is being recorded aborts the
/// recording, which LuaJIT supports (as for lua.c's Ctrl-C); LuaJIT's own debug assertions
/// count a stack slot that abort can leave unused, so the tests build LuaJIT without them,
/// as users run it (Cargo.toml).
#[derive(Default)]
pub(crate) struct StopSwitch {
    /// Read by the signal handler (atomics only: it may not lock).
    signal_view: SignalView,
    /// Which job the worker's current call belongs to and how to reach its thread; the
    /// lock keeps the thread alive while `trip` signals it.
    armed: Mutex<Option<Armed>>,
}

/// What the signal handler needs to know, without locking.
#[derive(Default)]
struct SignalView {
    /// The job of the armed call (0: not armed).
    armed_job: AtomicU64,
    /// The last job a stop was requested for.
    tripped_job: AtomicU64,
    /// The state the armed call runs on.
    state: AtomicPtr<ffi::lua_State>,
}

/// What a switch holds while armed: the job, and the thread running the armed call.
struct Armed {
    job_id: u64,
    #[cfg(unix)]
    thread: libc::pthread_t,
    #[cfg(not(unix))]
    state: RawState,
}

/// The switch armed for one call into a Lua state; disarms (and removes any hook) on drop.
/// It is created and dropped on the worker's thread.
pub(crate) struct ArmedStop<'a> {
    switch: &'a StopSwitch,
    state: *mut ffi::lua_State,
    _state: PhantomData<&'a Lua>,
}

impl StopSwitch {
    fn lock(&self) -> MutexGuard<'_, Option<Armed>> {
        crate::engine::sync::lock(&self.armed)
    }

    /// Arms the switch for `job_id` while `lua` runs on this thread. Returns None, unarmed,
    /// if `is_stopped()` is already true once armed: checking after arming means a stop
    /// requested at any moment is either seen here or trips the hook.
    pub(crate) fn arm<'a>(
        &'a self,
        lua: &'a Lua,
        job_id: u64,
        is_stopped: impl Fn() -> bool,
    ) -> Option<ArmedStop<'a>> {
        let state = lua.exec_raw_lua(|raw| raw.state());
        let view = &self.signal_view;
        view.state.store(state, Ordering::SeqCst);
        view.armed_job.store(job_id, Ordering::SeqCst);
        #[cfg(unix)]
        {
            signal::install_handler();
            signal::ARMED_VIEW.with(|armed| armed.set(std::ptr::from_ref(view)));
        }
        *self.lock() = Some(Armed {
            job_id,
            #[cfg(unix)]
            // SAFETY: pthread_self has no preconditions.
            thread: unsafe { libc::pthread_self() },
            #[cfg(not(unix))]
            state: RawState(state),
        });
        let armed = ArmedStop {
            switch: self,
            state,
            _state: PhantomData,
        };
        if is_stopped() {
            return None; // dropping `armed` disarms
        }
        Some(armed)
    }

    /// Stops the Lua code running for `job_id`, if the switch is armed for that job. Safe
    /// to call again and again: each call re-asserts the stop.
    pub(crate) fn trip(&self, job_id: u64) {
        self.signal_view.tripped_job.store(job_id, Ordering::SeqCst);
        let guard = self.lock();
        let Some(armed) = guard.as_ref().filter(|armed| armed.job_id == job_id) else {
            return;
        };
        #[cfg(unix)]
        // SAFETY: the thread is alive: it is inside the armed call, and it cannot disarm
        // (and so return and perhaps end) while this lock is held. The handler is installed
        // (by `arm`) before the switch can be armed.
        unsafe {
            libc::pthread_kill(armed.thread, signal::stop_signal());
        }
        #[cfg(not(unix))]
        // SAFETY: the state is alive while armed (see above). Without signals the hook is
        // set from this thread, which can race with LuaJIT's own updates (see the type's
        // documentation); the backstop in the engine covers a lost stop.
        unsafe {
            set_stop_hook(armed.state.0);
        }
    }
}

/// Turns the stop hook off and on, so LuaJIT rebuilds its dispatch table whatever state an
/// interrupted update of its own left it in.
///
/// # Safety
/// `state` must be a live Lua state, and the call must happen on the thread running it
/// (from its signal handler) or while no Lua code runs on it.
unsafe fn set_stop_hook(state: *mut ffi::lua_State) {
    // SAFETY: as the caller promises; lua_sethook only writes the hook fields and the
    // dispatch table of the global state and aborts a trace being recorded, which LuaJIT
    // handles at its next check (it is what lua.c's SIGINT handler does).
    unsafe {
        ffi::lua_sethook(state, None, 0, 0);
        ffi::lua_sethook(state, Some(stop_hook), ffi::LUA_MASKCOUNT, 1);
    }
}

impl Drop for ArmedStop<'_> {
    fn drop(&mut self) {
        let view = &self.switch.signal_view;
        {
            let mut guard = self.switch.lock();
            guard.take();
            view.armed_job.store(0, Ordering::SeqCst);
            view.state.store(std::ptr::null_mut(), Ordering::SeqCst);
        }
        #[cfg(unix)]
        signal::ARMED_VIEW.with(|armed| armed.set(std::ptr::null()));
        // SAFETY: this runs on the worker's thread after the armed call returned: no Lua
        // code runs on the state, which stays borrowed (alive) for this guard's lifetime. A
        // stop signal arriving now finds the switch disarmed and does nothing.
        unsafe {
            ffi::lua_sethook(self.state, None, 0, 0);
        }
    }
}

/// A raw pointer to a Lua state, for the stop switch without signals.
#[cfg(not(unix))]
struct RawState(*mut ffi::lua_State);

// SAFETY: the pointer is only used by `trip`, while the `ArmedStop` that stored it keeps
// the state borrowed, so alive.
#[cfg(not(unix))]
unsafe impl Send for RawState {}

/// The stop signal: sent by `StopSwitch::trip` to the worker's thread, whose handler sets
/// the stop hook on the state that thread is running.
#[cfg(unix)]
mod signal {
    use std::cell::Cell;
    use std::sync::Once;
    use std::sync::atomic::Ordering;

    use super::{SignalView, set_stop_hook};

    thread_local! {
        /// The armed switch of the worker running on this thread (null when none). A
        /// const-initialised Cell of a pointer has no destructor and no lazy set-up, so the
        /// handler can read it.
        pub(super) static ARMED_VIEW: Cell<*const SignalView> = const { Cell::new(std::ptr::null()) };
    }

    /// The signal used: a real-time signal on Linux (nothing else in the process uses it),
    /// SIGUSR2 elsewhere.
    pub(super) fn stop_signal() -> libc::c_int {
        #[cfg(target_os = "linux")]
        {
            libc::SIGRTMIN() + 5
        }
        #[cfg(not(target_os = "linux"))]
        {
            libc::SIGUSR2
        }
    }

    /// Installs the handler once per process.
    pub(super) fn install_handler() {
        static INSTALLED: Once = Once::new();
        INSTALLED.call_once(|| {
            // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the
            // handler is an `extern "C" fn(c_int)`, as sa_sigaction without SA_SIGINFO
            // expects. SA_RESTART: a signal landing in a system call restarts it.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&raw mut action.sa_mask);
                libc::sigaction(stop_signal(), &raw const action, std::ptr::null_mut());
            }
        });
    }

    /// Runs on the worker's thread, wherever it was interrupted: sets the stop hook if the
    /// switch is armed for the job a stop was requested for. Only atomics and a
    /// thread-local pointer are read; nothing is locked or allocated.
    extern "C" fn on_stop_signal(_signal: libc::c_int) {
        let view = ARMED_VIEW.with(Cell::get);
        // SAFETY: the pointer is set by `arm` and cleared by the guard's drop, both on this
        // thread, and points into a StopSwitch the worker keeps alive while armed.
        let Some(view) = (unsafe { view.as_ref() }) else {
            return;
        };
        let job = view.armed_job.load(Ordering::SeqCst);
        if job == 0 || job != view.tripped_job.load(Ordering::SeqCst) {
            return;
        }
        let state = view.state.load(Ordering::SeqCst);
        if !state.is_null() {
            // SAFETY: the state is alive while the switch is armed, and this is the thread
            // running it.
            unsafe { set_stop_hook(state) };
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
