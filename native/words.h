// Word counting for `rnnlm prepare`: the book's tokenisation (words separated by white space, every '\n' an <eos>)
// over UTF-8 bytes, with each word numbered by a hash table as it is met. No N-API here: addon.cc checks the
// arguments and calls these.
//
// A WordCounter splits each chunk of text in two at a line end near its middle and counts the halves on two threads,
// each into a table of its own; a token is written as a provisional id, local * 2 + table. `Merge` joins the two
// tables into one list of words and says which word every provisional id stands for, so that the caller can number
// the vocabulary it keeps and rewrite the provisional ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace rnnlm {

// One thread's words: an open-addressing hash table of 32-byte slots that hold all a lookup of a short word
// reads (its hash, count, id, length and first 8 bytes), so that a lookup touches one cache line, which
// `Prefetch` can load ahead. The bytes of every word are kept in an arena as well.
class WordTable {
 public:
  WordTable();
  void Prefetch(uint64_t hash) const { __builtin_prefetch(&slots_[hash & mask_]); }
  // Counts one occurrence of word [p, p + n), whose first min(n, 8) bytes zero-padded are `head`, and returns its
  // local id (a new word gets the next one); -1 when the table is full (2^30 words). Inline: it runs per token.
  int32_t Add(const uint8_t* p, size_t n, uint64_t hash, uint64_t head) {
    for (size_t s = hash & mask_;; s = (s + 1) & mask_) {
      Slot& slot = slots_[s];
      if (slot.id_plus_1 == 0) return Insert(slot, p, n, hash, head);
      if (Holds(slot, p, n, hash, head)) {
        slot.count++;
        return static_cast<int32_t>(slot.id_plus_1 - 1);
      }
    }
  }
  // The local id of a word already in the table, or -1.
  int32_t Find(const uint8_t* p, size_t n, uint64_t hash) const;
  size_t size() const { return lens_.size(); }
  const uint8_t* word(size_t id) const { return reinterpret_cast<const uint8_t*>(arena_.data()) + offsets_[id]; }
  uint32_t length(size_t id) const { return lens_[id]; }
  uint64_t hash(size_t id) const { return hashes_[id]; }
  // Every word's count, by local id.
  std::vector<uint64_t> Counts() const;

 private:
  struct alignas(32) Slot {
    uint64_t hash;
    uint64_t count;
    uint32_t id_plus_1;  // 0: empty
    uint32_t length;
    uint64_t head;  // the first min(length, 8) bytes, zero-padded
  };
  static_assert(sizeof(Slot) == 32, "a slot is half a cache line");
  // Whether a taken slot holds word [p, p + n) of that hash and head.
  bool Holds(const Slot& slot, const uint8_t* p, size_t n, uint64_t hash, uint64_t head) const {
    return slot.hash == hash && slot.head == head && slot.length == n &&
           (n <= 8 || std::memcmp(word(slot.id_plus_1 - 1) + 8, p + 8, n - 8) == 0);
  }
  // The slot of the word, or the empty slot where it belongs.
  size_t Probe(const uint8_t* p, size_t n, uint64_t hash) const;
  int32_t Insert(Slot& slot, const uint8_t* p, size_t n, uint64_t hash, uint64_t head);
  void Grow();
  std::vector<Slot> slots_;
  size_t mask_;
  std::vector<uint64_t> hashes_;
  std::vector<uint64_t> offsets_;
  std::vector<uint32_t> lens_;
  std::string arena_;
};

// Where a chunk's tokenisation stopped.
struct CountResult {
  size_t consumed = 0;   // bytes consumed (the rest, an unfinished word, belongs to the next chunk)
  size_t tokens = 0;     // provisional ids written
  int64_t bad = -1;      // byte offset of the first invalid UTF-8 sequence, or -1
  bool full = false;     // a table reached 2^30 words
};

class WordCounter {
 public:
  explicit WordCounter(int threads);
  // Tokenises bytes[0, n): writes one provisional id per token into ids (room for n + 1 ids is enough) and counts
  // every word. Unless `last`, a word (or character) cut by the end of the chunk is left unconsumed.
  CountResult Count(const uint8_t* bytes, size_t n, bool last, int32_t* ids);
  // The words of both tables in one list (table 0's in its order, then table 1's new ones) with their counts, and
  // for every provisional id the index of its word in that list (-1 for ids that no word has).
  struct Merged {
    std::vector<uint8_t> table;
    std::vector<uint32_t> local;
    std::vector<uint64_t> counts;
    std::vector<int32_t> by_provisional;
  };
  Merged Merge() const;
  const WordTable& table(int t) const { return tables_[t]; }
  static constexpr int kTables = 2;

 private:
  WordTable tables_[kTables];
  int threads_;
};

// The 64-bit hash WordTable uses: from HashSeed(n), one HashStep per whole 8 bytes, then HashTail with the last,
// zero-padded bytes.
uint64_t HashWord(const uint8_t* p, size_t n);
uint64_t HashTail(uint64_t h, uint64_t v);
inline uint64_t HashSeed(size_t n) { return 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(n) * 0xC2B2AE3D27D4EB4Full); }
inline uint64_t HashStep(uint64_t h, uint64_t v) {
  h = (h ^ v) * 0xFF51AFD7ED558CCDull;
  return h ^ (h >> 32);
}
// The first min(n, 8) bytes of [p, p + n), zero-padded, as a little-endian number.
uint64_t WordHead(const uint8_t* p, size_t n);

}  // namespace rnnlm

namespace rnnlm {

// ids[i] = table[ids[i]] in place for the `tokens` little-endian int32 ids of file `fd` that start at byte `offset`
// (a multiple of 4), a block of 4 MiB at a time on each of two threads; then the checksum of the new ids, two
// 32-bit lanes from (a, b) as src/data/dataset.ts's IdsChecksum computes them. Returns an empty string, or what
// went wrong (an id outside the table, a failed map).
std::string RenumberFile(int fd, uint64_t offset, uint64_t tokens, const int32_t* table, uint64_t table_length,
                         uint32_t* a, uint32_t* b);

}  // namespace rnnlm
