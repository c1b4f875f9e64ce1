#include "module_map.h"

#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "loaded_objects.h"
#include "trace_writer.h"

namespace connleak::shim {
namespace {

struct ObjectRange {
  uintptr_t low = UINTPTR_MAX;
  uintptr_t high = 0;
};

ObjectRange load_range(const dl_phdr_info* info) {
  ObjectRange range;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (start < range.low) range.low = start;
    if (start + ph.p_memsz > range.high) range.high = start + ph.p_memsz;
  }
  return range;
}

// The GNU build-id note, read from the mapped PT_NOTE segments.
size_t find_build_id(const dl_phdr_info* info, const uint8_t** id) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    auto* p = reinterpret_cast<const uint8_t*>(info->dlpi_addr + ph.p_vaddr);
    const uint8_t* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const uint8_t* name = p + sizeof(ElfW(Nhdr));
      const uint8_t* desc = name + ((note->n_namesz + 3) & ~3u);
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
        *id = desc;
        return note->n_descsz;
      }
      p = desc + ((note->n_descsz + 3) & ~3u);
    }
  }
  return 0;
}

struct ScanContext {
  ModuleMap* map;
  TraceWriter* writer;
};

struct RangeQuery {
  uintptr_t address;
  uintptr_t low = 0;
  uintptr_t high = 0;
  bool found = false;
};

int range_callback(dl_phdr_info* info, size_t, void* data) {
  auto* query = static_cast<RangeQuery*>(data);
  ObjectRange range = load_range(info);
  if (query->address >= range.low && query->address < range.high) {
    query->low = range.low;
    query->high = range.high;
    query->found = true;
    return 1;
  }
  return 0;
}

}  // namespace

// dl_iterate_phdr serialises callbacks under the loader lock, so concurrent
// scans (two threads in dlopen) do not race on seen_.
int module_callback(dl_phdr_info* info, unsigned long, void* data) {
  auto* context = static_cast<ScanContext*>(data);
  ObjectRange range = load_range(info);
  if (range.high <= range.low) return 0;
  if (context->map->seen(info->dlpi_addr, range.low)) return 0;

  char exe[1024];
  const char* path = info->dlpi_name;
  if (!path || !*path) {  // the main program
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return 0;
    exe[n] = '\0';
    path = exe;
  }
  if (path[0] != '/') return 0;  // the vDSO: no file to symbolize from
  int index = context->map->remember(info->dlpi_addr, range.low, range.high);

  const uint8_t* build_id = nullptr;
  size_t id_len = find_build_id(info, &build_id);
  size_t path_len = strlen(path);
  auto* record = context->writer->reserve<trace::Module>(id_len + path_len);
  if (!record) return 0;
  record->bias = info->dlpi_addr;
  record->low = range.low;
  record->high = range.high;
  record->build_id_len = uint16_t(id_len);
  record->path_len = uint16_t(path_len);
  auto* bytes = reinterpret_cast<char*>(record + 1);
  if (id_len) memcpy(bytes, build_id, id_len);
  memcpy(bytes + id_len, path, path_len);
  context->writer->publish(record, trace::RecordType::kModule);
  if (index >= 0) context->map->seen_[index].ref = context->writer->ref_of(record);
  return 0;
}

void ModuleMap::scan(TraceWriter& writer) {
  ScanContext context{this, &writer};
  iterate_loaded_objects(module_callback, &context);
}

void ModuleMap::cover(TraceWriter& writer, const uint64_t* ips, int depth) {
  for (int i = 0; i < depth; ++i) {
    if (!covers(ips[i])) return scan(writer);
  }
}

bool ModuleMap::seen(uint64_t bias, uint64_t low) const {
  int count = count_.load(std::memory_order_acquire);
  for (int i = 0; i < count; ++i) {
    if (seen_[i].bias == bias && seen_[i].low == low) return true;
  }
  return false;
}

// Read without the loader lock while a scan may append: an entry is
// complete before count_ says it is there.
bool ModuleMap::covers(uint64_t address) const {
  int count = count_.load(std::memory_order_acquire);
  for (int i = 0; i < count; ++i) {
    if (address >= seen_[i].low && address < seen_[i].high) return true;
  }
  return false;
}

int ModuleMap::remember(uint64_t bias, uint64_t low, uint64_t high) {
  int count = count_.load(std::memory_order_relaxed);
  if (count >= kMaxModules) return -1;
  seen_[count] = {bias, low, high, 0};
  count_.store(count + 1, std::memory_order_release);
  return count;
}

bool ModuleMap::range_of(const void* address, uintptr_t* low, uintptr_t* high) {
  RangeQuery query{reinterpret_cast<uintptr_t>(address)};
  iterate_loaded_objects(range_callback, &query);
  *low = query.low;
  *high = query.high;
  return query.found;
}

}  // namespace connleak::shim
