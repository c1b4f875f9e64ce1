// The writing side of one checkpoint (checkpoint.cpp): where its records
// go, where the records it copies come from, and a dry run that only
// measures. Private to checkpoint*.cpp.
#pragma once

#include <string.h>

#include <initializer_list>

#include "tracker.h"

namespace connleak::shim {

struct Tracker::Checkpoint {
  using RecordHeader = trace::RecordHeader;
  using RecordType = trace::RecordType;
  using Ref = TraceWriter::Ref;

  TraceWriter& writer;
  bool into_next;        // rotation: the next segment; fork start: the current one
  bool measuring;        // a dry run: count the bytes, commit nothing
  const char* source;    // the segment the kept Refs point into
  uint64_t source_size;  // its allocated bytes
  uint64_t bytes = 0;    // written (or, measuring, to be written)
  bool out_of_room = false;
  uint64_t incomplete = 0;  // things that could not be carried

  RecordHeader* reserve(size_t size) {
    size = trace::align_record(size);
    bytes += size;
    void* record = nullptr;
    if (measuring) {
      alignas(8) static char scratch[1 << 16];  // one rotation at a time (the gate)
      record = scratch;
    } else if (into_next) {
      record = writer.reserve_next(size);
    } else {
      record = writer.reserve<RecordHeader>(size - sizeof(RecordHeader));
    }
    if (!record) out_of_room = true;
    auto* header = static_cast<RecordHeader*>(record);
    if (header) {
      header->size = uint16_t(size);
      header->fd = -1;
    }
    return header;
  }
  template <class R>
  R* reserve(size_t extra = 0) {
    return reinterpret_cast<R*>(reserve(sizeof(R) + extra));
  }
  void publish(void* record, RecordType type) {
    if (!measuring) writer.publish(record, type);
  }
  Ref ref_of(const void* record) const {
    if (measuring || !record) return 0;
    return into_next ? writer.next_ref_of(record) : writer.ref_of(record);
  }
  // The kept record at `ref` if it is a published one of one of `types`.
  const RecordHeader* kept(Ref ref, std::initializer_list<RecordType> types) const {
    uint64_t offset = uint64_t(ref) * trace::kRecordAlign;
    if (!ref || offset + sizeof(RecordHeader) > source_size) return nullptr;
    auto* h = reinterpret_cast<const RecordHeader*>(source + offset);
    uint8_t type = __atomic_load_n(&h->type, __ATOMIC_ACQUIRE);
    if (h->size < sizeof(RecordHeader) || offset + h->size > source_size) return nullptr;
    for (RecordType t : types)
      if (type == uint8_t(t)) return h;
    return nullptr;
  }
  // A copy of `from`, not yet published.
  RecordHeader* copy(const RecordHeader* from) {
    RecordHeader* to = reserve(from->size);
    if (to) memcpy(reinterpret_cast<char*>(to) + 1, reinterpret_cast<const char*>(from) + 1, from->size - 1u);
    return to;
  }
  // Copies the kept record at `ref` (of `type`); its new Ref, 0 if none.
  Ref carry(Ref ref, RecordType type, int fd = -2) {
    const RecordHeader* from = kept(ref, {type});
    if (!from) return 0;
    RecordHeader* to = copy(from);
    if (!to) return 0;
    if (fd != -2) to->fd = fd;
    publish(to, type);
    return ref_of(to);
  }
  template <class T>
  void commit(T& place, T value) {
    if (!measuring) place = value;
  }
};


}  // namespace connleak::shim
