// The safetensors header as a stream of JSON events (nlohmann's SAX interface, which does not
// recurse): a small state machine fills the entries directly, so no JSON tree is built and no
// untrusted value is ever dumped whole into a message.
#include "nn/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/escape.h"
#include "nn/serialization.h"

namespace memgrad::safetensors {

namespace {

using json = nlohmann::json;
using Limits = SafetensorsLimits;
constexpr const char* kOp = "load_safetensors";
constexpr size_t kShown = 60;  // bytes of a value from the file shown in a message

bool parse_dtype(std::string_view s, DType& out) {
  for (DType t : {DType::float32, DType::float64, DType::int32, DType::int64, DType::boolean})
    if (s == dtype_name(t)) return out = t, true;
  return false;
}

std::string shown_string(std::string_view s) {
  std::string out = escape_bytes(s, kShown);
  out.insert(out.begin(), '"');
  return out += '"';
}

enum class Field { dtype, shape, data_offsets, other };

class Reader : public nlohmann::json_sax<json> {
 public:
  explicit Reader(const std::string& file) : file_(file) {}
  Header header;

  bool null() override { return scalar("null"); }
  bool boolean(bool v) override { return scalar(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override {
    if (v >= 0) return number_unsigned(static_cast<uint64_t>(v));
    return scalar(std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (skip_ > 0 || depth_ != 3) return scalar(std::to_string(v));
    if (field_ == Field::shape) {
      MG_CHECK(entry_.shape.size() < Limits::max_dims, kOp, "{}: shape has more than {} dims", where(),
               Limits::max_dims);
      MG_CHECK(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), kOp, "{}: shape dim {} is too large",
               where(), v);
      entry_.shape.push_back(static_cast<int64_t>(v));
    } else {
      MG_CHECK(offsets_ < 2, kOp, "{}: data_offsets must be [begin, end], got more than 2 values", where());
      (offsets_++ == 0 ? entry_.begin : entry_.end) = v;
    }
    return true;
  }
  bool number_float(number_float_t, const string_t& text) override { return scalar(escape_bytes(text, kShown)); }
  bool string(string_t& v) override {
    if (skip_ > 0) return true;
    if (depth_ == 2 && in_metadata_) {
      MG_CHECK(header.metadata.try_emplace(key_, std::move(v)).second, kOp,
               "'{}': __metadata__ has the key '{}' twice", file_, escape_bytes(key_));
      return true;
    }
    if (depth_ == 2 && field_ == Field::dtype) {
      MG_CHECK(parse_dtype(v, entry_.dtype), kOp,
               "{}: unsupported dtype {} (memgrad reads F32, F64, I32, I64, BOOL; convert others before saving)",
               where(), shown_string(v));
      return true;
    }
    return scalar(shown_string(v));
  }
  bool binary(binary_t&) override { return scalar("binary data"); }

  bool start_object(std::size_t) override { return open('{'); }
  bool start_array(std::size_t) override { return open('['); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool key(string_t& k) override {
    if (skip_ > 0) return true;
    if (depth_ == 1) {
      if (k == "__metadata__") {
        MG_CHECK(!metadata_seen_, kOp, "'{}': the header has \"__metadata__\" twice", file_);
        metadata_seen_ = in_metadata_ = true;
      } else {
        MG_CHECK(!k.empty(), kOp, "'{}': a tensor has an empty name", file_);  // save_safetensors writes none
        MG_CHECK(header.entries.size() < Limits::max_tensors, kOp,
                 "'{}': the header lists more than {} tensors, the limit (SafetensorsLimits::max_tensors)", file_,
                 Limits::max_tensors);
        in_metadata_ = false;
        entry_ = Entry{};
        entry_.name = std::move(k);
      }
    } else if (depth_ == 2 && in_metadata_) {
      key_ = std::move(k);
    } else if (depth_ == 2) {
      field_ = k == "dtype" ? Field::dtype : k == "shape" ? Field::shape : k == "data_offsets" ? Field::data_offsets
                                                                                              : Field::other;
      if (field_ != Field::other) {
        const unsigned bit = 1u << static_cast<unsigned>(field_);
        MG_CHECK(!(fields_ & bit), kOp, "{}: \"{}\" appears twice", where(), k);
        fields_ |= bit;
      }
    }
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    fail(kOp, "'{}': header is not valid JSON (at byte {} of the header): {}", file_, position,
         escape_bytes(e.what(), 200));
  }

  // After the parse: the checks across entries.
  void finish() {
    std::vector<const Entry*> by_name;
    by_name.reserve(header.entries.size());
    for (const Entry& e : header.entries) by_name.push_back(&e);
    std::sort(by_name.begin(), by_name.end(), [](const Entry* a, const Entry* b) { return a->name < b->name; });
    for (size_t i = 1; i < by_name.size(); ++i)
      MG_CHECK(by_name[i - 1]->name != by_name[i]->name, kOp, "'{}': the header lists tensor '{}' twice", file_,
               escape_bytes(by_name[i]->name));
  }

 private:
  const std::string& file_;
  int depth_ = 0;         // open containers we follow: 1 the root, 2 an entry or __metadata__, 3 an array in an entry
  size_t skip_ = 0;       // > 0 inside the value of an unknown field: containers open there
  bool in_metadata_ = false, metadata_seen_ = false;
  Entry entry_;
  Field field_ = Field::other;
  unsigned fields_ = 0;   // bit per Field seen in the current entry
  int offsets_ = 0;       // values read into data_offsets
  std::string key_;       // the current __metadata__ key

  std::string where() const { return fmt::format("'{}': tensor '{}'", file_, escape_bytes(entry_.name)); }

  // A value where the format wants something else: says what was expected, shows what came.
  [[noreturn]] void unexpected(const std::string& got) const {
    if (depth_ == 0) fail(kOp, "'{}': header must be a JSON object, got {}", file_, got);
    if (depth_ == 1 && in_metadata_) fail(kOp, "'{}': __metadata__ must be an object of strings, got {}", file_, got);
    if (depth_ == 1) fail(kOp, "{}: entry must be an object, got {}", where(), got);
    if (in_metadata_) fail(kOp, "'{}': __metadata__ '{}' must be a string, got {}", file_, escape_bytes(key_), got);
    if (depth_ == 2 && field_ == Field::dtype) fail(kOp, "{}: dtype must be a string, got {}", where(), got);
    if (depth_ == 2) fail(kOp, "{}: {} must be an array, got {}", where(), field_name(), got);
    if (field_ == Field::shape) fail(kOp, "{}: shape must hold non-negative integers, got {}", where(), got);
    fail(kOp, "{}: data_offsets must hold non-negative integers, got {}", where(), got);
  }

  const char* field_name() const { return field_ == Field::shape ? "shape" : "data_offsets"; }

  bool scalar(const std::string& shown) {
    if (skip_ > 0 || (depth_ == 2 && !in_metadata_ && field_ == Field::other)) return true;  // an unknown field
    unexpected(shown);
  }

  bool open(char c) {
    const char* what = c == '{' ? "an object" : "an array";
    if (skip_ > 0 || (depth_ == 2 && !in_metadata_ && field_ == Field::other)) {
      MG_CHECK(++skip_ <= Limits::max_ignored_nesting, kOp, "{}: an unknown field nests deeper than {} levels",
               where(), Limits::max_ignored_nesting);
      return true;
    }
    const bool wanted = (depth_ == 0 && c == '{') || (depth_ == 1 && c == '{') ||
                        (depth_ == 2 && c == '[' && !in_metadata_ && field_ != Field::dtype);
    if (!wanted) unexpected(what);
    if (depth_ == 1 && !in_metadata_) fields_ = 0;
    if (depth_ == 2) offsets_ = 0;
    ++depth_;
    return true;
  }

  bool close() {
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    --depth_;
    if (depth_ == 2 && field_ == Field::data_offsets)
      MG_CHECK(offsets_ == 2, kOp, "{}: data_offsets must be [begin, end], got {} value{}", where(), offsets_,
               offsets_ == 1 ? "" : "s");
    if (depth_ == 1 && !in_metadata_) finish_entry();
    if (depth_ == 1) field_ = Field::other;
    return true;
  }

  void finish_entry() {
    for (Field f : {Field::dtype, Field::shape, Field::data_offsets})
      MG_CHECK(fields_ & (1u << static_cast<unsigned>(f)), kOp, "{}: missing \"{}\"", where(),
               f == Field::dtype ? "dtype" : f == Field::shape ? "shape" : "data_offsets");
    Entry& e = entry_;
    // span: the product of max(dim, 1), which the strides reach even when a dim is 0
    uint64_t nbytes = itemsize(e.dtype), span = itemsize(e.dtype);
    for (int64_t d : e.shape)
      MG_CHECK(!__builtin_mul_overflow(nbytes, static_cast<uint64_t>(d), &nbytes) &&
                   !__builtin_mul_overflow(span, std::max<uint64_t>(static_cast<uint64_t>(d), 1), &span) &&
                   span <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
               kOp, "{}: shape {} is too large", where(), str(e.shape));
    MG_CHECK(e.begin <= e.end, kOp, "{}: data_offsets [{}, {}] are out of order", where(), e.begin, e.end);
    MG_CHECK(e.end - e.begin == nbytes, kOp, "{}: data_offsets [{}, {}] hold {} bytes but shape {} of {} needs {}",
             where(), e.begin, e.end, e.end - e.begin, str(e.shape), dtype_name(e.dtype), nbytes);
    header.entries.push_back(std::move(e));
  }
};

}  // namespace

const char* dtype_name(DType t) {
  switch (t) {
    case DType::float32: return "F32";
    case DType::float64: return "F64";
    case DType::int32: return "I32";
    case DType::int64: return "I64";
    case DType::boolean: return "BOOL";
  }
  return "?";
}

Header parse_header(std::string_view text, const std::string& file) {
  Reader reader(file);
  json::sax_parse(text.begin(), text.end(), &reader);
  reader.finish();
  return std::move(reader.header);
}

}  // namespace memgrad::safetensors
