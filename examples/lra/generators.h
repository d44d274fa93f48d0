#pragma once
// The seeded generators of Text, Retrieval, Image and Pathfinder / Path-X (ListOps: listops.h).
// Each call draws one example of the given label from `rng`; make_task gives every example its
// own stream, so the data depend only on (seed, split, index).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "examples/lra/dataset.h"
#include "examples/lra/rng.h"

namespace memgrad::lra {

// ---- Text (text_gen.cpp) ----
// A document of pseudo-words in sentences (byte tokens, length in [min_len, max_len], max_len >=
// 64). Two families of 8 marker words, A (family 1) and B (family 0), occur at an odd number m of
// places spread uniformly over the whole document (m = max(5, length / 70) + 0..2, made odd); the
// label is 1 when A words outnumber B words, 0 otherwise. The majority wins by 1, 3 or 5 words
// (probabilities 0.5, 0.35, 0.15), so no part of the document decides the label alone. Noise:
// m / 2 look-alike words (a marker with its last letter changed or a letter added; they count for
// nothing) and a Zipf-distributed vocabulary of 3000 plain words. The lexicon is fixed (the same
// for every seed); the seed changes the documents.
Example generate_text(Rng& rng, int32_t label, int64_t min_len, int64_t max_len);
// The marker words (family 0 = B, counts for label 0; family 1 = A) and their look-alikes.
const std::vector<std::string>& text_marker_words(int family);
const std::vector<std::string>& text_lookalike_words();

// ---- Retrieval (text_gen.cpp) ----
// Two documents (byte tokens, lengths in [min_len, max_len]), each drawn from a hidden topic: 32
// topics, each with 24 topic words taken from a shared pool of 384 (topics overlap). A word is
// one of its topic's words with probability 0.2, else a Zipf-distributed common word. Label 1:
// both documents share the topic; label 0: different topics. `topics`, when given, receives the
// two hidden topics.
constexpr int kRetrievalTopics = 32;
Example generate_retrieval(Rng& rng, int32_t label, int64_t min_len, int64_t max_len,
                           std::pair<int, int>* topics = nullptr);

// ---- Image (image_gen.cpp) ----
// side x side gray images (tokens g + 1) of 10 shape classes with random position, size,
// rotation, foreground/background levels (at least 60 apart) and Gaussian noise:
// 0 disk, 1 square, 2 triangle, 3 cross, 4 horizontal bars, 5 vertical bars, 6 diagonal line,
// 7 ring, 8 two dots, 9 checkerboard.
constexpr int kImageClasses = 10;
const char* image_class_name(int label);
Example generate_image(Rng& rng, int32_t label, int64_t side);

// ---- Pathfinder / Path-X (pathfinder_gen.cpp) ----
// side x side images on a black background: two long dashed curved contours (14 "paddles" with
// gaps, each paddle turning by a random angle), short dashed distractor contours (4 paddles, 5 of
// them at side 32; 5 paddles, 7 of them at 128), no contour within a clearance of another or of
// itself, and two round markers (radius 1.5 at 32, 3 at 128). Label 1: the markers sit on the two
// ends of the same long contour; label 0: one marker on an end of each long contour. Both classes
// draw the same things; only the markers' placement differs.
Example generate_pathfinder(Rng& rng, int32_t label, int64_t side);

}  // namespace memgrad::lra
