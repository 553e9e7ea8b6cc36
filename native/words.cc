#include "words.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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

// A word's hash and head (WordHead), found together.
struct Key {
  uint64_t hash;
  uint64_t head;
};

// The key of [p, p + n), reading no byte at or past `end`.
inline Key KeyOf(const uint8_t* p, size_t n, const uint8_t* end) {
  if (n >= 8 || p + 8 > end) return {HashWord(p, n), WordHead(p, n)};
  uint64_t v;
  std::memcpy(&v, p, 8);
  v &= n == 0 ? 0 : ~uint64_t{0} >> (64 - 8 * n);
  return {HashTail(HashSeed(n), v), v};
}

#if defined(__SSE2__)
// The common word: 1 to 15 bytes of printable ASCII followed by ASCII white space, all within the 16 bytes at p
// (which may be read). Sets its length and key and returns true; false for any other word, which the general scan
// takes. The key is HashWord's, computed from the loaded bytes.
inline bool ShortAsciiWord(const uint8_t* p, size_t* length, Key* key) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const int m = _mm_movemask_epi8(_mm_cmpgt_epi8(_mm_set1_epi8(0x21), x));  // bytes <= 0x20 or >= 0x80
  if (m == 0) return false;
  const int n = __builtin_ctz(m);
  if (n == 0 || p[n] >= 0x80 || !kAscii.is[p[n]]) return false;
  const uint64_t lo = static_cast<uint64_t>(_mm_cvtsi128_si64(x));
  *length = static_cast<size_t>(n);
  if (n < 8) {
    const uint64_t v = lo & (~uint64_t{0} >> (64 - 8 * n));
    *key = {HashTail(HashSeed(n), v), v};
    return true;
  }
  const uint64_t h = HashStep(HashSeed(n), lo);
  const uint64_t hi = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(x, x)));
  const uint64_t v = n == 8 ? 0 : hi & (~uint64_t{0} >> (64 - 8 * (n - 8)));
  *key = {HashTail(h, v), lo};
  return true;
}
#endif

// A batch of words found and prefetched before they are counted; a line end has length kEosItem.
constexpr uint32_t kEosItem = UINT32_MAX;
struct BatchItem {
  size_t start;
  uint32_t length;
  Key key;
};

// The end of the word that starts at b[start]: the next white space, or n. Sets *wide when the word holds bytes
// outside ASCII.
inline size_t WordEnd(const uint8_t* b, size_t start, size_t n, const uint8_t* end, bool* wide) {
  for (size_t i = start;; i++) {
    i = NextCandidate(b, i, n);
    if (i == n) return n;
    const uint8_t d = b[i];
    if (d < 0x80) {
      if (kAscii.is[d]) return i;
    } else {
      if (WideSpace(b + i, end)) return i;
      *wide = true;
    }
  }
}

// Counts a batch's words in `table`, writing ids local * 2 + tag from ids[*out]. A full table stops it: r->full is
// set, *i is the first word not counted, and false is returned.
inline bool CountBatch(WordTable& table, int tag, const uint8_t* b, const BatchItem* batch, int k, int32_t* ids, size_t* out,
                       size_t* i, CountResult* r) {
  for (int j = 0; j < k; j++) {
    const BatchItem& w = batch[j];
    const int32_t local = w.length == kEosItem ? table.Add(kEosWord, sizeof kEosWord, w.key.hash, w.key.head)
                                               : table.Add(b + w.start, w.length, w.key.hash, w.key.head);
    if (local < 0) {
      r->full = true;
      *i = w.start;
      return false;
    }
    ids[(*out)++] = local * 2 + tag;
  }
  return true;
}

// Tokenises one segment into `table`, writing provisional ids local * 2 + tag. Words are found a batch at a time
// and their slots prefetched before they are counted, so that the table's cache misses overlap.
CountResult CountSegment(WordTable& table, int tag, const uint8_t* b, size_t n, bool last, int32_t* ids) {
  constexpr int kBatch = 64;
  BatchItem batch[kBatch];
  CountResult r;
  const uint8_t* const end = b + n;
  const Key eos = {kEosHash, WordHead(kEosWord, sizeof kEosWord)};
  size_t i = 0, out = 0;
  bool stop = false;
  while (!stop && i < n) {
    int k = 0;
    while (k < kBatch && i < n) {
      const uint8_t c = b[i];
      if (c < 0x80) {
        if (kAscii.is[c]) {
          if (c == '\n') batch[k++] = {i, kEosItem, eos};
          i++;
          continue;
        }
      } else if (const int s = WideSpace(b + i, end)) {
        i += s;
        continue;
      }
#if defined(__SSE2__)
      if (i + 16 <= n) {
        size_t length;
        Key key;
        if (ShortAsciiWord(b + i, &length, &key)) {
          table.Prefetch(key.hash);
          batch[k++] = {i, static_cast<uint32_t>(length), key};
          i += length;
          continue;
        }
      }
#endif
      // A word: up to the next white space. A word (or a character) that reaches the end of a chunk that is not
      // the last may go on in the next chunk: leave it to that one.
      const size_t start = i;
      bool wide = false;
      i = WordEnd(b, start, n, end, &wide);
      const bool cut = i == n && !last;
      if (cut || (wide && !ValidUtf8(b + start, i - start))) {
        if (!cut) r.bad = static_cast<int64_t>(start);
        i = start;
        stop = true;
        break;
      }
      const Key key = KeyOf(b + start, i - start, end);
      table.Prefetch(key.hash);
      batch[k++] = {start, static_cast<uint32_t>(i - start), key};
    }
    if (!CountBatch(table, tag, b, batch, k, ids, &out, &i, &r)) stop = true;
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
  uint64_t h = HashSeed(n);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = HashStep(h, v);
    p += 8;
    n -= 8;
  }
  uint64_t v = 0;
  for (size_t k = 0; k < n; k++) v |= static_cast<uint64_t>(p[k]) << (8 * k);
  return HashTail(h, v);
}

uint64_t WordHead(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  std::memcpy(&v, p, n < 8 ? n : 8);
  return v;
}

WordTable::WordTable() : slots_(1u << 16), mask_((1u << 16) - 1) {
  Add(kEosWord, sizeof kEosWord, kEosHash, WordHead(kEosWord, sizeof kEosWord));
  slots_[Probe(kEosWord, sizeof kEosWord, kEosHash)].count = 0;  // present, not yet seen
}

size_t WordTable::Probe(const uint8_t* p, size_t n, uint64_t hash) const {
  const uint64_t head = WordHead(p, n);
  for (size_t s = hash & mask_;; s = (s + 1) & mask_) {
    const Slot& slot = slots_[s];
    if (slot.id_plus_1 == 0) return s;
    if (Holds(slot, p, n, hash, head)) return s;
  }
}

int32_t WordTable::Find(const uint8_t* p, size_t n, uint64_t hash) const {
  const Slot& slot = slots_[Probe(p, n, hash)];
  return static_cast<int32_t>(slot.id_plus_1) - 1;
}

int32_t WordTable::Insert(Slot& slot, const uint8_t* p, size_t n, uint64_t hash, uint64_t head) {
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
  slot.head = head;
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

// The checksum's two lanes advance as h = (h + id) * P (mod 2^32), each with its own odd P: a polynomial in the
// ids, so that a run's lanes are those of its parts joined (Join), and two threads can each take a part.
constexpr uint32_t kLaneFactor[2] = {0x01000193u, 0x85EBCA77u};

struct Lanes {
  uint32_t h[2];
  uint64_t n;  // ids taken
};

uint32_t PowMod32(uint32_t x, uint64_t e) {
  uint32_t r = 1;
  for (; e; e >>= 1, x *= x) {
    if (e & 1) r *= x;
  }
  return r;
}

// The lanes of the run `a` followed by the run whose lanes, started from zero, are `b`.
Lanes Join(const Lanes& a, const Lanes& b) {
  Lanes r;
  for (int l = 0; l < 2; l++) r.h[l] = a.h[l] * PowMod32(kLaneFactor[l], b.n) + b.h[l];
  r.n = a.n + b.n;
  return r;
}

// Renumbers ids[0, n) through table and returns their lanes started from zero; *bad is the index of the first id
// outside the table (the rest left as they were), else -1.
Lanes RenumberIds(int32_t* ids, size_t n, const int32_t* table, uint64_t table_length, int64_t* bad) {
  uint32_t a = 0, b = 0;
  *bad = -1;
  for (size_t i = 0; i < n; i++) {
    const uint32_t id = static_cast<uint32_t>(ids[i]);
    if (id >= table_length) {
      *bad = static_cast<int64_t>(i);
      break;
    }
    const uint32_t x = static_cast<uint32_t>(table[id]);
    ids[i] = static_cast<int32_t>(x);
    a = (a + x) * kLaneFactor[0];
    b = (b + x) * kLaneFactor[1];
  }
  return {{a, b}, n};
}

// Reads (or writes) all `n` bytes at `at`; false on an error or an early end of file.
bool ReadAll(int fd, void* p, size_t n, uint64_t at) {
  for (size_t done = 0; done < n;) {
    const ssize_t k = pread(fd, static_cast<uint8_t*>(p) + done, n - done, static_cast<off_t>(at + done));
    if (k == 0) errno = 0;
    if (k <= 0) return false;
    done += static_cast<size_t>(k);
  }
  return true;
}

bool WriteAll(int fd, const void* p, size_t n, uint64_t at) {
  for (size_t done = 0; done < n;) {
    const ssize_t k = pwrite(fd, static_cast<const uint8_t*>(p) + done, n - done, static_cast<off_t>(at + done));
    if (k <= 0) return false;
    done += static_cast<size_t>(k);
  }
  return true;
}

}  // namespace

std::string RenumberFile(int fd, uint64_t offset, uint64_t tokens, const int32_t* table, uint64_t table_length,
                         uint32_t* a, uint32_t* b) {
  constexpr uint64_t kBlock = uint64_t{1} << 20;  // ids a block: 4 MiB read, renumbered and written back at a time
  const uint64_t blocks = (tokens + kBlock - 1) / kBlock;
  std::vector<Lanes> lanes(blocks);
  // The first block that failed: a thread stops before any later block, so the failure reported is the first.
  std::atomic<uint64_t> failed{UINT64_MAX};
  std::string errors[2];
  auto work = [&](int t) {
    std::vector<int32_t> ids(static_cast<size_t>(std::min(kBlock, tokens)));
    for (uint64_t k = static_cast<uint64_t>(t); k < blocks && k < failed.load(); k += 2) {
      const uint64_t first = k * kBlock, n = std::min(kBlock, tokens - first), at = offset + first * 4;
      int64_t bad = -1;
      std::string& error = errors[t];
      if (!ReadAll(fd, ids.data(), n * 4, at)) {
        error = std::string("cannot read the token file: ") + (errno ? std::strerror(errno) : "it ends early");
      } else if (lanes[k] = RenumberIds(ids.data(), n, table, table_length, &bad); bad >= 0) {
        error = "token " + std::to_string(first + static_cast<uint64_t>(bad)) + " has provisional id outside the table";
      } else if (!WriteAll(fd, ids.data(), n * 4, at)) {
        error = std::string("cannot write the token file: ") + std::strerror(errno);
      } else {
        // Start writing the block to the disk now, so that the caller's fsync finds little left to write.
        sync_file_range(fd, static_cast<off_t>(at), static_cast<off_t>(n * 4), SYNC_FILE_RANGE_WRITE);
        continue;
      }
      for (uint64_t seen = failed.load(); k < seen && !failed.compare_exchange_weak(seen, k);) {
      }
      return;
    }
  };
  std::thread worker(work, 1);
  work(0);
  worker.join();
  if (failed.load() != UINT64_MAX) return errors[failed.load() % 2];
  Lanes all = {{*a, *b}, 0};
  for (const Lanes& l : lanes) all = Join(all, l);
  *a = all.h[0];
  *b = all.h[1];
  return "";
}

}  // namespace rnnlm
