// memgrad._C.lra: the LRA-style task generators and loaders, batches as numpy arrays (zero-copy
// views of the batch tensors). Generating and loading run without the GIL.
#include "examples/lra/lra.h"

#include "common.h"

namespace memgrad::python {

namespace {

using namespace memgrad::lra;

py::array_t<int32_t> ints(const std::vector<int32_t>& v) {
  py::array_t<int32_t> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

const Example& example_at(const Dataset& ds, Split s, int64_t i) {
  const auto& ex = ds.split(s);
  const auto n = static_cast<int64_t>(ex.size());
  if (i < -n || i >= n)
    throw py::index_error(fmt::format("example {} is out of range for the {} split of {} examples", i, split_name(s), n));
  return ex[static_cast<size_t>(i < 0 ? i + n : i)];
}

py::dict batch_dict(const Batch& b) {
  py::dict d;
  d["tokens"] = to_numpy(b.tokens);
  d["lengths"] = to_numpy(b.lengths);
  d["labels"] = to_numpy(b.labels);
  if (b.tokens2.defined()) {
    d["tokens2"] = to_numpy(b.tokens2);
    d["lengths2"] = to_numpy(b.lengths2);
  }
  return d;
}

// memgrad.lra.Dataset: sizes, examples, labels and padded batches as numpy arrays.
void bind_dataset(py::module_& l) {
  py::class_<Dataset, std::shared_ptr<Dataset>>(l, "Dataset")
      .def_readonly("task", &Dataset::task)
      .def_readonly("vocab_size", &Dataset::vocab_size)
      .def_readonly("num_classes", &Dataset::num_classes)
      .def_readonly("max_len", &Dataset::max_len)
      .def_readonly("pair", &Dataset::pair)
      .def("size", [](const Dataset& ds, const std::string& s) { return ds.split(parse_split(s)).size(); },
           py::arg("split") = "train")
      .def("example", [](const Dataset& ds, const std::string& s, int64_t i) {
        const Example& e = example_at(ds, parse_split(s), i);
        py::dict d;
        d["tokens"] = ints(e.tokens);
        if (ds.pair) d["tokens2"] = ints(e.tokens2);
        d["label"] = e.label;
        return d;
      }, py::arg("split"), py::arg("index"), "One example: {'tokens', ('tokens2',) 'label'}.")
      .def("labels", [](const Dataset& ds, const std::string& s) {
        const auto& ex = ds.split(parse_split(s));
        py::array_t<int64_t> a(static_cast<py::ssize_t>(ex.size()));
        for (size_t i = 0; i < ex.size(); ++i) a.mutable_data()[i] = ex[i].label;
        return a;
      }, py::arg("split") = "train")
      .def("batch", [](const Dataset& ds, const std::string& s, std::vector<int64_t> indices, bool fixed_len) {
        Split sp = parse_split(s);
        Batch b;
        {
          py::gil_scoped_release release;
          b = make_batch(ds, sp, indices, fixed_len);
        }
        return batch_dict(b);
      }, py::arg("split"), py::arg("indices"), py::arg("fixed_len") = false,
      "numpy arrays: tokens int32 [B, L] (0-padded), lengths int64 [B], labels int64 [B] (and tokens2, lengths2 "
      "for pair tasks). L is the longest example, or max_len when fixed_len.")
      .def("__repr__", [](const Dataset& ds) {
        return fmt::format("Dataset(task='{}', vocab_size={}, num_classes={}, max_len={}, train={}, val={}, test={})",
                           ds.task, ds.vocab_size, ds.num_classes, ds.max_len, ds.train.size(), ds.val.size(),
                           ds.test.size());
      });
}

// memgrad.lra.make_task: a task's generator or loader (TaskConfig's fields as keywords).
void bind_make_task(py::module_& l) {
  l.def("make_task", [](const std::string& task, int64_t n_train, int64_t n_val, int64_t n_test, int64_t max_len,
                        int64_t min_len, int64_t image_side, int64_t depth, int64_t args, uint64_t seed,
                        py::handle data_dir, const std::string& difficulty) {
    TaskConfig c;
    c.task = task, c.n_train = n_train, c.n_val = n_val, c.n_test = n_test, c.max_len = max_len, c.min_len = min_len;
    c.image_side = image_side, c.listops_max_depth = depth, c.listops_max_args = args, c.seed = seed;
    c.data_dir = to_path(data_dir, "make_task"), c.pathfinder_difficulty = difficulty;
    py::gil_scoped_release release;
    return std::make_shared<Dataset>(make_task(c));
  }, py::arg("task") = "listops", py::kw_only(), py::arg("n_train") = -1, py::arg("n_val") = -1, py::arg("n_test") = -1,
     py::arg("max_len") = 0, py::arg("min_len") = 0, py::arg("image_side") = 0, py::arg("listops_max_depth") = 10,
     py::arg("listops_max_args") = 10, py::arg("seed") = 0, py::arg("data_dir") = "",
     py::arg("pathfinder_difficulty") = "curv_contour_length_14");
}

// memgrad.lra.BatchSampler.
void bind_batch_sampler(py::module_& l) {
  py::class_<BatchSampler>(l, "BatchSampler", "Seeded epochs of index batches.")
      .def(py::init<int64_t, int64_t, uint64_t, bool, bool>(), py::arg("n"), py::arg("batch_size"), py::arg("seed") = 0,
           py::arg("shuffle") = true, py::arg("drop_last") = false)
      .def("bucket_by", &BatchSampler::bucket_by, py::arg("lengths"), py::arg("pool_batches"),
           "Batches of similar lengths: pools of pool_batches batches sorted by length, then shuffled.")
      .def("epoch", &BatchSampler::epoch, py::arg("epoch"))
      .def("next_epoch", &BatchSampler::next_epoch)
      .def("batches_per_epoch", &BatchSampler::batches_per_epoch)
      .def("__len__", &BatchSampler::batches_per_epoch);
}

// The ListOps tokenizer, evaluator and printer.
void bind_listops(py::module_& l) {
  l.def("listops_tokenize", [](const std::string& s) { return ints(listops_tokenize(s)); }, py::arg("source"));
  l.def("listops_eval", [](std::vector<int32_t> tokens) { return listops_eval(tokens); }, py::arg("tokens"));
  l.def("listops_to_string", [](std::vector<int32_t> tokens) { return listops_to_string(tokens); }, py::arg("tokens"));
}

}  // namespace

void bind_lra(py::module_& m) {
  py::module_ l = m.def_submodule("lra", "Long Range Arena-style tasks (generators and loaders).");
  l.def("task_names", &task_names);
  bind_dataset(l);
  bind_make_task(l);
  bind_batch_sampler(l);
  bind_listops(l);
}

}  // namespace memgrad::python
