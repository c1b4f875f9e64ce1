// dl_iterate_phdr() for the shim and its unwinder, safe in a fork child.
// glibc's takes the loader's write lock, which a fork child inherits in the
// state it had: held, if another thread of the parent was inside dlopen(),
// dlclose() or dl_iterate_phdr() at the moment of the fork. A child of a
// multi-threaded parent therefore goes through the objects as they were
// when it was forked (a copy made under the lock in the prepare handler; the
// live list may be half-changed), for as long as it has no thread of its own
// that could load or unload one. An object unloaded by another thread
// between that copy and the fork is left out (its memory is gone).
#pragma once

#include <link.h>

namespace connleak::shim {

using ObjectVisitor = int (*)(dl_phdr_info*, size_t, void*);

// As dl_iterate_phdr.
int iterate_loaded_objects(ObjectVisitor visit, void* data);

// fork() handlers: whether the parent had other threads when it forked.
void note_fork_prepare();
void note_fork_child();
// A thread is about to be created (pthread_create).
void note_thread_created();
// Whether dlopen() is safe: not in the child of a multi-threaded parent,
// where the loader's write lock may be held by a thread that is gone.
bool loader_usable();

}  // namespace connleak::shim
