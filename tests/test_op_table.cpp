// The op table covers every op: the list below is every public function of autograd/ops.h (checked
// against the header itself) plus attention(), and each entry must have at least one row in a
// tests/test_op_table_<family>.cpp. A new op in ops.h fails this test until it has an entry and a row.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "op_table.h"

using namespace memgrad;
using namespace memgrad::optable;

namespace {

// Every public op, as rows name them (overloads by parameter types).
const std::vector<std::string> kOps = {
    // creation
    "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "empty_like", "scalar",
    "arange(double, double, double, DType, Device)", "arange(int64_t, DType, Device)", "rand", "randn", "randint",
    "from_vector",
    // copies and conversions
    "to(Tensor, DType)", "to(Tensor, Device)", "contiguous", "clone", "detach",
    // views
    "reshape", "view", "flatten", "transpose", "permute", "narrow", "slice", "split", "select", "expand", "squeeze(Tensor)",
    "squeeze(Tensor, int64_t)", "unsqueeze", "cat", "stack",
    // elementwise
    "add", "sub", "mul", "div", "pow(Tensor, Tensor)", "pow(Tensor, double)", "maximum", "minimum", "neg", "exp", "log",
    "sqrt", "tanh", "sigmoid", "relu", "gelu", "abs",
    // comparisons and logic
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not", "all_finite",
    // operators
    "operator+(Tensor, Tensor)", "operator-(Tensor, Tensor)", "operator*(Tensor, Tensor)", "operator/(Tensor, Tensor)",
    "operator-(Tensor)", "operator+(Tensor, double)", "operator-(Tensor, double)", "operator*(Tensor, double)",
    "operator/(Tensor, double)", "operator+(double, Tensor)", "operator-(double, Tensor)", "operator*(double, Tensor)",
    "operator/(double, Tensor)",
    // reductions
    "sum", "mean", "amax", "amin", "max", "min", "argmax", "sum_to",
    // linear algebra and nn
    "matmul", "linear", "feed_forward", "softmax", "log_softmax", "where", "masked_fill", "layer_norm", "dropout", "index_select", "gather",
    "embedding", "cross_entropy", "topk_linear", "sparse_linear",
    // in-place writes and optimizer updates
    "copy_", "fill_", "zero_", "add_", "sub_", "mul_(Tensor, Tensor)", "mul_(Tensor, double)", "div_", "sgd_step_",
    "adam_step_",
    // checkpointing and gradient checks
    "checkpoint", "gradcheck",
};
// Entries checked elsewhere, with where.
const std::map<std::string, std::string> kElsewhere = {
    {"gradcheck", "the harness runs it on every row; test_ops_semantics.cpp: 'gradcheck reports a wrong backward'"},
};
// Ops of other headers that have rows.
const std::set<std::string> kOtherHeaders = {"attention", "all_reduce_sum"};  // attention.h, collectives.h

std::string name_of(const std::string& entry) { return entry.substr(0, entry.find('(')); }

// name -> number of declarations of the public functions in autograd/ops.h.
std::map<std::string, int> declared_ops() {
  std::ifstream f(std::string(MEMGRAD_SOURCE_DIR) + "/autograd/ops.h");
  REQUIRE_MESSAGE(f.good(), "cannot read autograd/ops.h");
  const std::regex decl(R"(^(Tensor|bool|void|ValuesIndices|std::vector<Tensor>|GradcheckResult) (operator\S+?|\w+)\()");
  std::map<std::string, int> out;
  std::string line;
  std::smatch m;
  while (std::getline(f, line))
    if (std::regex_search(line, m, decl)) ++out[m[2].str()];
  return out;
}

}  // namespace

TEST_CASE("op table: the op list is every public function of autograd/ops.h") {
  std::map<std::string, int> listed;
  for (const std::string& e : kOps) ++listed[name_of(e)];
  std::map<std::string, int> declared = declared_ops();
  CHECK(declared.size() > 80);  // the parse found the header's functions
  for (const auto& [name, n] : declared)
    CHECK_MESSAGE(listed[name] == n, name << " is declared " << n << " times in ops.h, listed " << listed[name] << " times");
  for (const auto& [name, n] : listed) CHECK_MESSAGE(declared.count(name), name << " is listed but not in ops.h");
  CHECK(std::set<std::string>(kOps.begin(), kOps.end()).size() == kOps.size());
}

TEST_CASE("op table: every listed op has a row, every row a listed op") {
  std::map<std::string, int> rows_per_op;
  std::set<std::string> names;
  for (const Family& f : families())
    for (const Row& row : f.rows()) {
      ++rows_per_op[row.op];
      CHECK_MESSAGE(names.insert(f.name + ": " + row.name).second, "two rows named '" << row.name << "' in " << f.name);
      bool known = kOtherHeaders.count(row.op) || std::find(kOps.begin(), kOps.end(), row.op) != kOps.end();
      CHECK_MESSAGE(known, "row '" << row.name << "' covers '" << row.op << "', which is not in the op list");
    }
  for (const std::string& op : kOps)
    CHECK_MESSAGE((rows_per_op[op] > 0 || kElsewhere.count(op)), op << " has no row in the op table");
  for (const std::string& op : kOtherHeaders) CHECK_MESSAGE(rows_per_op[op] > 0, op << " has no row");
  // attention: every kind, causal, key padding and key lengths
  for (const char* what : {"vanilla attention", "chunked attention", "topk attention", "causal", "key padding mask",
                           "key lengths"}) {
    bool found = false;
    for (const Family& f : families())
      for (const Row& row : f.rows()) found |= row.op == "attention" && row.name.find(what) != std::string::npos;
    CHECK_MESSAGE(found, "no attention row for " << what);
  }
  // attention options (issue 15): a row of each in every kind
  for (const char* kind : {"vanilla attention", "chunked attention", "topk attention"})
    for (const char* what : {"sliding window", "attn_mask", "bias", "ALiBi", "relative position table",
                             "grouped-query", "multi-query", "packed", "dropout", "everything"}) {
      bool found = false;
      for (const Family& f : families())
        for (const Row& row : f.rows())
          found |= row.op == "attention" && row.name.rfind(kind, 0) == 0 && row.name.find(what) != std::string::npos;
      CHECK_MESSAGE(found, "no " << kind << " row for " << what);
    }
}
