#include "words.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace rnnlm {

namespace {

constexpr uint32_t kMaxWords = 1u << 30;

// <eos>, the word of every line end: local word 0 of every table.
constexpr uint8_t kEosWord[] = {'<', 'e', 'o', 's', '>'};
const uint64_t kEosHash = HashWord(kEosWord, sizeof kEosWord);

// ASCII white space as Python's str.split() knows it: \t \n \v \f \r, the separators 0x1c-0x1f and the space.
struct AsciiSpace {
  bool is[128] = {};
  constexpr AsciiSpace() {
    for (int c : {9, 10, 11, 12, 13, 28, 29, 30, 31, 32}) is[c] = true;
  }
};
constexpr AsciiSpace kAscii;

// The length of the non-ASCII white space at p (U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
// U+205F, U+3000), or 0. Reads no byte at or past end.
inline int WideSpace(const uint8_t* p, const uint8_t* end) {
  const ptrdiff_t left = end - p;
  switch (p[0]) {
    case 0xC2:
      return left >= 2 && (p[1] == 0x85 || p[1] == 0xA0) ? 2 : 0;
    case 0xE1:
      return left >= 3 && p[1] == 0x9A && p[2] == 0x80 ? 3 : 0;
    case 0xE2:
      if (left < 3) return 0;
      if (p[1] == 0x80 && (p[2] <= 0x8A || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF)) return p[2] >= 0x80 ? 3 : 0;
      return p[1] == 0x81 && p[2] == 0x9F ? 3 : 0;
    case 0xE3:
      return left >= 3 && p[1] == 0x80 && p[2] == 0x80 ? 3 : 0;
    default:
      return 0;
  }
}

// The first k >= i with b[k] <= 0x20 or b[k] >= 0x80 (white space, a control character or part of a multi-byte
// character: where a word may end), or n. SSE2 (part of every x86-64) compares 16 bytes at a time: as signed bytes,
// exactly those are below 0x21.
inline size_t NextCandidate(const uint8_t* b, size_t i, size_t n) {
#if defined(__SSE2__)
  const __m128i limit = _mm_set1_epi8(0x21);
  for (; i + 16 <= n; i += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
    const int m = _mm_movemask_epi8(_mm_cmpgt_epi8(limit, x));
    if (m != 0) return i + static_cast<size_t>(__builtin_ctz(m));
  }
#endif
  while (i < n && b[i] >= 0x21 && b[i] < 0x80) i++;
  return i;
}

// Whether [p, p + n) is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool ValidUtf8(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t k = 2; k < len; k++) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
    }
    i += len;
  }
  return true;
}

// HashWord of [p, p + n) where the bytes up to `end` may be read: the last partial 8 bytes in one load when they
// lie before `end`.
inline uint64_t HashWordIn(const uint8_t* p, size_t n, const uint8_t* end) {
  if (n >= 8 || p + 8 > end) return HashWord(p, n);
  uint64_t v;
  std::memcpy(&v, p, 8);
  v &= n == 0 ? 0 : ~uint64_t{0} >> (64 - 8 * n);
  return HashTail(0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full), v);
}

// Tokenises one segment into `table`, writing provisional ids local * 2 + tag. Words are found a batch at a time
// and their slots prefetched before they are counted, so that the table's cache misses overlap.
CountResult CountSegment(WordTable& table, int tag, const uint8_t* b, size_t n, bool last, int32_t* ids) {
  constexpr int kBatch = 64;
  constexpr uint32_t kEos = UINT32_MAX;  // a line end in the batch
  struct Item {
    size_t start;
    uint32_t length;
    uint64_t hash;
  } batch[kBatch];
  CountResult r;
  const uint8_t* const end = b + n;
  size_t i = 0, out = 0;
  bool stop = false;
  while (!stop && i < n) {
    int k = 0;
    while (k < kBatch && i < n) {
      const uint8_t c = b[i];
      if (c < 0x80) {
        if (kAscii.is[c]) {
          if (c == '\n') batch[k++] = {i, kEos, 0};
          i++;
          continue;
        }
      } else if (const int s = WideSpace(b + i, end)) {
        i += s;
        continue;
      }
      // A word: up to the next white space. A word (or a character) that reaches the end of a chunk that is not
      // the last may go on in the next chunk: leave it to that one.
      const size_t start = i;
      bool wide = false;
      for (;;) {
        i = NextCandidate(b, i, n);
        if (i == n) break;
        const uint8_t d = b[i];
        if (d < 0x80) {
          if (kAscii.is[d]) break;
        } else {
          if (WideSpace(b + i, end)) break;
          wide = true;
        }
        i++;
      }
      if (i == n && !last) {
        i = start;
        stop = true;
        break;
      }
      if (wide && !ValidUtf8(b + start, i - start)) {
        r.bad = static_cast<int64_t>(start);
        i = start;
        stop = true;
        break;
      }
      const uint64_t h = HashWordIn(b + start, i - start, end);

      table.Prefetch(h);
      batch[k++] = {start, static_cast<uint32_t>(i - start), h};
    }
    for (int j = 0; j < k; j++) {
      const Item& w = batch[j];
      const int32_t local = w.length == kEos ? table.Add(kEosWord, sizeof kEosWord, kEosHash) : table.Add(b + w.start, w.length, w.hash);
      if (local < 0) {
        r.full = true;
        i = w.start;
        stop = true;
        break;
      }
      ids[out++] = local * 2 + tag;
    }
  }
  r.consumed = i;
  r.tokens = out;
  return r;
}

// Where to split a chunk for two threads: just past a line end at or after the middle, else past any ASCII white
// space there; 0 when there is none (one thread takes it all). ASCII bytes never occur inside a multi-byte
// character, so the cut never splits one.
size_t SplitPoint(const uint8_t* b, size_t n) {
  const size_t mid = n / 2;
  if (const void* nl = std::memchr(b + mid, '\n', n - mid)) return static_cast<const uint8_t*>(nl) - b + 1;
  for (size_t i = mid; i < n; i++) {
    if (b[i] < 0x80 && kAscii.is[b[i]]) return i + 1;
  }
  return 0;
}

}  // namespace

uint64_t HashTail(uint64_t h, uint64_t v) {
  h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  h *= 0xFF51AFD7ED558CCDull;
  return h ^ (h >> 32);
}

uint64_t HashWord(const uint8_t* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  uint64_t v = 0;
  for (size_t k = 0; k < n; k++) v |= static_cast<uint64_t>(p[k]) << (8 * k);
  return HashTail(h, v);
}

WordTable::WordTable() : slots_(1u << 16), mask_((1u << 16) - 1) {
  Add(kEosWord, sizeof kEosWord, kEosHash);
  slots_[Probe(kEosWord, sizeof kEosWord, kEosHash)].count = 0;  // present, not yet seen
}

size_t WordTable::Probe(const uint8_t* p, size_t n, uint64_t hash) const {
  for (size_t s = hash & mask_;; s = (s + 1) & mask_) {
    const Slot& slot = slots_[s];
    if (slot.id_plus_1 == 0) return s;
    if (slot.hash != hash || slot.length != n) continue;
    const size_t head = n < 8 ? n : 8;
    if (std::memcmp(slot.prefix, p, head) == 0 &&
        (n <= 8 || std::memcmp(word(slot.id_plus_1 - 1) + 8, p + 8, n - 8) == 0)) {
      return s;
    }
  }
}

int32_t WordTable::Find(const uint8_t* p, size_t n, uint64_t hash) const {
  const Slot& slot = slots_[Probe(p, n, hash)];
  return static_cast<int32_t>(slot.id_plus_1) - 1;
}

int32_t WordTable::Add(const uint8_t* p, size_t n, uint64_t hash) {
  Slot& slot = slots_[Probe(p, n, hash)];
  if (slot.id_plus_1 != 0) {
    slot.count++;
    return static_cast<int32_t>(slot.id_plus_1 - 1);
  }
  if (lens_.size() >= kMaxWords) return -1;
  const uint32_t id = static_cast<uint32_t>(lens_.size());
  offsets_.push_back(arena_.size());
  lens_.push_back(static_cast<uint32_t>(n));
  hashes_.push_back(hash);
  arena_.append(reinterpret_cast<const char*>(p), n);
  slot.hash = hash;
  slot.count = 1;
  slot.id_plus_1 = id + 1;
  slot.length = static_cast<uint32_t>(n);
  std::memset(slot.prefix, 0, sizeof slot.prefix);
  std::memcpy(slot.prefix, p, n < 8 ? n : 8);
  if (lens_.size() * 2 > slots_.size()) Grow();
  return static_cast<int32_t>(id);
}

void WordTable::Grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (slot.id_plus_1 == 0) continue;
    size_t s = slot.hash & mask_;
    while (slots_[s].id_plus_1 != 0) s = (s + 1) & mask_;
    slots_[s] = slot;
  }
}

std::vector<uint64_t> WordTable::Counts() const {
  std::vector<uint64_t> counts(size(), 0);
  for (const Slot& slot : slots_) {
    if (slot.id_plus_1 != 0) counts[slot.id_plus_1 - 1] = slot.count;
  }
  return counts;
}

WordCounter::WordCounter(int threads) : threads_(threads) {}

CountResult WordCounter::Count(const uint8_t* bytes, size_t n, bool last, int32_t* ids) {
  const size_t cut = threads_ > 1 && n >= (1u << 16) ? SplitPoint(bytes, n) : 0;
  if (cut == 0 || cut >= n) return CountSegment(tables_[0], 0, bytes, n, last, ids);
  // The first part ends with white space, so it holds no unfinished word; its at most `cut` tokens go first, the
  // second part's are written after them and moved down.
  CountResult second;
  std::thread worker([&] { second = CountSegment(tables_[1], 1, bytes + cut, n - cut, last, ids + cut); });
  const CountResult first = CountSegment(tables_[0], 0, bytes, cut, true, ids);
  worker.join();
  if (first.bad >= 0 || first.full) return first;
  std::memmove(ids + first.tokens, ids + cut, second.tokens * sizeof(int32_t));
  CountResult r = second;
  r.consumed = cut + second.consumed;
  r.tokens = first.tokens + second.tokens;
  if (second.bad >= 0) r.bad = static_cast<int64_t>(cut) + second.bad;
  return r;
}

WordCounter::Merged WordCounter::Merge() const {
  Merged m;
  const WordTable& a = tables_[0];
  const WordTable& b = tables_[1];
  const size_t most = a.size() > b.size() ? a.size() : b.size();
  m.by_provisional.assign(most * 2, -1);
  const std::vector<uint64_t> a_counts = a.Counts(), b_counts = b.Counts();
  for (size_t id = 0; id < a.size(); id++) {
    m.table.push_back(0);
    m.local.push_back(static_cast<uint32_t>(id));
    m.counts.push_back(a_counts[id]);
    m.by_provisional[id * 2] = static_cast<int32_t>(id);
  }
  for (size_t id = 0; id < b.size(); id++) {
    int32_t g = a.Find(b.word(id), b.length(id), b.hash(id));
    if (g < 0) {
      g = static_cast<int32_t>(m.counts.size());
      m.table.push_back(1);
      m.local.push_back(static_cast<uint32_t>(id));
      m.counts.push_back(0);
    }
    m.counts[g] += b_counts[id];
    m.by_provisional[id * 2 + 1] = g;
  }
  return m;
}

}  // namespace rnnlm

namespace rnnlm {

namespace {

// Renumbers ids[0, n) through table; the index of the first id outside it, or -1.
int64_t RenumberIds(int32_t* ids, size_t n, const int32_t* table, uint64_t table_length) {
  for (size_t i = 0; i < n; i++) {
    const uint32_t id = static_cast<uint32_t>(ids[i]);
    if (id >= table_length) return static_cast<int64_t>(i);
    ids[i] = table[id];
  }
  return -1;
}

}  // namespace

std::string RenumberFile(int fd, uint64_t offset, uint64_t tokens, const int32_t* table, uint64_t table_length,
                         uint32_t* a, uint32_t* b) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t window = uint64_t{64} << 20;
  const uint64_t end = offset + tokens * 4;
  uint32_t ha = *a, hb = *b;
  for (uint64_t at = offset; at < end;) {
    const uint64_t base = at / page * page;
    const uint64_t stop = std::min(end, base + window);
    void* map = mmap(nullptr, stop - base, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(base));
    if (map == MAP_FAILED) return std::string("cannot map the token file: ") + std::strerror(errno);
    int32_t* ids = reinterpret_cast<int32_t*>(static_cast<uint8_t*>(map) + (at - base));
    const size_t n = (stop - at) / 4, half = n / 2;
    int64_t bad_first = -1, bad_second = -1;
    std::thread worker([&] { bad_second = RenumberIds(ids + half, n - half, table, table_length); });
    bad_first = RenumberIds(ids, half, table, table_length);
    worker.join();
    const int64_t bad = bad_first >= 0 ? bad_first : bad_second >= 0 ? static_cast<int64_t>(half) + bad_second : -1;
    if (bad < 0) {
      for (size_t i = 0; i < n; i++) {
        const uint32_t x = static_cast<uint32_t>(ids[i]);
        ha = (ha ^ x) * 0x01000193u;
        hb = (hb + x) * 0x85EBCA77u;
        hb ^= hb >> 13;
      }
    }
    munmap(map, stop - base);
    if (bad >= 0) {
      return "token " + std::to_string((at - offset) / 4 + static_cast<uint64_t>(bad)) + " has provisional id outside the table";
    }
    at = stop;
  }
  *a = ha;
  *b = hb;
  return "";
}

}  // namespace rnnlm
