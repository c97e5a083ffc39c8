#include "vision/face_net.hpp"

#include <dlib/dnn.h>
#include <dlib/opencv.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace caregate::vision {

namespace {
using namespace dlib;

// Exactly dlib's dnn_face_recognition_ex.cpp network, so its official model file loads too.
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual = add_prev1<block<N, BN, 1, tag1<SUBNET>>>;
template <template <int, template <typename> class, int, typename> class block, int N,
          template <typename> class BN, typename SUBNET>
using residual_down = add_prev2<avg_pool<2, 2, 2, 2, skip1<tag2<block<N, BN, 2, tag1<SUBNET>>>>>>;
template <int N, template <typename> class BN, int stride, typename SUBNET>
using block = BN<con<N, 3, 3, 1, 1, relu<BN<con<N, 3, 3, stride, stride, SUBNET>>>>>;
template <int N, typename SUBNET>
using ares = relu<residual<block, N, affine, SUBNET>>;
template <int N, typename SUBNET>
using ares_down = relu<residual_down<block, N, affine, SUBNET>>;
template <typename SUBNET>
using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET>
using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET>
using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET>
using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET>
using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;
using anet_type = loss_metric<
    fc_no_bias<128, avg_pool_everything<alevel0<alevel1<alevel2<alevel3<alevel4<max_pool<
                        3, 3, 2, 2, relu<affine<con<32, 7, 7, 2, 2, input_rgb_image_sized<150>>>>>>>>>>>>>;

struct Tensor {
    std::string name;
    std::vector<int> shape;
    std::vector<float> values;
};

// TF.js weights: tensors in manifest order, each either float32 or uint8-quantized
// (value = q * scale + min), concatenated across the listed .bin shards.
std::vector<Tensor> read_tfjs(const std::string& dir) {
    namespace fs = std::filesystem;
    std::string manifest_path = (fs::path(dir) / "face_recognition_model-weights_manifest.json").string();
    std::ifstream mf(manifest_path);
    if (!mf) throw std::runtime_error("cannot read " + manifest_path + " (run scripts/fetch-models)");
    auto manifest = nlohmann::json::parse(mf, nullptr, false);
    if (manifest.is_discarded() || !manifest.is_array() || manifest.empty())
        throw std::runtime_error(manifest_path + " is not a TF.js weights manifest");
    std::vector<Tensor> out;
    for (auto& group : manifest) {
        std::string blob;
        for (auto& p : group.at("paths")) {
            std::string path = (fs::path(dir) / p.get<std::string>()).string();
            std::ifstream bf(path, std::ios::binary);
            if (!bf) throw std::runtime_error("cannot read weights shard " + path);
            blob.append(std::istreambuf_iterator<char>(bf), std::istreambuf_iterator<char>());
        }
        size_t offset = 0;
        for (auto& w : group.at("weights")) {
            Tensor t;
            t.name = w.at("name").get<std::string>();
            size_t n = 1;
            for (auto& d : w.at("shape")) {
                t.shape.push_back(d.get<int>());
                n *= size_t(d.get<int>());
            }
            t.values.resize(n);
            if (w.contains("quantization")) {
                auto& q = w["quantization"];
                if (q.at("dtype") != "uint8")
                    throw std::runtime_error(manifest_path + ": " + t.name + ": unsupported quantization");
                double scale = q.at("scale").get<double>(), min = q.at("min").get<double>();
                if (offset + n > blob.size())
                    throw std::runtime_error("weights for " + t.name + " are truncated in " + dir);
                for (size_t i = 0; i < n; ++i)
                    t.values[i] = float(double(static_cast<uint8_t>(blob[offset + i])) * scale + min);
                offset += n;
            } else {
                if (w.at("dtype") != "float32")
                    throw std::runtime_error(manifest_path + ": " + t.name + ": unsupported dtype");
                if (offset + 4 * n > blob.size())
                    throw std::runtime_error("weights for " + t.name + " are truncated in " + dir);
                std::memcpy(t.values.data(), blob.data() + offset, 4 * n);
                offset += 4 * n;
            }
            out.push_back(std::move(t));
        }
        if (offset != blob.size())
            throw std::runtime_error("weights shards in " + dir + " have " +
                                     std::to_string(blob.size() - offset) + " unexpected trailing bytes");
    }
    return out;
}

template <typename T>
struct is_con : std::false_type {};
template <long N, long R, long C, int SY, int SX, int PY, int PX>
struct is_con<con_<N, R, C, SY, SX, PY, PX>> : std::true_type {};

struct LayerRef {
    enum Kind { conv, scale, fc } kind;
    tensor* params;  // conv and fc
    affine_* affine = nullptr;
    long k = 0, nr = 0, nc = 0, n = 0;  // conv: filters n × k × nr × nc
};

}  // namespace

void import_face_weights(const std::string& dir, const std::string& out_dat) {
    auto tensors = read_tfjs(dir);
    if (tensors.size() != 117)
        throw std::runtime_error(dir + ": expected 117 tensors for the face recognition net, found " +
                                 std::to_string(tensors.size()));
    anet_type net;
    // The scale layers are per channel (CONV mode); a fresh affine_ is per element.
    visit_computational_layers(net, [](auto& l) {
        if constexpr (std::is_same_v<std::decay_t<decltype(l)>, affine_>) l = affine_(CONV_MODE);
    });
    matrix<rgb_pixel> dummy(150, 150);
    dummy = rgb_pixel(128, 128, 128);
    net(dummy);  // allocates every layer's parameters
    std::vector<LayerRef> layers;
    visit_computational_layers(net, [&](auto& l) {
        using L = std::decay_t<decltype(l)>;
        if constexpr (std::is_same_v<L, affine_>) {
            layers.push_back({LayerRef::scale, nullptr, &l});
        } else if constexpr (std::is_same_v<L, fc_<128, FC_NO_BIAS>>) {
            layers.push_back({LayerRef::fc, &l.get_layer_params()});
        } else if constexpr (is_con<L>::value) {
            layers.push_back(
                {LayerRef::conv, &l.get_layer_params(), nullptr, 0, l.nr(), l.nc(), l.num_filters()});
        }
    });
    // visit order is output → input; the manifest is input → output.
    std::reverse(layers.begin(), layers.end());
    size_t ti = 0;
    auto take = [&](const char* expect) -> Tensor& {
        if (ti >= tensors.size()) throw std::runtime_error(dir + ": ran out of tensors at " + expect);
        Tensor& t = tensors[ti++];
        if (t.name.find(expect) == std::string::npos)
            throw std::runtime_error(dir + ": expected a " + std::string(expect) + " tensor, found " +
                                     t.name);
        return t;
    };
    for (auto& L : layers) {
        if (L.kind == LayerRef::scale) {
            // affine_ keeps its (fixed) parameters private; rewrite them through its serialization.
            Tensor& g = take("scale/weights");
            Tensor& b = take("scale/biases");
            std::ostringstream cur;
            serialize(*L.affine, cur);
            std::istringstream in(cur.str());
            std::string version;
            resizable_tensor params;
            alias_tensor gamma, beta;
            int mode = 0;
            bool disabled = false;
            deserialize(version, in);
            deserialize(params, in);
            deserialize(gamma, in);
            deserialize(beta, in);
            deserialize(mode, in);
            deserialize(disabled, in);
            if (version != "affine_2" || mode != CONV_MODE || params.size() != g.values.size() * 2)
                throw std::runtime_error(dir + ": " + g.name + " does not fit the network (" +
                                         std::to_string(params.size()) + " parameters for " +
                                         std::to_string(g.values.size()) + " channels)");
            std::copy(g.values.begin(), g.values.end(), params.host());
            std::copy(b.values.begin(), b.values.end(), params.host() + g.values.size());
            std::ostringstream upd;
            serialize(version, upd);
            serialize(params, upd);
            serialize(gamma, upd);
            serialize(beta, upd);
            serialize(mode, upd);
            serialize(disabled, upd);
            std::istringstream back(upd.str());
            deserialize(*L.affine, back);
            continue;
        }
        float* p = L.params->host();
        if (L.kind == LayerRef::conv) {
            Tensor& f = take("filters");
            Tensor& b = take("bias");
            int h = f.shape[0], w = f.shape[1], in = f.shape[2], outc = f.shape[3];
            if (long(outc) != L.n || h != L.nr || w != L.nc ||
                L.params->size() != size_t(h * w * in * outc + outc))
                throw std::runtime_error(dir + ": " + f.name + " does not fit the network (layer " +
                                         std::to_string(L.n) + "x" + std::to_string(L.nr) + "x" +
                                         std::to_string(L.nc) + ", " + std::to_string(L.params->size()) +
                                         " parameters)");
            // TF [h][w][in][out] → dlib [out][in][h][w], then the biases.
            for (int o = 0; o < outc; ++o)
                for (int i = 0; i < in; ++i)
                    for (int y = 0; y < h; ++y)
                        for (int x = 0; x < w; ++x)
                            p[((o * in + i) * h + y) * w + x] = f.values[((y * w + x) * in + i) * outc + o];
            std::copy(b.values.begin(), b.values.end(), p + size_t(h * w * in * outc));
        } else {
            Tensor& fc = take("fc");
            if (L.params->size() != fc.values.size()) throw std::runtime_error(dir + ": fc does not fit");
            std::copy(fc.values.begin(), fc.values.end(), p);  // [256][128] in both
        }
    }
    if (ti != tensors.size())
        throw std::runtime_error(dir + ": " + std::to_string(tensors.size() - ti) + " tensors left over");
    // Without the outputs of the allocating pass above, which came from random weights: the file
    // is then the same wherever it is made, so the model is known by its sha256 (model id).
    net.clean();
    std::string tmp = out_dat + ".tmp";
    serialize(tmp) << net;
    std::filesystem::rename(tmp, out_dat);
}

struct FaceNet::Impl {
    anet_type net;
};

FaceNet::FaceNet(const std::string& dat_path) : impl_(std::make_unique<Impl>()) {
    if (!std::filesystem::exists(dat_path))
        throw std::runtime_error(
            "face recognition model " + dat_path +
            " not found; create it with: scripts/fetch-models && caregate face import-weights "
            ".cache/models/face-api " +
            dat_path);
    try {
        deserialize(dat_path) >> impl_->net;
    } catch (const std::exception& e) {
        throw std::runtime_error("face recognition model " + dat_path + " is corrupt (" + e.what() +
                                 "); recreate it with: caregate face import-weights .cache/models/face-api " +
                                 dat_path);
    }
}

std::string FaceNet::weights_bytes() {
    impl_->net.clean();
    std::ostringstream out;
    serialize(impl_->net, out);
    return out.str();
}

FaceNet::~FaceNet() = default;

std::vector<Descriptor> FaceNet::embed(const std::vector<cv::Mat>& chips) {
    std::vector<matrix<rgb_pixel>> in;
    in.reserve(chips.size());
    for (auto& c : chips) {
        matrix<rgb_pixel> m;
        assign_image(m, cv_image<rgb_pixel>(c));
        in.push_back(std::move(m));
    }
    auto out = impl_->net(in);
    std::vector<Descriptor> d(out.size(), Descriptor(128));
    for (size_t i = 0; i < out.size(); ++i)
        for (long j = 0; j < 128; ++j) d[i][size_t(j)] = out[i](j);
    return d;
}

double distance(const Descriptor& a, const Descriptor& b) {
    if (a.size() != b.size()) return 1e9;  // different models: never the same person
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += double(a[i] - b[i]) * double(a[i] - b[i]);
    return std::sqrt(s);
}

}  // namespace caregate::vision
