#include "vision/tflite_net.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace caregate::vision {

namespace tflite {

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "TFLite flatbuffers are little-endian");

// Limits that no face model comes near; they keep a hostile file from making us allocate or
// compute without bound (tensor and op records can alias the same bytes many times over).
constexpr uint32_t kMaxTensors = 1 << 16;
constexpr uint32_t kMaxOps = 1 << 16;
constexpr int64_t kMaxDim = 1 << 15;                // rank ≤ 4, so element counts stay below 2^60
constexpr int64_t kMaxActivation = 1 << 24;         // elements of one activation per batch item
constexpr double kMaxMacs = 1e10;                   // multiply-adds per batch item
constexpr double kMaxTotalActivations = 1 << 28;    // summed over all ops, per batch item
constexpr int64_t kMaxElements = int64_t(1) << 40;  // any declared tensor (batch included)
constexpr size_t kMaxName = 256;
constexpr int64_t kMaxFileBytes = int64_t(256) << 20;

// Schema constants (tensorflow/lite/schema/schema.fbs): union tags of BuiltinOptions.
constexpr int kConv2dOptions = 1, kDepthwiseOptions = 2, kAddOptions = 11, kReshapeOptions = 17,
              kMulOptions = 21, kSubOptions = 28;
constexpr int kCustomOp = 32;

// A flatbuffer view in which every read is checked against the file size.
class Reader {
public:
    Reader(const std::vector<uint8_t>& d, const std::string& path) : d_(d), path_(path) {}

    [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(path_ + ": " + what); }

    template <typename T>
    T scalar(size_t pos) const {
        if (pos > d_.size() || d_.size() - pos < sizeof(T))
            fail("offset " + std::to_string(pos) + " lies outside the file (corrupt or truncated)");
        T v;
        std::memcpy(&v, d_.data() + pos, sizeof(T));
        return v;
    }

    size_t deref(size_t pos) const {
        uint64_t target = uint64_t(pos) + scalar<uint32_t>(pos);
        if (target >= d_.size())
            fail("reference at offset " + std::to_string(pos) + " points outside the file");
        return size_t(target);
    }

    struct Table {
        size_t pos = 0, vt = 0;
        uint16_t vt_len = 0, obj_len = 0;
    };

    Table table(size_t pos) const {
        Table t;
        t.pos = pos;
        int64_t vt = int64_t(pos) - int64_t(scalar<int32_t>(pos));
        if (vt < 0 || uint64_t(vt) >= d_.size())
            fail("table at offset " + std::to_string(pos) + " has no vtable");
        t.vt = size_t(vt);
        t.vt_len = scalar<uint16_t>(t.vt);
        t.obj_len = scalar<uint16_t>(t.vt + 2);
        if (t.vt_len < 4 || t.vt_len % 2 != 0 || t.vt + t.vt_len > d_.size() || t.obj_len < 4 ||
            t.pos + t.obj_len > d_.size())
            fail("malformed table at offset " + std::to_string(pos));
        return t;
    }

    // Absolute position of a field of `size` bytes, 0 when the field is absent.
    size_t field(const Table& t, int id, size_t size) const {
        size_t slot = 4 + 2 * size_t(id);
        if (slot + 2 > t.vt_len) return 0;
        uint16_t off = scalar<uint16_t>(t.vt + slot);
        if (off == 0) return 0;
        if (off + size > t.obj_len) fail("field lies outside its table at offset " + std::to_string(t.pos));
        return t.pos + off;
    }

    template <typename T>
    T get(const Table& t, int id, T dflt) const {
        size_t p = field(t, id, sizeof(T));
        return p ? scalar<T>(p) : dflt;
    }

    struct Vec {
        size_t pos = 0;
        uint32_t n = 0;
    };

    Vec vec(const Table& t, int id, size_t elem) const {
        size_t f = field(t, id, 4);
        if (!f) return {};
        size_t p = deref(f);
        uint32_t n = scalar<uint32_t>(p);
        if (d_.size() - p < 4 || (d_.size() - p - 4) / elem < n)
            fail("vector at offset " + std::to_string(p) + " runs past the end of the file");
        return {p + 4, n};
    }

    bool has_table(const Table& t, int id) const { return field(t, id, 4) != 0; }
    Table sub_table(const Table& t, int id) const { return table(deref(field(t, id, 4))); }
    Table table_at(const Vec& v, uint32_t i) const { return table(deref(v.pos + 4 * size_t(i))); }

    std::vector<int32_t> ints(const Table& t, int id) const {
        Vec v = vec(t, id, 4);
        std::vector<int32_t> out(v.n);
        if (v.n) std::memcpy(out.data(), d_.data() + v.pos, 4 * size_t(v.n));
        return out;
    }

    std::string str(const Table& t, int id) const {
        Vec v = vec(t, id, 1);
        return std::string(reinterpret_cast<const char*>(d_.data() + v.pos), std::min<size_t>(v.n, kMaxName));
    }

    const uint8_t* bytes(size_t pos) const { return d_.data() + pos; }

private:
    const std::vector<uint8_t>& d_;
    const std::string& path_;
};

std::string shape_str(const std::vector<int>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
    return out + "]";
}

std::string type_name(int t) {
    switch (t) {
        case 1:
            return "float16";
        case 3:
            return "uint8 (quantized)";
        case 7:
            return "int16 (quantized)";
        case 9:
            return "int8 (quantized)";
        default:
            return "of type " + std::to_string(t);
    }
}

// Output extent of TFLite's SAME / VALID padding.
int out_extent(int in, int k, int stride, int dilation, bool valid) {
    int eff = (k - 1) * dilation + 1;
    if (!valid) return (in + stride - 1) / stride;
    return in < eff ? 0 : (in - eff) / stride + 1;
}

// Checks everything the net builder and the reference interpreter rely on: op arity, constant
// operands, NHWC shapes (each op's declared output equals the shape inferred from its inputs),
// execution order, and the size limits above.
void validate(const Model& m, const Reader& r) {
    auto fail = [&](size_t op, const std::string& what) {
        const Operator& o = m.ops[op];
        r.fail("operator " + std::to_string(op) + " (" + op_name(o.code) + "): " + what);
    };
    const size_t nt = m.tensors.size();
    std::vector<char> ready(nt, 0);
    for (size_t i = 0; i < nt; ++i) ready[i] = m.tensors[i].is_const;
    const Tensor& in = m.tensors[size_t(m.input)];
    if (in.is_const || in.type != kFloat32 || in.shape.size() != 4 || in.shape[3] != 3)
        r.fail("input tensor must be float32 NHWC with 3 channels, got " + shape_str(in.shape));
    if (in.elements() / in.shape[0] > kMaxActivation) r.fail("input too large");
    ready[size_t(m.input)] = 1;
    const int batch = in.shape[0];
    double macs = 0, activations = 0;

    for (size_t k = 0; k < m.ops.size(); ++k) {
        const Operator& o = m.ops[k];
        if (o.outputs.size() != 1 || o.outputs[0] < 0) fail(k, "expected exactly one output");
        const Tensor& out = m.tensors[size_t(o.outputs[0])];
        if (ready[size_t(o.outputs[0])]) fail(k, "output tensor is constant or already produced");
        for (int i : o.inputs)
            if (i >= 0 && !ready[size_t(i)])
                fail(k, "input tensor " + std::to_string(i) + " used before produced");
        auto act = [&](size_t i) -> const Tensor& {  // a 4-D float activation operand
            if (i >= o.inputs.size() || o.inputs[i] < 0) fail(k, "missing input " + std::to_string(i));
            const Tensor& t = m.tensors[size_t(o.inputs[i])];
            if (t.is_const || t.type != kFloat32 || t.shape.size() != 4 || t.shape[0] != batch)
                fail(k, "input " + std::to_string(i) + " must be a float32 NHWC activation of batch " +
                            std::to_string(batch) + ", got " + shape_str(t.shape));
            return t;
        };
        auto cnst = [&](size_t i) -> const Tensor& {
            if (i >= o.inputs.size() || o.inputs[i] < 0) fail(k, "missing input " + std::to_string(i));
            const Tensor& t = m.tensors[size_t(o.inputs[i])];
            if (!t.is_const || t.type != kFloat32)
                fail(k, "input " + std::to_string(i) + " must be float32 constant");
            return t;
        };
        auto is_const = [&](size_t i) {
            return i < o.inputs.size() && o.inputs[i] >= 0 && m.tensors[size_t(o.inputs[i])].is_const;
        };
        // A per-channel constant: C or 1 values, in shape [C], [1,C], [1,1,C] or [1,1,1,C].
        auto channel_const = [&](const Tensor& c, int ch) {
            int64_t n = c.elements();
            if (n != ch && n != 1) return false;
            for (size_t d = 0; d + 1 < c.shape.size(); ++d)
                if (c.shape[d] != 1) return false;
            return c.shape.size() <= 4;
        };
        if (o.activation != kActNone && o.activation != kActRelu && o.activation != kActRelu6)
            fail(k, "fused activation " + std::to_string(o.activation) + " is not supported");

        std::vector<int> want;
        switch (o.code) {
            case kConv2d:
            case kDepthwiseConv2d: {
                const Tensor& x = act(0);
                const Tensor& w = cnst(1);
                bool dw = o.code == kDepthwiseConv2d;
                if (w.shape.size() != 4) fail(k, "filter must be 4-D, got " + shape_str(w.shape));
                int oc = dw ? w.shape[3] : w.shape[0], ic = x.shape[3];
                if (dw ? (w.shape[0] != 1 || oc % ic != 0) : w.shape[3] != ic)
                    fail(k, "filter " + shape_str(w.shape) + " does not fit input " + shape_str(x.shape));
                if (o.inputs.size() > 2 && o.inputs[2] >= 0 && cnst(2).elements() != oc)
                    fail(k, "bias size does not match " + std::to_string(oc) + " output channels");
                if (o.inputs.size() > 3) fail(k, "too many inputs");
                if (o.stride_h < 1 || o.stride_w < 1 || o.stride_h > 64 || o.stride_w > 64 ||
                    o.dilation_h < 1 || o.dilation_w < 1 || o.dilation_h > 64 || o.dilation_w > 64)
                    fail(k, "stride or dilation out of range");
                int oh = out_extent(x.shape[1], w.shape[1], o.stride_h, o.dilation_h, o.valid_padding);
                int ow = out_extent(x.shape[2], w.shape[2], o.stride_w, o.dilation_w, o.valid_padding);
                if (oh < 1 || ow < 1) fail(k, "kernel larger than input");
                want = {batch, oh, ow, oc};
                macs += double(oh) * ow * oc * w.shape[1] * w.shape[2] * (dw ? 1 : ic);
                break;
            }
            case kAdd:
            case kSub:
            case kMul: {
                if (o.inputs.size() != 2) fail(k, "expected two inputs");
                if (o.code == kMul && (is_const(0) || is_const(1))) {
                    size_t xi = is_const(0) ? 1 : 0;
                    const Tensor& x = act(xi);
                    if (!channel_const(cnst(1 - xi), x.shape[3])) fail(k, "constant is not per-channel");
                    want = x.shape;
                } else {
                    const Tensor& a = act(0);
                    if (act(1).shape != a.shape) fail(k, "operand shapes differ (broadcasting unsupported)");
                    want = a.shape;
                }
                break;
            }
            case kRelu:
            case kRelu6:
            case kAbs:
                if (o.inputs.size() != 1) fail(k, "expected one input");
                want = act(0).shape;
                break;
            case kPrelu: {
                if (o.inputs.size() != 2) fail(k, "expected two inputs");
                const Tensor& x = act(0);
                if (!channel_const(cnst(1), x.shape[3])) fail(k, "alpha is not per-channel");
                want = x.shape;
                break;
            }
            case kReshape: {
                // Only the final flatten of a 1×1 map, where NHWC and NCHW orders coincide.
                if (o.inputs.empty() || o.inputs.size() > 2) fail(k, "expected one or two inputs");
                const Tensor& x = act(0);
                if (x.shape[1] != 1 || x.shape[2] != 1) fail(k, "only flattening a 1x1 map is supported");
                want = {batch, x.shape[3]};
                break;
            }
            default:
                fail(k, "operator is not supported");
        }
        if (out.type != kFloat32 || out.shape != want)
            fail(k, "declared output " + shape_str(out.shape) + " differs from inferred " + shape_str(want));
        int64_t per_item = out.elements() / std::max(batch, 1);
        activations += double(per_item);
        if (per_item > kMaxActivation || activations > kMaxTotalActivations) fail(k, "activations too large");
        if (macs > kMaxMacs) fail(k, "network too expensive");
        ready[size_t(o.outputs[0])] = 1;
    }
    const Tensor& res = m.tensors[size_t(m.output)];
    if (!ready[size_t(m.output)] || res.is_const || m.output == m.input)
        r.fail("output tensor is never computed");
    bool flat = res.shape.size() == 2 || (res.shape.size() == 4 && res.shape[1] == 1 && res.shape[2] == 1);
    if (!flat) r.fail("output " + shape_str(res.shape) + " is not a vector per batch item");
}

}  // namespace

int64_t Tensor::elements() const {
    int64_t n = 1;
    for (int d : shape) n *= d;
    return n;
}

std::string op_name(int code) {
    switch (code) {
        case kAdd:
            return "ADD";
        case kConv2d:
            return "CONV_2D";
        case kDepthwiseConv2d:
            return "DEPTHWISE_CONV_2D";
        case kMul:
            return "MUL";
        case kRelu:
            return "RELU";
        case kRelu6:
            return "RELU6";
        case kReshape:
            return "RESHAPE";
        case kSub:
            return "SUB";
        case kPrelu:
            return "PRELU";
        case kAbs:
            return "ABS";
        case kCustomOp:
            return "CUSTOM";
        // Common ones that are refused, named so the error says what the model needs.
        case 1:
            return "AVERAGE_POOL_2D";
        case 2:
            return "CONCATENATION";
        case 6:
            return "DEQUANTIZE";
        case 9:
            return "FULLY_CONNECTED";
        case 11:
            return "L2_NORMALIZATION";
        case 14:
            return "LOGISTIC";
        case 17:
            return "MAX_POOL_2D";
        case 25:
            return "SOFTMAX";
        case 34:
            return "PAD";
        case 40:
            return "MEAN";
        case 114:
            return "QUANTIZE";
        default:
            return "builtin " + std::to_string(code);
    }
}

Model read_model(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot read " + path);
    f.seekg(0, std::ios::end);
    std::streamoff size = f.tellg();
    if (!f || size < 0 || size > std::streamoff(kMaxFileBytes))
        throw std::runtime_error(path + ": unreadable or larger than 256 MiB, not a face model");
    std::vector<uint8_t> d(static_cast<size_t>(size));
    f.seekg(0);
    if (!f.read(reinterpret_cast<char*>(d.data()), size)) throw std::runtime_error("cannot read " + path);
    Reader r(d, path);
    if (d.size() < 8 || std::memcmp(d.data() + 4, "TFL3", 4) != 0)
        r.fail("not a TFLite model (no TFL3 identifier)");

    auto root = r.table(r.deref(0));
    Model m;
    m.path = path;
    // Model: 0 version, 1 operator_codes, 2 subgraphs, 3 description, 4 buffers.
    if (r.get<uint32_t>(root, 0, 0) != 3) r.fail("schema version is not 3");

    std::vector<int> codes;
    auto oc = r.vec(root, 1, 4);
    for (uint32_t i = 0; i < oc.n && i < kMaxOps; ++i) {
        // OperatorCode: 0 deprecated_builtin_code (int8), 3 builtin_code (int32, newer files).
        auto t = r.table_at(oc, i);
        int code = std::max<int>(r.get<int8_t>(t, 0, 0), r.get<int32_t>(t, 3, 0));
        codes.push_back(code);
    }

    auto subgraphs = r.vec(root, 2, 4);
    if (subgraphs.n != 1) r.fail("expected one subgraph, found " + std::to_string(subgraphs.n));
    auto g = r.table_at(subgraphs, 0);
    auto buffers = r.vec(root, 4, 4);

    // Tensor: 0 shape, 1 type, 2 buffer, 3 name, 4 quantization.
    auto tv = r.vec(g, 0, 4);
    if (tv.n > kMaxTensors) r.fail("too many tensors");
    uint64_t copied = 0;
    for (uint32_t i = 0; i < tv.n; ++i) {
        auto tt = r.table_at(tv, i);
        Tensor t;
        std::vector<int32_t> shape = r.ints(tt, 0);
        if (shape.size() > 4)
            r.fail("tensor " + std::to_string(i) + " has rank " + std::to_string(shape.size()));
        for (int32_t s : shape)
            if (s < 1 || s > kMaxDim)
                r.fail("tensor " + std::to_string(i) + " has dimension " + std::to_string(s));
        t.shape.assign(shape.begin(), shape.end());
        if (t.elements() > kMaxElements) r.fail("tensor " + std::to_string(i) + " is too large");
        t.type = r.get<int8_t>(tt, 1, 0);
        t.name = r.str(tt, 3);
        if (t.type != kFloat32 && t.type != kInt32)
            r.fail("tensor " + std::to_string(i) + " '" + t.name + "' is " + type_name(t.type) +
                   " (only float32 models are supported)");
        uint32_t b = r.get<uint32_t>(tt, 2, 0);
        if (b >= buffers.n && b != 0)
            r.fail("tensor " + std::to_string(i) + " names missing buffer " + std::to_string(b));
        if (b != 0) {
            auto bt = r.table_at(buffers, b);
            auto data = r.vec(bt, 0, 1);
            if (data.n > 0) {
                if (uint64_t(data.n) != uint64_t(t.elements()) * 4)
                    r.fail("tensor " + std::to_string(i) + " '" + t.name + "' " + shape_str(t.shape) +
                           " has " + std::to_string(data.n) + " bytes of data");
                copied += data.n;
                if (copied > 4 * uint64_t(d.size())) r.fail("constant buffers are aliased beyond reason");
                t.is_const = true;
                if (t.type == kFloat32) {
                    t.f32.resize(data.n / 4);
                    std::memcpy(t.f32.data(), r.bytes(data.pos), data.n);
                } else {
                    t.i32.resize(data.n / 4);
                    std::memcpy(t.i32.data(), r.bytes(data.pos), data.n);
                }
            }
        }
        m.tensors.push_back(std::move(t));
    }
    auto index = [&](int32_t i, const std::string& what) {
        if (i < 0 || uint32_t(i) >= tv.n)
            r.fail(what + " names tensor " + std::to_string(i) + " (out of range)");
        return int(i);
    };

    auto gin = r.ints(g, 1), gout = r.ints(g, 2);
    if (gin.size() != 1 || gout.size() != 1) r.fail("expected one input and one output tensor");
    m.input = index(gin[0], "subgraph input");
    m.output = index(gout[0], "subgraph output");

    // Operator: 0 opcode_index, 1 inputs, 2 outputs, 3 builtin_options_type, 4 builtin_options.
    auto ov = r.vec(g, 3, 4);
    if (ov.n > kMaxOps) r.fail("too many operators");
    for (uint32_t k = 0; k < ov.n; ++k) {
        auto ot = r.table_at(ov, k);
        Operator o;
        uint32_t ci = r.get<uint32_t>(ot, 0, 0);
        if (ci >= codes.size()) r.fail("operator " + std::to_string(k) + " has bad opcode index");
        o.code = codes[ci];
        for (int32_t i : r.ints(ot, 1)) o.inputs.push_back(i == -1 ? -1 : index(i, "operator input"));
        for (int32_t i : r.ints(ot, 2)) o.outputs.push_back(index(i, "operator output"));
        if (o.inputs.size() > 8) r.fail("operator " + std::to_string(k) + " has too many inputs");
        int otype = r.get<uint8_t>(ot, 3, 0);
        bool has_opts = r.has_table(ot, 4);
        auto opts = [&](int expected) {
            if (!has_opts) return false;
            if (otype != expected)
                r.fail("operator " + std::to_string(k) + " (" + op_name(o.code) +
                       ") carries options of type " + std::to_string(otype));
            return true;
        };
        switch (o.code) {
            case kConv2d:
                // Conv2DOptions: 0 padding, 1 stride_w, 2 stride_h, 3 activation, 4/5 dilation w/h.
                if (opts(kConv2dOptions)) {
                    auto t = r.sub_table(ot, 4);
                    o.valid_padding = r.get<int8_t>(t, 0, 0) == 1;
                    o.stride_w = r.get<int32_t>(t, 1, 0);
                    o.stride_h = r.get<int32_t>(t, 2, 0);
                    o.activation = r.get<int8_t>(t, 3, 0);
                    o.dilation_w = r.get<int32_t>(t, 4, 1);
                    o.dilation_h = r.get<int32_t>(t, 5, 1);
                }
                break;
            case kDepthwiseConv2d:
                // DepthwiseConv2DOptions: as Conv2D with depth_multiplier (3) before activation (4);
                // the multiplier is taken from the filter shape, older converters left it unset.
                if (opts(kDepthwiseOptions)) {
                    auto t = r.sub_table(ot, 4);
                    o.valid_padding = r.get<int8_t>(t, 0, 0) == 1;
                    o.stride_w = r.get<int32_t>(t, 1, 0);
                    o.stride_h = r.get<int32_t>(t, 2, 0);
                    o.activation = r.get<int8_t>(t, 4, 0);
                    o.dilation_w = r.get<int32_t>(t, 5, 1);
                    o.dilation_h = r.get<int32_t>(t, 6, 1);
                }
                break;
            case kAdd:
            case kSub:
            case kMul:
                if (opts(o.code == kAdd ? kAddOptions : o.code == kSub ? kSubOptions : kMulOptions))
                    o.activation = r.get<int8_t>(r.sub_table(ot, 4), 0, 0);
                break;
            case kReshape:
                if (has_opts) opts(kReshapeOptions);
                break;
            case kRelu:
            case kRelu6:
            case kAbs:
            case kPrelu:
                break;
            case kCustomOp:
                r.fail("operator " + std::to_string(k) + " is a custom operator (not supported)");
            default:
                r.fail("operator " + std::to_string(k) + " is " + op_name(o.code) + " (not supported)");
        }
        m.ops.push_back(std::move(o));
    }
    validate(m, r);
    return m;
}

}  // namespace tflite

namespace {

using tflite::Model;
using tflite::Operator;

struct Port {
    int layer = -1, out = 0;
    std::string name;
};

class NetBuilder {
public:
    NetBuilder(const Model& m, cv::dnn::Net& net) : m_(m), net_(net), ports_(m.tensors.size()) {
        ports_[size_t(m.input)] = {0, 0, "input"};
        for (size_t k = 0; k < m.ops.size(); ++k) producer_[m.ops[k].outputs[0]] = int(k);
        consumers_.assign(m.tensors.size(), 0);
        for (const Operator& o : m.ops)
            for (int i : o.inputs)
                if (i >= 0) ++consumers_[size_t(i)];
        consumers_[size_t(m.output)] += 1;  // the graph output is never fused away
    }

    // Returns the name of the layer producing the graph output.
    std::string build(bool fuse) {
        std::vector<char> skip(m_.ops.size(), 0);
        std::vector<std::pair<int, std::vector<float>>> prelu(m_.ops.size(), {-1, {}});
        if (fuse) find_prelu(skip, prelu);
        for (size_t k = 0; k < m_.ops.size(); ++k) {
            if (skip[k]) continue;
            const Operator& o = m_.ops[k];
            int out = o.outputs[0];
            if (prelu[k].first >= 0) {
                add("PReLU", out, {prelu[k].first}, {row(prelu[k].second)});
                continue;
            }
            switch (o.code) {
                case tflite::kConv2d:
                case tflite::kDepthwiseConv2d:
                    conv(o);
                    break;
                case tflite::kAdd:
                    eltwise(o, "sum", {});
                    break;
                case tflite::kSub:
                    eltwise(o, "sum", {1.0, -1.0});
                    break;
                case tflite::kMul:
                    mul(o);
                    break;
                case tflite::kRelu:
                    add("ReLU", out, {o.inputs[0]});
                    break;
                case tflite::kRelu6:
                    add("ReLU6", out, {o.inputs[0]});
                    break;
                case tflite::kAbs:
                    add("AbsVal", out, {o.inputs[0]});
                    break;
                case tflite::kPrelu:
                    add("PReLU", out, {o.inputs[0]}, {row(per_channel(o.inputs[1], o.inputs[0]))});
                    break;
                case tflite::kReshape:
                    add("Flatten", out, {o.inputs[0]});
                    break;
                default:
                    throw std::logic_error("validated op missing from builder");
            }
        }
        return ports_[size_t(m_.output)].name;
    }

private:
    static cv::Mat row(const std::vector<float>& v) { return cv::Mat(v, true).reshape(1, 1); }

    // C values of a per-channel constant (a single value is repeated).
    std::vector<float> per_channel(int c, int x) const {
        const auto& v = m_.tensors[size_t(c)].f32;
        size_t ch = size_t(m_.tensors[size_t(x)].shape[3]);
        return v.size() == ch ? v : std::vector<float>(ch, v[0]);
    }

    void param_activation(const Operator& o) {
        int out = o.outputs[0];
        if (o.activation == tflite::kActRelu) add("ReLU", out, {out});
        if (o.activation == tflite::kActRelu6) add("ReLU6", out, {out});
    }

    // Adds a layer named after the tensor it produces (re-adding rebinds the tensor, for fused
    // activations); inputs are tensor indexes.
    int add(const std::string& type, int tensor, const std::vector<int>& inputs,
            std::vector<cv::Mat> blobs = {}, cv::dnn::LayerParams lp = {}) {
        lp.blobs = std::move(blobs);
        std::string name = "t" + std::to_string(tensor);
        if (ports_[size_t(tensor)].layer >= 0) name += "_" + type;
        int id = net_.addLayer(name, type, lp);
        for (size_t i = 0; i < inputs.size(); ++i) {
            Port p = ports_[size_t(inputs[i])];
            net_.connect(p.layer, p.out, id, int(i));
        }
        ports_[size_t(tensor)] = {id, 0, name};
        return id;
    }

    void conv(const Operator& o) {
        const auto& x = m_.tensors[size_t(o.inputs[0])];
        const auto& w = m_.tensors[size_t(o.inputs[1])];
        bool dw = o.code == tflite::kDepthwiseConv2d;
        int kh = w.shape[1], kw = w.shape[2], ic = x.shape[3];
        int oc = dw ? w.shape[3] : w.shape[0];
        int in_per_group = dw ? 1 : ic;
        // TFLite OHWI (depthwise 1HWO) → OpenCV OIHW with I = inputs per group.
        int sz[] = {oc, in_per_group, kh, kw};
        cv::Mat wb(4, sz, CV_32F);
        float* dst = wb.ptr<float>();
        for (int n = 0; n < oc; ++n)
            for (int i = 0; i < in_per_group; ++i)
                for (int y = 0; y < kh; ++y)
                    for (int xx = 0; xx < kw; ++xx)
                        dst[((size_t(n) * in_per_group + i) * kh + y) * kw + xx] =
                            dw ? w.f32[(size_t(y) * kw + xx) * oc + n]
                               : w.f32[((size_t(n) * kh + y) * kw + xx) * ic + i];
        std::vector<float> bias(size_t(oc), 0.f);
        if (o.inputs.size() > 2 && o.inputs[2] >= 0) bias = m_.tensors[size_t(o.inputs[2])].f32;

        cv::dnn::LayerParams lp;
        lp.set("kernel_h", kh);
        lp.set("kernel_w", kw);
        lp.set("stride_h", o.stride_h);
        lp.set("stride_w", o.stride_w);
        lp.set("dilation_h", o.dilation_h);
        lp.set("dilation_w", o.dilation_w);
        lp.set("num_output", oc);
        lp.set("group", dw ? ic : 1);
        lp.set("bias_term", true);
        if (o.valid_padding) {
            lp.set("pad_h", 0);
            lp.set("pad_w", 0);
        } else {
            // OpenCV's convolution refuses explicit asymmetric pads, but its SAME mode pads like
            // TF (begin = total / 2, the rest at the end); that mode ignores dilation, though.
            int ph = pad_total(x.shape[1], kh, o.stride_h, o.dilation_h);
            int pw = pad_total(x.shape[2], kw, o.stride_w, o.dilation_w);
            if (ph % 2 == 0 && pw % 2 == 0) {
                lp.set("pad_h", ph / 2);
                lp.set("pad_w", pw / 2);
            } else if (o.dilation_h == 1 && o.dilation_w == 1) {
                lp.set("pad_mode", "SAME");
            } else {
                throw std::runtime_error(m_.path +
                                         ": dilated convolution with asymmetric SAME padding "
                                         "is not supported");
            }
        }
        add("Convolution", o.outputs[0], {o.inputs[0]}, {wb, row(bias)}, lp);
        param_activation(o);
    }

    static int pad_total(int in, int k, int stride, int dilation) {
        int out = (in + stride - 1) / stride;
        return std::max(0, (out - 1) * stride + (k - 1) * dilation + 1 - in);
    }

    void eltwise(const Operator& o, const std::string& op, const std::vector<double>& coeff) {
        cv::dnn::LayerParams lp;
        lp.set("operation", op);
        if (!coeff.empty()) lp.set("coeff", cv::dnn::DictValue::arrayReal(coeff.data(), int(coeff.size())));
        add("Eltwise", o.outputs[0], {o.inputs[0], o.inputs[1]}, {}, lp);
        param_activation(o);
    }

    void mul(const Operator& o) {
        bool c0 = m_.tensors[size_t(o.inputs[0])].is_const, c1 = m_.tensors[size_t(o.inputs[1])].is_const;
        if (!c0 && !c1) return eltwise(o, "prod", {});
        int x = c0 ? o.inputs[1] : o.inputs[0], c = c0 ? o.inputs[0] : o.inputs[1];
        cv::dnn::LayerParams lp;
        lp.set("bias_term", false);
        lp.set("axis", 1);
        add("Scale", o.outputs[0], {x}, {row(per_channel(c, x))}, lp);
        param_activation(o);
    }

    int producer(int tensor, int code) const {
        auto it = producer_.find(tensor);
        if (it == producer_.end() || m_.ops[size_t(it->second)].code != code) return -1;
        return it->second;
    }
    bool single_use(int tensor) const { return consumers_[size_t(tensor)] == 1; }

    // TFLite has no PReLU in TF1-era converters, so MobileFaceNet_TF spells it
    //   y = relu(x) + (alpha / 2) · (x − |x|)
    // as RELU, ABS, SUB, MUL (by a per-channel constant) and ADD; that equals PReLU with slope alpha.
    void find_prelu(std::vector<char>& skip, std::vector<std::pair<int, std::vector<float>>>& prelu) const {
        for (size_t k = 0; k < m_.ops.size(); ++k) {
            const Operator& add_op = m_.ops[k];
            if (add_op.code != tflite::kAdd || add_op.activation != tflite::kActNone) continue;
            for (int side = 0; side < 2; ++side) {
                int r_t = add_op.inputs[size_t(side)], m_t = add_op.inputs[size_t(1 - side)];
                int r_op = producer(r_t, tflite::kRelu), m_op = producer(m_t, tflite::kMul);
                if (r_op < 0 || m_op < 0 || !single_use(r_t) || !single_use(m_t)) continue;
                int x = m_.ops[size_t(r_op)].inputs[0];
                const Operator& mo = m_.ops[size_t(m_op)];
                if (mo.activation != tflite::kActNone) continue;
                bool c0 = m_.tensors[size_t(mo.inputs[0])].is_const,
                     c1 = m_.tensors[size_t(mo.inputs[1])].is_const;
                if (c0 == c1) continue;
                int c = c0 ? mo.inputs[0] : mo.inputs[1], s_t = c0 ? mo.inputs[1] : mo.inputs[0];
                int s_op = producer(s_t, tflite::kSub);
                if (s_op < 0 || !single_use(s_t)) continue;
                const Operator& so = m_.ops[size_t(s_op)];
                if (so.activation != tflite::kActNone || so.inputs[0] != x) continue;
                int a_t = so.inputs[1];
                int a_op = producer(a_t, tflite::kAbs);
                if (a_op < 0 || !single_use(a_t) || m_.ops[size_t(a_op)].inputs[0] != x) continue;
                std::vector<float> slope = per_channel(c, x);
                for (float& v : slope) v *= 2.f;
                skip[size_t(r_op)] = skip[size_t(m_op)] = skip[size_t(s_op)] = skip[size_t(a_op)] = 1;
                prelu[k] = {x, std::move(slope)};
                break;
            }
        }
    }

    const Model& m_;
    cv::dnn::Net& net_;
    std::vector<Port> ports_;
    std::map<int, int> producer_;
    std::vector<int> consumers_;
};

}  // namespace

TfliteEmbedder::TfliteEmbedder(const std::string& tflite_path, bool fuse_prelu) : path_(tflite_path) {
    Model m = tflite::read_model(tflite_path);
    const auto& in = m.tensors[size_t(m.input)].shape;
    input_size_ = cv::Size(in[2], in[1]);
    dim_ = int(m.tensors[size_t(m.output)].elements() / m.tensors[size_t(m.output)].shape[0]);
    try {
        NetBuilder b(m, net_);
        output_name_ = b.build(fuse_prelu);
        net_.setInputsNames({"input"});
        net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        // Dry run so a network OpenCV cannot execute fails here, not on the first elder.
        int sz[] = {1, 3, input_size_.height, input_size_.width};
        net_.setInput(cv::Mat(4, sz, CV_32F, cv::Scalar(0)));
        cv::Mat out = net_.forward(output_name_);
        if (out.total() != size_t(dim_))
            throw std::runtime_error("dry run gave " + std::to_string(out.total()) + " values");
    } catch (const cv::Exception& e) {
        throw std::runtime_error(tflite_path + ": OpenCV cannot run the converted network: " + e.what());
    } catch (const std::runtime_error& e) {
        std::string what = e.what();
        if (what.rfind(tflite_path, 0) == 0) throw;
        throw std::runtime_error(tflite_path + ": " + what);
    }
}

std::vector<std::vector<float>> TfliteEmbedder::embed(const std::vector<cv::Mat>& aligned_rgb) {
    std::vector<std::vector<float>> res;
    if (aligned_rgb.empty()) return res;
    for (const cv::Mat& c : aligned_rgb)
        if (c.type() != CV_8UC3 || c.size() != input_size_)
            throw std::invalid_argument("TfliteEmbedder::embed: chips must be " +
                                        std::to_string(input_size_.width) + "x" +
                                        std::to_string(input_size_.height) + " CV_8UC3 RGB");
    // MobileFaceNet_TF trains on RGB (x − 127.5) · 0.0078125; swapRB stays off, chips are RGB.
    cv::Mat blob = cv::dnn::blobFromImages(aligned_rgb, 1.0 / 128, cv::Size(), cv::Scalar::all(127.5), false,
                                           false, CV_32F);
    net_.setInput(blob);
    cv::Mat out = net_.forward(output_name_);
    const int n = int(aligned_rgb.size());
    if (out.total() != size_t(n) * size_t(dim_))
        throw std::runtime_error(path_ + ": network returned " + std::to_string(out.total()) + " values");
    out = out.reshape(1, n);
    for (int i = 0; i < n; ++i) {
        const float* p = out.ptr<float>(i);
        double ss = 0;
        for (int j = 0; j < dim_; ++j) ss += double(p[j]) * p[j];
        float inv = float(1.0 / std::sqrt(std::max(ss, 1e-10)));
        std::vector<float> v(static_cast<size_t>(dim_));
        for (int j = 0; j < dim_; ++j) v[size_t(j)] = p[j] * inv;
        res.push_back(std::move(v));
    }
    return res;
}

cv::Mat align_arcface_112(const cv::Mat& bgr, const std::array<cv::Point2f, 5>& pts) {
    static const std::array<cv::Point2f, 5> kTemplate = {
        cv::Point2f(38.2946f, 51.6963f), cv::Point2f(73.5318f, 51.5014f), cv::Point2f(56.0252f, 71.7366f),
        cv::Point2f(41.5493f, 92.3655f), cv::Point2f(70.7299f, 92.2041f)};
    if (bgr.empty() || bgr.depth() != CV_8U ||
        (bgr.channels() != 1 && bgr.channels() != 3 && bgr.channels() != 4))
        throw std::invalid_argument("align_arcface_112: expected an 8-bit grey, BGR or BGRA image");
    for (const auto& p : pts)
        if (!std::isfinite(p.x) || !std::isfinite(p.y)) return {};
    std::vector<cv::Point2f> src(pts.begin(), pts.end()), dst(kTemplate.begin(), kTemplate.end());
    // A threshold far above any residual keeps all five points as inliers, so the final
    // Levenberg–Marquardt refinement is a least-squares fit over all of them (as insightface).
    cv::Mat inliers;
    cv::Mat m = cv::estimateAffinePartial2D(src, dst, inliers, cv::RANSAC, 1e6);
    if (m.empty() || !cv::checkRange(m)) return {};
    double scale = std::hypot(m.at<double>(0, 0), m.at<double>(1, 0));
    if (scale < 1e-6) return {};
    cv::Mat chip;
    cv::warpAffine(bgr, chip, m, cv::Size(112, 112), cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                   cv::Scalar::all(0));
    static const int kToRgb[] = {0, cv::COLOR_GRAY2RGB, 0, cv::COLOR_BGR2RGB, cv::COLOR_BGRA2RGB};
    cv::cvtColor(chip, chip, kToRgb[bgr.channels()]);
    return chip;
}

std::array<cv::Point2f, 5> five_points_from_68(const std::array<cv::Point2f, 68>& pts) {
    auto mean = [&](int from) {
        cv::Point2f s(0, 0);
        for (int i = from; i < from + 6; ++i) s += pts[size_t(i)];
        return s * (1.f / 6);
    };
    return {mean(36), mean(42), pts[30], pts[48], pts[54]};
}

}  // namespace caregate::vision
