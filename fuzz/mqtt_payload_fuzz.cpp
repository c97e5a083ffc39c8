// libFuzzer target: MQTT sensor payloads read through every shipped device model (config/devices),
// i.e. whatever any device or anyone on the broker publishes on a device topic. The first byte picks
// the model or the availability topic; the rest is the payload. Must never throw (nothing is caught:
// an exception terminates at the throw), never crash, and a payload flagged malformed or out of range
// says why (for the log).
#include <cstdint>
#include <string>

#include "devices/model_library.hpp"

using namespace caregate::devices;

namespace {
const DeviceLibrary& library() {
    // The shipped models, from the source tree (fuzz/run is run from a checkout).
    static const DeviceLibrary lib = DeviceLibrary::load(
        {std::string(__FILE__).substr(0, std::string(__FILE__).rfind("/fuzz/")) + "/config/devices"});
    return lib;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    auto models = library().all();
    if (models.empty()) __builtin_trap();  // the library must be found
    size_t pick = data[0] % (models.size() + 1);
    std::string payload(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (pick < models.size()) {
        if (models[pick]->transport != "mqtt") return 0;
        Reading r = read_payload(*models[pick], payload);
        if ((r.malformed || r.out_of_range) && r.why.empty()) __builtin_trap();
        for (auto& s : r.states)
            if (s.state.empty() || s.value != s.value) __builtin_trap();  // named, and never NaN
    } else {
        auto a = parse_availability(payload);
        if (a.available.has_value() == !a.why.empty()) __builtin_trap();  // one or the other
    }
    return 0;
}
