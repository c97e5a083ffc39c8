#include "vision/gallery.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace caregate::vision {

namespace {

// IEEE 754 half precision, by hand (round to nearest even), so no particular CPU is needed to store.
uint16_t to_half(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    int32_t exp = int32_t((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffffu;
    if (exp >= 31) return uint16_t(sign | 0x7c00u);  // too large (descriptors never are): infinity
    if (exp <= 0) {                                  // subnormal or zero
        if (exp < -10) return uint16_t(sign);
        mant |= 0x800000u;
        uint32_t shift = uint32_t(14 - exp);
        uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) ++h;
        return uint16_t(sign | h);
    }
    uint32_t h = (uint32_t(exp) << 10) | (mant >> 13), rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;  // may carry into the exponent: correct
    return uint16_t(sign | h);
}

float from_half(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, x;
    if (exp == 0) {
        if (mant == 0) {
            x = sign;
        } else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while (!(mant & 0x400u)) mant <<= 1, --exp;
            x = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        x = sign | 0x7f800000u | (mant << 13);
    } else {
        x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}

struct Scan {
    float best = 1e30f, second = 1e30f;
    int64_t best_elder = -1;
};

inline void keep(Scan& r, float s, int64_t e) {
    if (s < r.best) {
        if (e != r.best_elder) r.second = r.best;
        r.best = s;
        r.best_elder = e;
    } else if (e != r.best_elder && s < r.second) {
        r.second = s;
    }
}

// One pass: the best template, and the best template of any *other* elder. Halves are widened by
// the CPU where it can (ARM64), else through a 256 KB table built once.
Scan scan_portable(const uint16_t* row, const int64_t* elders, size_t n, const float* q, size_t dim) {
#if !defined(__aarch64__)
    static const std::vector<float> widen = [] {
        std::vector<float> t(65536);
        for (uint32_t h = 0; h < 65536; ++h) t[h] = from_half(uint16_t(h));
        return t;
    }();
#endif
    Scan r;
    for (size_t i = 0; i < n; ++i, row += dim) {
        float s = 0;
        for (size_t k = 0; k < dim; ++k) {
#if defined(__aarch64__)
            __fp16 h;
            std::memcpy(&h, row + k, 2);
            float d = float(h) - q[k];
#else
            float d = widen[row[k]] - q[k];
#endif
            s += d * d;
        }
        keep(r, s, elders[i]);
    }
    return r;
}

#if defined(__x86_64__) && defined(__GNUC__)
// AVX2 + FMA + F16C: 8 halves → 8 floats per instruction. The search is bound by memory
// bandwidth, which is why templates are kept as halves (256 bytes each, not 512).
// dim is a multiple of 16 (128 for dlib, 192 for MobileFaceNet).
__attribute__((target("avx2,fma,f16c"))) Scan scan_avx2(const uint16_t* row, const int64_t* elders, size_t n,
                                                        const float* q, size_t dim) {
    Scan r;
    const int blocks = int(dim / 8);
    __m256 qv[kMaxDim / 8];
    for (int k = 0; k < blocks; ++k) qv[k] = _mm256_loadu_ps(q + 8 * k);
    for (size_t i = 0; i < n; ++i, row += dim) {
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        for (int k = 0; k < blocks; k += 2) {
            __m256 a = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 8 * k)));
            __m256 b = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 8 * k + 8)));
            __m256 da = _mm256_sub_ps(a, qv[k]), db = _mm256_sub_ps(b, qv[k + 1]);
            acc0 = _mm256_fmadd_ps(da, da, acc0);
            acc1 = _mm256_fmadd_ps(db, db, acc1);
        }
        __m256 acc = _mm256_add_ps(acc0, acc1);
        __m128 lo = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        lo = _mm_hadd_ps(lo, lo);
        lo = _mm_hadd_ps(lo, lo);
        keep(r, _mm_cvtss_f32(lo), elders[i]);
    }
    return r;
}
#endif

Scan scan(const uint16_t* row, const int64_t* elders, size_t n, const float* q, size_t dim, bool portable) {
#if defined(__x86_64__) && defined(__GNUC__)
    static const bool fast =
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (fast && !portable && dim % 16 == 0) return scan_avx2(row, elders, n, q, dim);
#endif
    return scan_portable(row, elders, n, q, dim);
}

// The best of two scans as one: best overall, and the best of any elder other than that one. Every
// row of b's other elders is at least b.best away, so b.best stands in for them.
Scan merge(const Scan& a, const Scan& b) {
    if (b.best_elder < 0) return a;
    if (a.best_elder < 0) return b;
    if (a.best_elder == b.best_elder)
        return {std::min(a.best, b.best), std::min(a.second, b.second), a.best_elder};
    if (a.best <= b.best) return {a.best, std::min(a.second, b.best), a.best_elder};
    return {b.best, std::min(b.second, a.best), b.best_elder};
}

}  // namespace

Descriptor mean_template(const std::vector<const Descriptor*>& templates) {
    if (templates.empty()) return {};
    std::vector<double> sum(templates.front()->size(), 0.0);
    double lengths = 0, norm = 0;
    for (auto* t : templates) {
        if (t->size() != sum.size()) throw std::invalid_argument("templates of different sizes");
        double n = 0;
        for (size_t k = 0; k < sum.size(); ++k) sum[k] += (*t)[k], n += double((*t)[k]) * (*t)[k];
        lengths += std::sqrt(n);
    }
    for (double x : sum) norm += x * x;
    if (!(norm > 1e-24)) return {};
    // The sum's direction at the templates' mean length.
    const double scale = lengths / double(templates.size()) / std::sqrt(norm);
    Descriptor out(sum.size());
    for (size_t k = 0; k < sum.size(); ++k) out[k] = float(sum[k] * scale);
    return out;
}

void Gallery::add(int64_t template_id, int64_t elder_id, const Descriptor& d) {
    std::unique_lock lock(mu_);
    if (d.empty() || d.size() > kMaxDim)
        throw std::invalid_argument("face descriptor of " + std::to_string(d.size()) + " values");
    if (elder_ids_.empty()) dim_ = d.size();
    if (d.size() != dim_)
        throw std::invalid_argument("face descriptor of " + std::to_string(d.size()) +
                                    " values in a gallery of " + std::to_string(dim_) +
                                    ": templates of another model need re-enrollment");
    for (float x : d) data_.push_back(to_half(x));
    template_ids_.push_back(template_id);
    elder_ids_.push_back(elder_id);

    auto& rows = rows_of_[elder_id];
    rows.push_back(elder_ids_.size() - 1);
    if (rows.size() >= 2) set_mean(elder_id, rows);
}

void Gallery::set_mean(int64_t elder_id, const std::vector<size_t>& rows) {
    std::vector<Descriptor> stored(rows.size(), Descriptor(dim_));
    std::vector<const Descriptor*> templates;
    for (size_t i = 0; i < rows.size(); ++i) {
        for (size_t k = 0; k < dim_; ++k) stored[i][k] = from_half(data_[rows[i] * dim_ + k]);
        templates.push_back(&stored[i]);
    }
    const Descriptor mean = mean_template(templates);
    if (mean.empty()) return;
    auto [row, added] = mean_row_.emplace(elder_id, mean_elders_.size());
    if (added) {
        mean_elders_.push_back(elder_id);
        mean_data_.resize(mean_elders_.size() * dim_);
    }
    uint16_t* out = mean_data_.data() + row->second * dim_;
    for (size_t k = 0; k < dim_; ++k) out[k] = to_half(mean[k]);
}

void Gallery::remove_elder(int64_t elder_id) {
    std::unique_lock lock(mu_);
    size_t w = 0;
    for (size_t r = 0; r < elder_ids_.size(); ++r) {
        if (elder_ids_[r] == elder_id) continue;
        if (w != r) {
            std::copy_n(data_.begin() + long(r * dim_), dim_, data_.begin() + long(w * dim_));
            elder_ids_[w] = elder_ids_[r];
            template_ids_[w] = template_ids_[r];
        }
        ++w;
    }
    data_.resize(w * dim_);
    elder_ids_.resize(w);
    template_ids_.resize(w);

    // Rows moved up: index them again.
    rows_of_.clear();
    for (size_t r = 0; r < elder_ids_.size(); ++r) rows_of_[elder_ids_[r]].push_back(r);
    if (auto it = mean_row_.find(elder_id); it != mean_row_.end()) {
        // The last row takes the removed one's place.
        const size_t row = it->second, last = mean_elders_.size() - 1;
        if (row != last) {
            std::copy_n(mean_data_.begin() + long(last * dim_), dim_, mean_data_.begin() + long(row * dim_));
            mean_elders_[row] = mean_elders_[last];
            mean_row_[mean_elders_[row]] = row;
        }
        mean_elders_.pop_back();
        mean_data_.resize(mean_elders_.size() * dim_);
        mean_row_.erase(elder_id);
    }
}

void Gallery::take(Gallery& fresh) {
    std::scoped_lock lock(mu_, fresh.mu_);
    data_.swap(fresh.data_);
    template_ids_.swap(fresh.template_ids_);
    elder_ids_.swap(fresh.elder_ids_);
    rows_of_.swap(fresh.rows_of_);
    mean_row_.swap(fresh.mean_row_);
    mean_data_.swap(fresh.mean_data_);
    mean_elders_.swap(fresh.mean_elders_);
    std::swap(dim_, fresh.dim_);
    fresh.data_.clear();
    fresh.template_ids_.clear();
    fresh.elder_ids_.clear();
    fresh.rows_of_.clear();
    fresh.mean_row_.clear();
    fresh.mean_data_.clear();
    fresh.mean_elders_.clear();
}

void Gallery::clear() {
    std::unique_lock lock(mu_);
    data_.clear();
    elder_ids_.clear();
    template_ids_.clear();
    rows_of_.clear();
    mean_row_.clear();
    mean_data_.clear();
    mean_elders_.clear();
}

bool Gallery::has_elder(int64_t elder_id) const {
    std::shared_lock lock(mu_);
    return std::find(elder_ids_.begin(), elder_ids_.end(), elder_id) != elder_ids_.end();
}

size_t Gallery::size() const {
    std::shared_lock lock(mu_);
    return elder_ids_.size();
}

Match Gallery::match(const Descriptor& q, double threshold, double margin) const {
    std::shared_lock lock(mu_);
    Match m;
    const size_t n = elder_ids_.size();
    if (n == 0) return m;
    if (q.size() != dim_) return m;  // another model's descriptor matches nobody
    auto [best, second, best_elder] =
        merge(scan(data_.data(), elder_ids_.data(), n, q.data(), dim_, portable_),
              scan(mean_data_.data(), mean_elders_.data(), mean_elders_.size(), q.data(), dim_, portable_));
    m.distance = std::sqrt(double(best));
    m.best_elder = best_elder;
    m.second_distance = second < 1e29f ? std::sqrt(double(second)) : 1e9;
    // Ambiguous: someone known, but two elders too close to call (a far-off face is just unknown).
    m.ambiguous = m.distance <= threshold && m.second_distance - m.distance < margin;
    if (m.distance <= threshold && !m.ambiguous) m.elder_id = m.best_elder;
    return m;
}

}  // namespace caregate::vision
