#include "unwind_stacks.h"

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

// call_with_stack(arg, fn, stack_top): saves the caller's stack pointer in
// rbp (callee-saved, so fn keeps it), switches to stack_top (16-byte
// aligned), calls fn(arg), and switches back. Its CFI is that of an
// ordinary frame-pointer function (CFA = rbp + 16), which is what lets an
// unwinder running on the new stack walk on into the caller's frames.
extern "C" void connleak_call_with_stack(void* arg, void (*fn)(void*), void* stack_top);
asm(R"(
  .text
  .p2align 4
  .globl connleak_call_with_stack
  .hidden connleak_call_with_stack
  .type connleak_call_with_stack, @function
connleak_call_with_stack:
  .cfi_startproc
  pushq %rbp
  .cfi_def_cfa_offset 16
  .cfi_offset %rbp, -16
  movq %rsp, %rbp
  .cfi_def_cfa_register %rbp
  movq %rdx, %rsp
  callq *%rsi
  movq %rbp, %rsp
  .cfi_def_cfa %rsp, 16
  popq %rbp
  .cfi_def_cfa_offset 8
  retq
  .cfi_endproc
  .size connleak_call_with_stack, .-connleak_call_with_stack
)");

namespace connleak::shim {
namespace {

// libunwind needs ~10 KiB; the rest is room for a program's signal handler
// that runs while an unwind is in progress. Reserved, not committed: only
// touched pages cost memory.
constexpr size_t kStackSize = 256 * 1024;
constexpr size_t kGuardSize = 4096;
constexpr int kStacks = 64;

struct alignas(64) PooledStack {
  std::atomic<bool> busy{false};
  std::atomic<char*> base{nullptr};  // lowest usable byte, above the guard page
};
PooledStack g_stacks[kStacks];

__attribute__((tls_model("initial-exec"))) thread_local int t_preferred = -1;

char* map_stack() {
  void* p = mmap(nullptr, kStackSize + kGuardSize, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  mprotect(p, kGuardSize, PROT_NONE);  // an overflow faults instead of writing past the stack
  return static_cast<char*>(p) + kGuardSize;
}

// A free stack, preferring the one this thread used last (warm in its cache).
PooledStack* take() {
  int first = t_preferred >= 0 ? t_preferred : 0;
  for (int i = 0; i < kStacks; ++i) {
    int index = (first + i) % kStacks;
    PooledStack& stack = g_stacks[index];
    if (stack.busy.load(std::memory_order_relaxed) || stack.busy.exchange(true, std::memory_order_acquire)) continue;
    if (!stack.base.load(std::memory_order_relaxed)) stack.base.store(map_stack(), std::memory_order_relaxed);
    if (!stack.base.load(std::memory_order_relaxed)) {
      stack.busy.store(false, std::memory_order_release);
      return nullptr;
    }
    t_preferred = index;
    return &stack;
  }
  return nullptr;
}

}  // namespace

bool call_on_unwind_stack(void (*fn)(void*), void* arg) {
  PooledStack* stack = take();
  if (!stack) return false;
  char* top = stack->base.load(std::memory_order_relaxed) + kStackSize;
  connleak_call_with_stack(arg, fn, reinterpret_cast<void*>(uintptr_t(top) & ~uintptr_t(15)));
  stack->busy.store(false, std::memory_order_release);
  return true;
}

}  // namespace connleak::shim
