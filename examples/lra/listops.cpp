// ListOps: LRA's tree generator, the evaluator and the tokenizer of LRA's source text.
#include "examples/lra/listops.h"

#include <algorithm>
#include <array>

#include "core/error.h"
#include "examples/lra/io_util.h"

namespace memgrad::lra {

using namespace listops;

int32_t listops_apply(int32_t op, std::vector<int32_t> args) {
  MG_CHECK(!args.empty(), "lra", "listops operator {} has no arguments", op);
  switch (op) {
    case kMin: return *std::min_element(args.begin(), args.end());
    case kMax: return *std::max_element(args.begin(), args.end());
    case kSum: {
      int64_t s = 0;
      for (int32_t a : args) s += a;
      return static_cast<int32_t>(s % 10);
    }
    case kMed: {  // int(np.median(args)): the mean of the two middle values, rounded down
      std::sort(args.begin(), args.end());
      size_t n = args.size();
      return n % 2 ? args[n / 2] : (args[n / 2 - 1] + args[n / 2]) / 2;
    }
    default: fail("lra", "listops token {} is not an operator", op);
  }
}

namespace {

constexpr int64_t kMaxArgsLimit = 64;

// One recursive draw in LRA's order of random calls; returns -1 once the token count passes
// max_len (the tree would be rejected anyway, so it is abandoned early).
struct TreeDraw {
  Rng& rng;
  const ListOpsParams& p;
  std::vector<int32_t>& out;

  int32_t node(int64_t depth) {
    double r = depth < p.max_depth ? rng.uniform() : 1.0;
    if (r > 0.25) {  // LRA's VALUE_P: a digit
      int32_t v = static_cast<int32_t>(rng.below(10));
      out.push_back(kDigit0 + v);
      return static_cast<int64_t>(out.size()) > p.max_len ? -1 : v;
    }
    size_t op_at = out.size();
    out.push_back(0);  // the operator is drawn after its arguments, as in LRA
    int64_t n = rng.range(2, p.max_args);
    std::vector<int32_t> vals(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      int32_t v = node(depth + 1);
      if (v < 0) return -1;
      vals[static_cast<size_t>(i)] = v;
    }
    int32_t op = kMin + static_cast<int32_t>(rng.below(4));
    out[op_at] = op;
    out.push_back(kEnd);
    if (static_cast<int64_t>(out.size()) > p.max_len) return -1;
    return listops_apply(op, std::move(vals));
  }
};

}  // namespace

ListOpsTree generate_listops(Rng& rng, const ListOpsParams& p) {
  MG_CHECK(p.min_len >= 1 && p.max_len >= p.min_len, "lra", "listops lengths [{}, {}] are not a valid range",
           p.min_len, p.max_len);
  MG_CHECK(p.max_args >= 2 && p.max_args <= kMaxArgsLimit, "lra", "listops max_args {} is not in [2, {}]",
           p.max_args, kMaxArgsLimit);
  MG_CHECK(p.max_depth >= 1, "lra", "listops max_depth {} must be at least 1", p.max_depth);
  ListOpsTree t;
  t.tokens.reserve(static_cast<size_t>(std::min<int64_t>(p.max_len + 1, 4096)));
  constexpr int64_t kMaxTries = 20'000'000;
  for (int64_t tries = 0; tries < kMaxTries; ++tries) {
    t.tokens.clear();
    int32_t v = TreeDraw{rng, p, t.tokens}.node(1);
    if (v >= 0 && static_cast<int64_t>(t.tokens.size()) >= p.min_len) {
      t.value = v;
      return t;
    }
  }
  fail("lra", "listops: no tree with length in [{}, {}] in {} tries (max_depth {}, max_args {})", p.min_len,
       p.max_len, kMaxTries, p.max_depth, p.max_args);
}

std::vector<int32_t> listops_tokenize(std::string_view s) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    size_t j = i;
    while (j < s.size() && !(s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n')) ++j;
    if (j == i) break;
    std::string_view w = s.substr(i, j - i);
    i = j;
    if (w == "(" || w == ")") continue;
    if (w.size() == 1 && w[0] >= '0' && w[0] <= '9') out.push_back(kDigit0 + (w[0] - '0'));
    else if (w == "]") out.push_back(kEnd);
    else if (w == "[MIN") out.push_back(kMin);
    else if (w == "[MAX") out.push_back(kMax);
    else if (w == "[MED") out.push_back(kMed);
    else if (w == "[SM") out.push_back(kSum);
    else fail("lra", "unknown ListOps token '{}'", io::quote(w));
  }
  return out;
}

int32_t listops_eval(const std::vector<int32_t>& tokens) {
  struct Frame {
    int32_t op;
    std::vector<int32_t> args;
  };
  std::vector<Frame> stack;
  int32_t result = -1;
  int64_t top_level = 0;
  auto emit = [&](int32_t v) {
    if (stack.empty()) {
      result = v;
      ++top_level;
    } else {
      stack.back().args.push_back(v);
    }
  };
  for (size_t i = 0; i < tokens.size(); ++i) {
    int32_t t = tokens[i];
    if (t >= kDigit0 && t < kDigit0 + 10) {
      emit(t - kDigit0);
    } else if (t >= kMin && t <= kSum) {
      stack.push_back({t, {}});
    } else if (t == kEnd) {
      MG_CHECK(!stack.empty(), "lra", "listops: ']' at token {} closes nothing", i);
      MG_CHECK(!stack.back().args.empty(), "lra", "listops: operator closed at token {} has no arguments", i);
      Frame f = std::move(stack.back());
      stack.pop_back();
      emit(listops_apply(f.op, std::move(f.args)));
    } else {
      fail("lra", "listops: token id {} at position {} is not in the vocabulary", t, i);
    }
  }
  MG_CHECK(stack.empty(), "lra", "listops: {} operator(s) not closed", stack.size());
  MG_CHECK(top_level == 1, "lra", "listops: expected one expression, got {}", top_level);
  return result;
}

std::string listops_to_string(const std::vector<int32_t>& tokens) {
  static const std::array<const char*, kVocab> names = {"<pad>", "0", "1", "2", "3", "4", "5", "6",
                                                         "7",     "8", "9", "[MIN", "[MAX", "[MED", "[SM", "]"};
  std::string s;
  for (int32_t t : tokens) {
    if (!s.empty()) s += ' ';
    s += (t >= 0 && t < kVocab) ? names[static_cast<size_t>(t)] : "?";
  }
  return s;
}

}  // namespace memgrad::lra
