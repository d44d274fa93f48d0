// Pathfinder / Path-X generator, after Linsley et al. (2018): dashed curved contours made of
// short paddles, distractors, and two markers that sit on one contour (label 1) or two (label 0).
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "examples/lra/generators.h"

namespace memgrad::lra {
namespace {

struct Pt {
  double x, y;
};

struct Params {
  double paddle, gap, thick, marker_r, max_turn, clearance, step;  // step: centreline sampling
  int main_paddles, distractor_paddles, distractors;
};

// LRA's Pathfinder-32 used contour length 14, paddle length 2, margin 1, marker radius 1.5 and
// 20 / (14 / 3) distractor snakes; Path-X (128) the same contour length with longer paddles,
// marker radius 3 and 35 / (14 / 3) distractors. Sides in between scale the large set.
Params params_for(int64_t side) {
  if (side < 64) {  // below 32 the contours shorten with the side
    int paddles = side >= 32 ? 14 : std::max(4, static_cast<int>(14 * side / 32));
    return {1.6, 1.4, 1.0, 1.5, 0.8, 1.2, 1.0, paddles, 4, 5};
  }
  double f = static_cast<double>(side) / 128.0;
  return {5.0 * f, 2.5 * f, 1.6 * f, 3.0 * f, 0.45, 2.5 * f, 1.0, 14, 5, 7};
}

struct Path {
  std::vector<std::pair<Pt, Pt>> paddles;
  std::vector<Pt> samples;  // the centreline every `step`, gaps included
  Pt end0, end1;
};

class Canvas {
 public:
  Canvas(int64_t side, const Params& p) : side_(side), p_(p), img_(size(), 0.f), occ_(size(), 0), self_(size(), -1) {}

  // Draws a random contour of n paddles that stays inside the margins and keeps `clearance` from
  // everything already placed and from itself. Each paddle turns by a random angle within
  // max_turn; a paddle that would leave the image or touch something draws its turn again (up
  // to 8 times), which bends contours away from obstacles. Returns false when this try failed.
  bool try_path(Rng& rng, int n, Path& out) {
    const double margin = p_.marker_r + 1.0, S = static_cast<double>(side_);
    Pt pos{rng.uniform(margin, S - margin), rng.uniform(margin, S - margin)};
    double heading = rng.uniform(0, 6.283185307179586);
    out = Path{};
    out.end0 = pos;
    for (int64_t i : touched_) self_[static_cast<size_t>(i)] = -1;
    touched_.clear();
    const double radius = p_.clearance + p_.thick;
    const int64_t window = static_cast<int64_t>(std::ceil((radius + 1.5) / p_.step)) + 1;
    std::vector<Pt> seg;
    for (int k = 0; k < n; ++k) {
      const double len = p_.paddle + (k + 1 < n ? p_.gap : 0.0);
      const int steps = static_cast<int>(std::ceil(len / p_.step));
      bool ok = false;
      double h = heading;
      for (int attempt = 0; attempt < 8 && !ok; ++attempt) {
        h = k == 0 && attempt == 0 ? heading : k == 0 ? rng.uniform(0, 6.283185307179586)
                                                      : heading + rng.uniform(-p_.max_turn, p_.max_turn);
        seg.clear();
        ok = true;
        const double c = std::cos(h), sn = std::sin(h);
        for (int s = 1; s <= steps && ok; ++s) {
          double t = std::min(len, s * p_.step);
          Pt q{pos.x + t * c, pos.y + t * sn};
          if (q.x < margin || q.y < margin || q.x > S - margin || q.y > S - margin) ok = false;
          else {
            size_t pix = static_cast<size_t>(index(q));
            int64_t j = static_cast<int64_t>(out.samples.size() + seg.size());
            ok = !occ_[pix] && !(self_[pix] >= 0 && j - self_[pix] > window);
          }
          seg.push_back(q);
        }
      }
      if (!ok) return false;
      heading = h;
      for (const Pt& q : seg) {
        int64_t j = static_cast<int64_t>(out.samples.size());
        out.samples.push_back(q);
        stamp(q, radius, [&](int64_t i) {
          if (self_[static_cast<size_t>(i)] < 0) touched_.push_back(i);
          self_[static_cast<size_t>(i)] = j;
        });
      }
      Pt d{std::cos(heading), std::sin(heading)};
      out.paddles.push_back({pos, {pos.x + p_.paddle * d.x, pos.y + p_.paddle * d.y}});
      pos = {pos.x + len * d.x, pos.y + len * d.y};
    }
    out.end1 = out.paddles.back().second;
    return true;
  }

  // Marks a placed path (and discs around its ends, where markers may go) as taken; draws it.
  void place(const Path& path) {
    double radius = p_.clearance + p_.thick;
    for (const Pt& q : path.samples) stamp(q, radius, [&](int64_t i) { occ_[static_cast<size_t>(i)] = 1; });
    for (const Pt& e : {path.end0, path.end1})
      stamp(e, p_.marker_r + p_.clearance + 1.0, [&](int64_t i) { occ_[static_cast<size_t>(i)] = 1; });
    for (const auto& [a, b] : path.paddles) draw_segment(a, b);
  }

  void draw_marker(Pt c) {
    paint(c.x - p_.marker_r - 1, c.x + p_.marker_r + 1, c.y - p_.marker_r - 1, c.y + p_.marker_r + 1, [&](Pt q) {
      return p_.marker_r + 0.5 - std::hypot(q.x - c.x, q.y - c.y);
    });
  }

  std::vector<int32_t> tokens() const {
    std::vector<int32_t> t(img_.size());
    for (size_t i = 0; i < img_.size(); ++i)
      t[i] = byte_token(static_cast<uint8_t>(std::lround(std::clamp(img_[i], 0.f, 1.f) * 255.f)));
    return t;
  }

 private:
  size_t size() const { return static_cast<size_t>(side_ * side_); }
  int64_t index(Pt q) const {
    int64_t x = std::clamp<int64_t>(static_cast<int64_t>(q.x), 0, side_ - 1);
    int64_t y = std::clamp<int64_t>(static_cast<int64_t>(q.y), 0, side_ - 1);
    return y * side_ + x;
  }
  // Calls f on every pixel whose centre lies within r of c.
  template <class F>
  void stamp(Pt c, double r, F f) {
    int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(c.x - r))),
            x1 = std::min<int64_t>(side_ - 1, static_cast<int64_t>(std::ceil(c.x + r)));
    int64_t y0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(c.y - r))),
            y1 = std::min<int64_t>(side_ - 1, static_cast<int64_t>(std::ceil(c.y + r)));
    for (int64_t y = y0; y <= y1; ++y)
      for (int64_t x = x0; x <= x1; ++x) {
        double dx = x + 0.5 - c.x, dy = y + 0.5 - c.y;
        if (dx * dx + dy * dy <= r * r) f(y * side_ + x);
      }
  }
  // Max-blends coverage(pixel centre) (clamped to [0, 1]) over a box.
  template <class F>
  void paint(double xa, double xb, double ya, double yb, F coverage) {
    int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(xa))),
            x1 = std::min<int64_t>(side_ - 1, static_cast<int64_t>(std::ceil(xb)));
    int64_t y0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(ya))),
            y1 = std::min<int64_t>(side_ - 1, static_cast<int64_t>(std::ceil(yb)));
    for (int64_t y = y0; y <= y1; ++y)
      for (int64_t x = x0; x <= x1; ++x) {
        float v = static_cast<float>(std::clamp(coverage(Pt{x + 0.5, y + 0.5}), 0.0, 1.0));
        float& px = img_[static_cast<size_t>(y * side_ + x)];
        px = std::max(px, v);
      }
  }
  void draw_segment(Pt a, Pt b) {
    double h = p_.thick / 2 + 1;
    paint(std::min(a.x, b.x) - h, std::max(a.x, b.x) + h, std::min(a.y, b.y) - h, std::max(a.y, b.y) + h, [&](Pt q) {
      double vx = b.x - a.x, vy = b.y - a.y, wx = q.x - a.x, wy = q.y - a.y;
      double t = std::clamp((wx * vx + wy * vy) / (vx * vx + vy * vy), 0.0, 1.0);
      return p_.thick / 2 + 0.5 - std::hypot(wx - t * vx, wy - t * vy);
    });
  }

  int64_t side_;
  Params p_;
  std::vector<float> img_;
  std::vector<uint8_t> occ_;   // pixels taken by placed paths and marker sites
  std::vector<int64_t> self_;  // sample index that last claimed a pixel, for the path being drawn
  std::vector<int64_t> touched_;
};

}  // namespace

Example generate_pathfinder(Rng& rng, int32_t label, int64_t side) {
  MG_CHECK(label == 0 || label == 1, "lra", "pathfinder label {} is not 0 or 1", label);
  MG_CHECK(side >= 16 && side <= 1024, "lra", "pathfinder side {} is not in [16, 1024]", side);
  const Params p = params_for(side);
  for (int attempt = 0;; ++attempt) {
    MG_CHECK(attempt < 10000, "lra", "pathfinder: could not place two contours on a {}x{} image", side, side);
    Canvas canvas(side, p);
    Path a, b;
    auto place_one = [&](int paddles, Path& out, int tries) {
      for (int t = 0; t < tries; ++t)
        if (canvas.try_path(rng, paddles, out)) {
          canvas.place(out);
          return true;
        }
      return false;
    };
    if (!place_one(p.main_paddles, a, 200) || !place_one(p.main_paddles, b, 200)) continue;
    Pt m0 = rng.bernoulli(0.5) ? a.end0 : a.end1;
    Pt m1 = label ? (m0.x == a.end0.x && m0.y == a.end0.y ? a.end1 : a.end0) : (rng.bernoulli(0.5) ? b.end0 : b.end1);
    if (std::hypot(m0.x - m1.x, m0.y - m1.y) < 4 * p.marker_r + 2) continue;  // markers must stand apart
    Path d;
    for (int i = 0; i < p.distractors; ++i) place_one(p.distractor_paddles, d, 20);
    canvas.draw_marker(m0);
    canvas.draw_marker(m1);
    Example ex;
    ex.tokens = canvas.tokens();
    ex.label = label;
    return ex;
  }
}

}  // namespace memgrad::lra
