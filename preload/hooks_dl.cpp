// dlsym: the shim exports its wrappers of libcurl and OpenSSL, so a lookup
// in the global scope would find one in a program that never loaded either
// library (a program probing for optional TLS support). Such a lookup gets
// what it would get without the shim: nothing, and a dlerror() message.
//
// glibc's dlsym reads its caller's address for RTLD_NEXT ("after the
// caller") and RTLD_DEFAULT (the caller's scope), so the entry point is
// assembly: those two jump straight to libc's dlsym with the caller's
// return address in place (RTLD_DEFAULT lookups are not checked: a known
// limit); a lookup in a handle (dlopen(NULL), ctypes.CDLL(None)) goes to
// dlsym_checked.
#include <dlfcn.h>
#include <string.h>

#include "dl_errors.h"
#include "hook_support.h"

extern "C" __attribute__((visibility("hidden"))) void* connleak_dlsym_checked(void* handle, const char* name);

asm(R"(
  .text
  .p2align 4
  .globl dlsym
  .type dlsym, @function
dlsym:
  .cfi_startproc
  cmpq $-1, %rdi
  je 3f
  testq %rdi, %rdi
  jne 1f
3:
  movq connleak_real_dlsym(%rip), %rax
  testq %rax, %rax
  jz 2f
  jmp *%rax
2:
  pushq %rdi
  .cfi_adjust_cfa_offset 8
  pushq %rsi
  .cfi_adjust_cfa_offset 8
  subq $8, %rsp
  .cfi_adjust_cfa_offset 8
  call connleak_resolve_real_dlsym
  addq $8, %rsp
  .cfi_adjust_cfa_offset -8
  popq %rsi
  .cfi_adjust_cfa_offset -8
  popq %rdi
  .cfi_adjust_cfa_offset -8
  jmp *%rax
1:
  jmp connleak_dlsym_checked
  .cfi_endproc
  .size dlsym, .-dlsym
)");

namespace {

namespace real = connleak::real;

// The connleak.h annotations exist only with the shim: finding them is how
// a program may ask whether it is traced.
bool is_annotation(const char* name) { return strncmp(name, "connleak_", 9) == 0; }

// A failed lookup leaves its message for dlerror(), as libc's does: a
// failing lookup in libc is the last dl call made (every dl call clears the
// previous message), on a handle kept open for good.
void* not_found(const char* name) {
  // Not a function-local static: its guard would need libstdc++. Two
  // threads racing here both open it, which only counts libc's references.
  static void* libc = nullptr;
  if (!__atomic_load_n(&libc, __ATOMIC_ACQUIRE))
    __atomic_store_n(&libc, dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD), __ATOMIC_RELEASE);
  if (void* opened = __atomic_load_n(&libc, __ATOMIC_ACQUIRE)) real::real_dlsym(opened, name);
  return nullptr;
}

}  // namespace

extern "C" void* connleak_dlsym_checked(void* handle, const char* name) {
  void* found = real::real_dlsym(handle, name);
  if (!name || !found || !real::inside_shim(found) || is_annotation(name)) return found;
  // One of the shim's wrappers (only the global scope's handle holds the
  // shim): it stands for the real function only where there is one.
  if (!real::find_definition(name, nullptr)) return not_found(name);
  connleak::shim::drop_dlerror();  // a lookup that worked leaves no message
  return found;
}

CONNLEAK_EXPORT char* dlerror() { return connleak::shim::program_dlerror(); }
