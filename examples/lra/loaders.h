#pragma once
// Loaders for the official LRA files. make_task calls them when TaskConfig::data_dir is set; each
// fills a Dataset with the same vocabulary as the task's generator (see dataset.h). Sizes in the
// config (n_train, n_val, n_test >= 0) keep a seeded random subset of a split; -1 keeps it all.
// Malformed input throws memgrad::Error naming the file and the line or record (the parsers under
// the loaders, on bytes in memory, are in parsers.h). Text files may start with a UTF-8 BOM.
//
// ListOps  <dir>/basic_{train,val,test}.tsv: header "Source\tTarget", then one example a line:
//          the source as LRA writes it ("( ( [MAX 2 ) 9 ] )": "(" and ")" dropped, "]" a token)
//          and a label in [0, 10). Sources longer than max_len are cut to max_len.
// Text     <dir>/aclImdb/{train,test}/{neg,pos}/*.txt (or <dir>/{train,test}/... directly): label
//          neg 0, pos 1; files read in sorted name order, bytes as tokens cut to max_len. val is a
//          seeded random n_val of train (default 10%), removed from train.
// Retrieval <dir>/new_aan_pairs.{train,eval,test}.tsv: no header; lines label\tid1\tid2\ttext1\ttext2
//          with label 0 or 1 (also written 0.0 / 1.0); texts as bytes, each cut to max_len.
// Image    <dir>/data_batch_{1..5}.bin and test_batch.bin (or under <dir>/cifar-10-batches-bin):
//          records of 1 label byte + 1024 R + 1024 G + 1024 B bytes; gray = round(0.299 R +
//          0.587 G + 0.114 B), computed exactly as (299 R + 587 G + 114 B + 500) / 1000. As in LRA,
//          val is the last 10% of the training records (the last n_val when n_val >= 0).
// Pathfinder / Path-X  <base>/metadata/*.npy and <base>/imgs/<k>/sample_<i>.png, where <base> is
//          <dir> when it holds metadata/, else <dir>/<pathfinder_difficulty> (e.g.
//          lra_release/pathfinder32/curv_contour_length_14). As LRA's TFDS builder reads them, the
//          .npy metadata files are text: each non-blank line has at least 4 blank-separated
//          fields; field 1 is the image folder relative to <base>, field 2 the file name, field 4
//          the label (0 or 1); other fields are ignored: "imgs/0 sample_0.png 0 1 ...". Metadata
//          files are read in numeric order of their names (0.npy, 1.npy, ..., 10.npy), lines in
//          order; as LRA, the first 80% of the examples are train, the next 10% val, the last
//          10% test. Image paths must stay inside <base>: absolute paths, ".." components and
//          symbolic links that lead out of it are errors naming the metadata file and line.
//          PNGs are decoded to 1 channel with stb_image and must be side x side (checked on the
//          header, before decoding); empty (0-byte) image files are skipped, as LRA filters them out.
#include <cstdint>
#include <string>

#include "examples/lra/dataset.h"

namespace memgrad::lra {

Dataset load_listops(const TaskConfig& cfg, int64_t max_len);
Dataset load_imdb(const TaskConfig& cfg, int64_t max_len);
Dataset load_aan(const TaskConfig& cfg, int64_t max_len);
Dataset load_cifar10(const TaskConfig& cfg);
Dataset load_pathfinder(const TaskConfig& cfg, int64_t side);

}  // namespace memgrad::lra
