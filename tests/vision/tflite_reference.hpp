// Naive TFLite interpreter for checking TfliteEmbedder: the ops read_model accepts, run literally
// as TFLite defines them (NHWC, OHWI filters, TF SAME padding, no fusion), plain loops with double
// accumulators. Slow (about a second per MobileFaceNet image) and meant only for tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "vision/tflite_net.hpp"

namespace caregate::vision::tflite_reference {

// input: batch × H × W × C floats in NHWC order, already normalised. Returns the raw output
// tensor (batch × dim), not L2-normalised. The model must come from tflite::read_model.
inline std::vector<float> run(const tflite::Model& m, const std::vector<float>& input, int batch) {
    namespace tl = tflite;
    // Activations keep the model's shapes with dim 0 replaced by the runtime batch.
    std::vector<std::vector<float>> val(m.tensors.size());
    std::vector<std::vector<int>> shp(m.tensors.size());
    auto shape_of = [&](int t) -> const std::vector<int>& { return shp[size_t(t)]; };
    auto data_of = [&](int t) -> const std::vector<float>& {
        return m.tensors[size_t(t)].is_const ? m.tensors[size_t(t)].f32 : val[size_t(t)];
    };
    shp[size_t(m.input)] = m.tensors[size_t(m.input)].shape;
    shp[size_t(m.input)][0] = batch;
    size_t in_n = 1;
    for (int d : shp[size_t(m.input)]) in_n *= size_t(d);
    if (input.size() != in_n) throw std::invalid_argument("tflite_reference::run: input size mismatch");
    val[size_t(m.input)] = input;

    auto activate = [](std::vector<float>& v, int a) {
        for (float& x : v) {
            if (a == tl::kActRelu) x = std::max(x, 0.f);
            if (a == tl::kActRelu6) x = std::min(std::max(x, 0.f), 6.f);
        }
    };
    // A per-channel constant (C values, or one value for all channels) at channel c.
    auto chan = [](const std::vector<float>& k, size_t c) { return k.size() == 1 ? k[0] : k[c]; };

    for (const tl::Operator& o : m.ops) {
        const int out_t = o.outputs[0];
        std::vector<int> os = m.tensors[size_t(out_t)].shape;
        os[0] = batch;
        size_t on = 1;
        for (int d : os) on *= size_t(d);
        std::vector<float> y(on, 0.f);

        switch (o.code) {
            case tl::kConv2d:
            case tl::kDepthwiseConv2d: {
                const auto& xs = shape_of(o.inputs[0]);
                const auto& x = data_of(o.inputs[0]);
                const auto& w = m.tensors[size_t(o.inputs[1])];
                const bool dw = o.code == tl::kDepthwiseConv2d;
                const bool has_bias = o.inputs.size() > 2 && o.inputs[2] >= 0;
                const int H = xs[1], W = xs[2], C = xs[3], OH = os[1], OW = os[2], OC = os[3];
                const int KH = w.shape[1], KW = w.shape[2], mult = dw ? OC / C : 0;
                // TF SAME: total padding (out−1)·stride + effective kernel − in, the smaller half first.
                auto pad_before = [](int in, int out, int k, int s, int d, bool valid) {
                    if (valid) return 0;
                    return std::max(0, (out - 1) * s + (k - 1) * d + 1 - in) / 2;
                };
                const int pt = pad_before(H, OH, KH, o.stride_h, o.dilation_h, o.valid_padding);
                const int pl = pad_before(W, OW, KW, o.stride_w, o.dilation_w, o.valid_padding);
                for (int n = 0; n < batch; ++n)
                    for (int oy = 0; oy < OH; ++oy)
                        for (int ox = 0; ox < OW; ++ox)
                            for (int oc = 0; oc < OC; ++oc) {
                                double acc = has_bias ? m.tensors[size_t(o.inputs[2])].f32[size_t(oc)] : 0.0;
                                for (int ky = 0; ky < KH; ++ky) {
                                    const int iy = oy * o.stride_h - pt + ky * o.dilation_h;
                                    if (iy < 0 || iy >= H) continue;
                                    for (int kx = 0; kx < KW; ++kx) {
                                        const int ix = ox * o.stride_w - pl + kx * o.dilation_w;
                                        if (ix < 0 || ix >= W) continue;
                                        const size_t xb = ((size_t(n) * H + iy) * W + ix) * C;
                                        if (dw) {
                                            // Filter [1, KH, KW, C·mult]: output oc reads input oc / mult.
                                            acc += double(x[xb + size_t(oc / mult)]) *
                                                   w.f32[(size_t(ky) * KW + kx) * OC + oc];
                                        } else {
                                            const size_t wb = ((size_t(oc) * KH + ky) * KW + kx) * C;
                                            for (int ic = 0; ic < C; ++ic)
                                                acc += double(x[xb + ic]) * w.f32[wb + ic];
                                        }
                                    }
                                }
                                y[((size_t(n) * OH + oy) * OW + ox) * OC + oc] = float(acc);
                            }
                activate(y, o.activation);
                break;
            }
            case tl::kAdd:
            case tl::kSub:
            case tl::kMul: {
                const bool c0 = m.tensors[size_t(o.inputs[0])].is_const;
                const bool c1 = m.tensors[size_t(o.inputs[1])].is_const;
                const auto& a = data_of(o.inputs[0]);
                const auto& b = data_of(o.inputs[1]);
                const size_t C = size_t(os.back());
                for (size_t i = 0; i < on; ++i) {
                    // Constants broadcast along the channel (last) axis.
                    const float av = c0 ? chan(a, i % C) : a[i];
                    const float bv = c1 ? chan(b, i % C) : b[i];
                    y[i] = o.code == tl::kAdd ? av + bv : o.code == tl::kSub ? av - bv : av * bv;
                }
                activate(y, o.activation);
                break;
            }
            case tl::kRelu:
            case tl::kRelu6:
            case tl::kAbs: {
                const auto& x = data_of(o.inputs[0]);
                for (size_t i = 0; i < on; ++i)
                    y[i] = o.code == tl::kAbs    ? std::fabs(x[i])
                           : o.code == tl::kRelu ? std::max(x[i], 0.f)
                                                 : std::min(std::max(x[i], 0.f), 6.f);
                break;
            }
            case tl::kPrelu: {
                const auto& x = data_of(o.inputs[0]);
                const auto& alpha = m.tensors[size_t(o.inputs[1])].f32;
                const size_t C = size_t(os.back());
                for (size_t i = 0; i < on; ++i) y[i] = x[i] >= 0 ? x[i] : chan(alpha, i % C) * x[i];
                break;
            }
            case tl::kReshape:
                y = data_of(o.inputs[0]);  // row-major data is unchanged by a reshape
                break;
            default:
                throw std::runtime_error("tflite_reference: unsupported op " + tl::op_name(o.code));
        }
        shp[size_t(out_t)] = os;
        val[size_t(out_t)] = std::move(y);
    }
    return val[size_t(m.output)];
}

}  // namespace caregate::vision::tflite_reference
