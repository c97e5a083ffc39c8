// Device models as data: one YAML file per model (config/devices/README.md is the format) maps a
// payload field or a register to a typed state. The library is read from the shipped folder plus the
// folders a site names; the MQTT bridge and the Modbus pollers read states through it, so a new
// smoke detector or fall radar is a new file, not a release.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace caregate::devices {

// A model file that cannot be used; the message names the file, line and key.
struct ModelError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// What one field or register means.
struct StateSource {
    std::string state;  // call, fall, smoke, residual_current_ma, ... (empty: values name the states)
    // MQTT
    std::string json;  // JSON pointer into the payload
    std::string type;  // bool, number, string (MQTT); bool, u16, s16, u32, s32, f32 (Modbus)
    bool invert = false;
    struct Target {
        std::string state;  // empty: the value means nothing
        double value = 1;   // 1 active, 0 inactive
        bool certain = true;
    };
    std::map<std::string, Target> values;  // string fields: payload value → meaning
    std::string when_json, when_equals;    // read only when another field has this value
    // Modbus
    std::string table;  // coils, discrete_inputs, holding_registers, input_registers
    int address = 0;
    int bit = -1;  // one bit of a register
    bool words_big_endian = true;
    // Numbers
    double scale = 1.0;
    std::optional<double> min, max;
    std::optional<double> alarm_above, clear_below;
    int line = 0;
};

struct DeviceModel {
    std::string id, vendor, model, transport, kind, power, source, file;
    int poll_ms = 0;  // modbus: default poll period; 0 = the site's default
    std::vector<StateSource> states;
    // Default silence supervision: battery devices by their last message after 25 h (as
    // zigbee2mqtt does), mains devices after 10 min.
    int default_silence_s() const { return power == "battery" ? 25 * 3600 : 600; }
    const StateSource* find(const std::string& state) const;
};

// One state a payload or a register read produced.
struct StateValue {
    std::string state;
    double value = 0;  // bools: 1 / 0
    bool certain = true;
};

// What one MQTT payload means under a model.
struct Reading {
    std::vector<StateValue> states;
    bool malformed = false, out_of_range = false;
    std::string why;  // for the log when malformed / out of range
    std::optional<double> get(const std::string& state) const;
};
Reading read_payload(const DeviceModel& model, const std::string& payload);

// A payload this model would publish for a true/false state (the simulator's "press", "fall",
// "smoke"...), or nullopt when the model has no such state.
std::optional<std::string> example_payload(const DeviceModel& model, const std::string& state, bool active);

// A register value of `type` (u16 s16 u32 s32 f32) from one or two registers, before scaling.
double decode_registers(const std::string& type, bool words_big_endian, const uint16_t* regs);

// What a Modbus model reads from raw register/bit values (address → value), as `devices try` shows.
Reading read_registers(const DeviceModel& model, const std::map<std::pair<std::string, int>, uint16_t>& raw);

// `<topic>/availability`: online / offline, or {"state":"online"}.
struct Availability {
    std::optional<bool> available;
    std::string why;  // when neither
};
Availability parse_availability(const std::string& payload);

bool is_bool_state(const std::string& state);
bool is_numeric_state(const std::string& state);
// Numeric states whose thresholds raise electrical_fault alarms.
bool is_electrical_state(const std::string& state);
bool is_safety_state(const std::string& state);  // smoke, gas, water_leak: alarms of their own kind
const std::vector<std::string>& device_kinds();

class DeviceLibrary {
public:
    // Parses one model file's text; file_name is used in errors.
    static DeviceModel parse(const std::string& yaml_text, const std::string& file_name);
    static DeviceModel load_file(const std::string& path);
    // Every *.yaml of each folder, in order; a later folder's model replaces an earlier one of the
    // same id (notes say which). A missing folder is skipped; a bad file throws ModelError.
    static DeviceLibrary load(const std::vector<std::string>& dirs);
    // The shipped folder: $CAREGATE_DEVICE_MODELS, else /usr/share/caregate/devices.
    static std::string builtin_dir();

    const DeviceModel* find(const std::string& id) const;
    std::vector<const DeviceModel*> all() const;
    const std::vector<std::string>& dirs() const { return dirs_; }
    const std::vector<std::string>& notes() const { return notes_; }
    void add(DeviceModel m);

private:
    std::map<std::string, std::shared_ptr<const DeviceModel>> models_;
    std::vector<std::string> dirs_;
    std::vector<std::string> notes_;
};

}  // namespace caregate::devices
