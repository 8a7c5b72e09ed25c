--[[ trace_watch.lua: watches LuaJIT's trace compiler while the engine warms a kernel up,
to tell whether the kernel's loop was compiled in the shape that runs fast.

Trusted code (it holds jit.attach and jit.util, which kernels never see). A root trace that
starts in kernel code and ends by returning (link type "return") started recording on the
iteration that leaves its loop: the loop then has no looping trace and every pixel leaves
compiled code. Measured on the newton kernel, 320x320: 19 ms in that shape, 8.5 ms when the
loop's trace loops. The engine flushes such traces and warms up again differently.

Arguments: jit, jit.util. Returns { begin = fn, finish = fn -> ok, flush = fn }.
]]
local jit, util = ...
local attach, flush, funcinfo, traceinfo = jit.attach, jit.flush, util.funcinfo, util.traceinfo

local KERNEL_SOURCE = "=kernel"
local kernel_roots, all_loop = {}, true

local function on_trace_event(what, trace, func, _, parent)
  if what == "start" then
    if parent == nil and funcinfo(func).source == KERNEL_SOURCE then kernel_roots[trace] = true end
  elseif what == "stop" and kernel_roots[trace] then
    local info = traceinfo(trace)
    if info and info.linktype == "return" then all_loop = false end
  end
end

local watch = {}

function watch.begin()
  kernel_roots, all_loop = {}, true
  attach(on_trace_event, "trace")
end

--- Stops watching; true when every root trace started in kernel code loops.
function watch.finish()
  attach(on_trace_event)
  return all_loop
end

watch.flush = flush

return watch
