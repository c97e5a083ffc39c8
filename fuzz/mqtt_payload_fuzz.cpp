// libFuzzer target: MQTT sensor payloads (devices/mqtt_models.cpp), i.e. whatever any device or
// anyone on the broker publishes on a device topic. The first byte picks the model (every model the
// config accepts, see check_one_of for mqtt_devices model in config/config.cpp) or the availability
// topic; the rest is the payload. Must never throw (nothing is caught: an exception terminates at
// the throw), never crash, and a payload flagged malformed or out of range says why (for the log).
#include <cstdint>
#include <string>

#include "devices/mqtt_sensors.hpp"

namespace {
// Keep in step with the models accepted by config/config.cpp (mqtt_devices: model).
const char* const kModels[] = {"generic",          "ts0215a_sos", "mir_he200_fall", "zigbee_button",
                               "zigbee_occupancy", "zigbee_fall", "zigbee_contact"};
constexpr size_t kChoices = sizeof kModels / sizeof kModels[0] + 1;  // + the availability topic
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    size_t pick = data[0] % kChoices;
    std::string payload(reinterpret_cast<const char*>(data) + 1, size - 1);
    caregate::devices::ParsedPayload p;
    if (pick < kChoices - 1) {
        p = caregate::devices::parse_payload(kModels[pick], payload);
    } else {
        p = caregate::devices::parse_availability(payload);
        if (p.available.has_value() == p.malformed) __builtin_trap();  // one or the other
    }
    if ((p.malformed || p.out_of_range) && p.why.empty()) __builtin_trap();
    return 0;
}
