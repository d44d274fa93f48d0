// Text and Retrieval generators: byte-level documents of pseudo-words from a fixed lexicon.
#include <algorithm>
#include <set>

#include "core/error.h"
#include "examples/lra/generators.h"

namespace memgrad::lra {
namespace {

constexpr int kPlainWords = 3000, kMarkersPerFamily = 8, kTopicPool = 384, kWordsPerTopic = 24;
constexpr double kTopicWordP = 0.2;

// The lexicon is the same for every seed: the seed only changes the documents.
struct Lexicon {
  std::vector<std::string> plain, markers[2], lookalikes, topic_pool;
  std::vector<double> plain_cdf;               // Zipf(1) over plain words
  std::vector<std::vector<int>> topic_words;  // indices into topic_pool

  Lexicon() {
    Rng rng(0x1e7a5eedull);
    std::set<std::string> used;
    auto fresh = [&](int64_t lo, int64_t hi) {
      static const char* cons = "bcdfghklmnprstvz";
      static const char* vow = "aeiou";
      for (;;) {
        int64_t n = rng.range(lo, hi);
        std::string w;
        bool v = rng.bernoulli(0.3);
        for (int64_t i = 0; i < n; ++i, v = !v) w += v ? vow[rng.below(5)] : cons[rng.below(16)];
        if (used.insert(w).second) return w;
      }
    };
    for (int f = 0; f < 2; ++f)
      for (int i = 0; i < kMarkersPerFamily; ++i) markers[f].push_back(fresh(5, 7));
    // Look-alikes: a marker with its last letter changed, and a marker with one letter added.
    for (int f = 0; f < 2; ++f)
      for (const std::string& m : markers[f]) {
        for (int k = 0; k < 2; ++k) {
          for (;;) {
            std::string w = m;
            char c = static_cast<char>('a' + rng.below(26));
            if (k == 0) w.back() = c;
            else w += c;
            if (used.insert(w).second) {
              lookalikes.push_back(w);
              break;
            }
          }
        }
      }
    // Plain words of 2..9 letters; the frequent ones (low Zipf rank) are the short ones, as in prose.
    static const int kLenPercent[] = {4, 14, 20, 18, 16, 12, 9, 7};  // lengths 2..9
    for (int len = 2, i = 0; len <= 9; ++len)
      for (int k = 0; k < kLenPercent[len - 2] * kPlainWords / 100 && i < kPlainWords; ++k, ++i)
        plain.push_back(fresh(len, len));
    double s = 0;
    for (int i = 0; i < kPlainWords; ++i) plain_cdf.push_back(s += 1.0 / (i + 2.7));
    for (double& c : plain_cdf) c /= s;
    for (int i = 0; i < kTopicPool; ++i) topic_pool.push_back(fresh(4, 8));
    std::vector<int> idx(kTopicPool);
    for (int i = 0; i < kTopicPool; ++i) idx[static_cast<size_t>(i)] = i;
    for (int t = 0; t < kRetrievalTopics; ++t) {
      rng.shuffle(idx);
      topic_words.emplace_back(idx.begin(), idx.begin() + kWordsPerTopic);
    }
  }

  const std::string& plain_word(Rng& rng) const {
    double u = rng.uniform();
    auto it = std::upper_bound(plain_cdf.begin(), plain_cdf.end(), u);
    size_t i = std::min<size_t>(static_cast<size_t>(it - plain_cdf.begin()), plain.size() - 1);
    return plain[i];
  }
};

const Lexicon& lexicon() {
  static const Lexicon lex;
  return lex;
}

// Appends words as prose: single spaces, a period every 6..15 words.
struct Writer {
  std::string text;
  int64_t max_len;
  int64_t sentence_left = 0;

  // Appends w (with its separator) if it fits; returns false otherwise.
  bool put(Rng& rng, const std::string& w) {
    size_t extra = text.empty() ? 0 : 1;
    bool end_sentence = sentence_left <= 1;
    if (static_cast<int64_t>(text.size() + extra + w.size() + (end_sentence ? 1 : 0)) > max_len) return false;
    if (extra) text += ' ';
    text += w;
    if (end_sentence) {
      text += '.';
      sentence_left = rng.range(6, 15);
    } else {
      --sentence_left;
    }
    return true;
  }
  int64_t size() const { return static_cast<int64_t>(text.size()); }
};

std::vector<int32_t> to_tokens(const std::string& s, int64_t min_len) {
  std::vector<int32_t> t;
  t.reserve(std::max<size_t>(s.size(), static_cast<size_t>(min_len)));
  for (unsigned char c : s) t.push_back(byte_token(c));
  while (static_cast<int64_t>(t.size()) < min_len) t.push_back(byte_token(' '));
  return t;
}

void check_lengths(const char* task, int64_t min_len, int64_t max_len, int64_t smallest) {
  MG_CHECK(max_len >= smallest && min_len >= 1 && min_len <= max_len, "lra",
           "{}: lengths [{}, {}] are not a valid range (max_len must be at least {})", task, min_len, max_len,
           smallest);
}

}  // namespace

const std::vector<std::string>& text_marker_words(int family) { return lexicon().markers[family ? 1 : 0]; }
const std::vector<std::string>& text_lookalike_words() { return lexicon().lookalikes; }

Example generate_text(Rng& rng, int32_t label, int64_t min_len, int64_t max_len) {
  check_lengths("text", min_len, max_len, 64);
  const Lexicon& lex = lexicon();
  for (;;) {
    int64_t target = rng.range(min_len, std::max(min_len, max_len - 12));
    int64_t m = std::max<int64_t>(5, target / 70) + rng.range(0, 2);
    if (m % 2 == 0) ++m;
    int64_t r = rng.below(20), margin = r < 10 ? 1 : r < 17 ? 3 : 5;
    margin = std::min(margin, m);
    int64_t major = (m + margin) / 2;
    // Events: (byte position, word); markers of the label's family win by `margin`.
    std::vector<std::pair<int64_t, const std::string*>> events;
    for (int64_t i = 0; i < m; ++i) {
      int family = i < major ? label : 1 - label;
      const auto& fam = lex.markers[family];
      events.push_back({0, &fam[static_cast<size_t>(rng.below(static_cast<int64_t>(fam.size())))]});
    }
    for (int64_t i = 0, n = m / 2; i < n; ++i)
      events.push_back({0, &lex.lookalikes[static_cast<size_t>(rng.below(static_cast<int64_t>(lex.lookalikes.size())))]});
    for (auto& e : events) e.first = static_cast<int64_t>(rng.uniform(0.01, 0.97) * static_cast<double>(target));
    std::stable_sort(events.begin(), events.end(),  // stable: the same order with any library
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    Writer w{{}, max_len, rng.range(6, 15)};
    bool ok = true;
    for (const auto& [pos, word] : events) {
      while (ok && w.size() < pos) ok = w.put(rng, lex.plain_word(rng));
      ok = ok && w.put(rng, *word);
      if (!ok) break;
    }
    if (!ok) continue;  // did not fit: draw again
    for (int tries = 0; w.size() < target && tries < 8;)
      if (!w.put(rng, lex.plain_word(rng))) ++tries;
    Example ex;
    ex.tokens = to_tokens(w.text, min_len);
    ex.label = label;
    return ex;
  }
}

Example generate_retrieval(Rng& rng, int32_t label, int64_t min_len, int64_t max_len, std::pair<int, int>* topics) {
  check_lengths("retrieval", min_len, max_len, 16);
  const Lexicon& lex = lexicon();
  int t1 = static_cast<int>(rng.below(kRetrievalTopics)), t2 = t1;
  if (!label) t2 = (t1 + 1 + static_cast<int>(rng.below(kRetrievalTopics - 1))) % kRetrievalTopics;
  if (topics) *topics = {t1, t2};
  auto document = [&](int topic) {
    int64_t target = rng.range(min_len, max_len);
    const auto& words = lex.topic_words[static_cast<size_t>(topic)];
    Writer w{{}, target, rng.range(6, 15)};
    for (int tries = 0; tries < 8;) {
      const std::string& word = rng.bernoulli(kTopicWordP)
                                    ? lex.topic_pool[static_cast<size_t>(words[static_cast<size_t>(rng.below(kWordsPerTopic))])]
                                    : lex.plain_word(rng);
      if (!w.put(rng, word)) ++tries;
    }
    return to_tokens(w.text, min_len);
  };
  Example ex;
  ex.tokens = document(t1);
  ex.tokens2 = document(t2);
  ex.label = label;
  return ex;
}

}  // namespace memgrad::lra
