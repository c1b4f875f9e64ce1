// Stacks of the shim's own for the unwinder, so a hook called by a thread
// with little stack left (a PTHREAD_STACK_MIN thread deep in recursion, a
// coroutine) needs only its own small frames there. A fixed pool, taken and
// given back with one atomic exchange each: nothing is allocated per thread
// or freed at thread exit, and a fork child inherits a consistent pool.
#pragma once

namespace connleak::shim {

// Calls fn(arg) on a free stack of the pool; false (fn not called) when none
// is free or none could be mapped. Unwinding from inside fn continues
// through this call into the caller's stack: the switch has unwind
// information like any frame-pointer function.
bool call_on_unwind_stack(void (*fn)(void*), void* arg);

}  // namespace connleak::shim
