// Image generator: 10 procedurally drawn shape classes on noisy gray backgrounds.
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "examples/lra/generators.h"

namespace memgrad::lra {

const char* image_class_name(int label) {
  static const char* names[kImageClasses] = {"disk",      "square", "triangle", "cross", "horizontal bars",
                                             "vertical bars", "diagonal line", "ring", "two dots", "checkerboard"};
  MG_CHECK(label >= 0 && label < kImageClasses, "lra", "image class {} is not in [0, {})", label, kImageClasses);
  return names[label];
}

Example generate_image(Rng& rng, int32_t label, int64_t side) {
  MG_CHECK(label >= 0 && label < kImageClasses, "lra", "image class {} is not in [0, {})", label, kImageClasses);
  MG_CHECK(side >= 8, "lra", "image side {} is too small (at least 8)", side);
  const double S = static_cast<double>(side);
  double bg = rng.uniform(0, 255), fg;
  do fg = rng.uniform(0, 255);
  while (std::abs(fg - bg) < 60);
  const double cx = rng.uniform(0.35, 0.65) * S, cy = rng.uniform(0.35, 0.65) * S;
  const double r = rng.uniform(0.18, 0.32) * S;                                   // half extent
  const double rot = (label == 0 || label == 7) ? 0.0 : rng.uniform(-0.35, 0.35);  // about +-20 degrees
  const double cs = std::cos(rot), sn = std::sin(rot);
  const double width = std::max(1.0, r * rng.uniform(0.18, 0.3));  // strokes: cross, line
  const double period = std::max(3.0, r * rng.uniform(0.4, 0.6));   // bars and checker cells
  const double inner = r * rng.uniform(0.45, 0.65);                 // ring hole
  const double noise = rng.uniform(4, 20);

  auto inside = [&](double dx, double dy) {
    double u = cs * dx + sn * dy, v = -sn * dx + cs * dy;  // shape frame
    double au = std::abs(u), av = std::abs(v), d = std::sqrt(dx * dx + dy * dy);
    bool box = au <= r && av <= r;
    switch (label) {
      case 0: return d <= r;
      case 1: return au <= 0.85 * r && av <= 0.85 * r;
      case 2: return v >= -r && v <= r && au <= 0.5 * (v + r);  // apex up
      case 3: return (au <= width && av <= r) || (av <= width && au <= r);
      case 4: return box && static_cast<int64_t>(std::floor((v + r) / period)) % 2 == 0;
      case 5: return box && static_cast<int64_t>(std::floor((u + r) / period)) % 2 == 0;
      case 6: return box && std::abs(u - v) <= width * 1.41421356;
      case 7: return d <= r && d >= inner;
      case 8: {
        double rr = 0.38 * r, a = u - 0.6 * r, b = u + 0.6 * r;
        return a * a + v * v <= rr * rr || b * b + v * v <= rr * rr;
      }
      default: {  // 9: checkerboard
        int64_t i = static_cast<int64_t>(std::floor((u + r) / period)), j = static_cast<int64_t>(std::floor((v + r) / period));
        return box && (i + j) % 2 == 0;
      }
    }
  };
  Example ex;
  ex.label = label;
  ex.tokens.resize(static_cast<size_t>(side * side));
  for (int64_t y = 0; y < side; ++y)
    for (int64_t x = 0; x < side; ++x) {
      double value = inside(x + 0.5 - cx, y + 0.5 - cy) ? fg : bg;
      value = std::clamp(std::round(value + noise * rng.normal()), 0.0, 255.0);
      ex.tokens[static_cast<size_t>(y * side + x)] = byte_token(static_cast<uint8_t>(value));
    }
  return ex;
}

}  // namespace memgrad::lra
