// The device_library:, buses: and mqtt_devices: sections of the site config: the device-model
// library, Modbus buses with their devices and points (from a model or listed), and MQTT devices;
// see config/README.md and config/devices/README.md.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "config/config_reader.hpp"

namespace caregate::config::detail {

void parse_devices(MapReader& top, const YAML::Node& root, SiteConfig& c, SiteIds& ids) {
    const std::string& file = c.source_file;
    // The device-model library, read before the devices that name its models.
    {
        namespace fs = std::filesystem;
        YAML::Node dl = top.raw("device_library");
        if (dl.IsDefined() && !dl.IsNull()) {
            if (!dl.IsSequence())
                top.fail(dl, "device_library",
                         "a list of folders of device models: [devices, /etc/caregate/devices]");
            for (auto n : dl) {
                if (!n.IsScalar() || n.Scalar().empty())
                    top.fail(n, "device_library", "each entry is a folder");
                fs::path d = n.Scalar();
                if (d.is_relative()) d = fs::path(file).parent_path() / d;
                c.device_library.push_back(d.lexically_normal().string());
            }
        }
        std::vector<std::string> dirs{devices::DeviceLibrary::builtin_dir()};
        dirs.insert(dirs.end(), c.device_library.begin(), c.device_library.end());
        try {
            c.models = std::make_shared<const devices::DeviceLibrary>(devices::DeviceLibrary::load(dirs));
        } catch (const devices::ModelError& e) {
            top.fail(dl.IsDefined() ? dl : root, "device_library", e.what());
        }
    }
    auto find_model = [&](MapReader& r, const std::string& id, const std::string& transport) {
        const devices::DeviceModel* m = c.models->find(id);
        if (!m) {
            std::string folders;
            for (auto& d : c.models->dirs()) folders += (folders.empty() ? "" : ", ") + d;
            r.fail_here("model", "'" + id + "' is not in the device library (folders: " + folders +
                                     "); add a model file there, or name its folder in device_library");
        }
        if (m->transport != transport)
            r.fail_here("model", "'" + id + "' is a " + m->transport + " model (" + m->file +
                                     "); list it under " +
                                     (m->transport == "mqtt" ? "mqtt_devices:" : "buses: devices:"));
        return m;
    };
    std::vector<std::string> kinds = {"call_button", "pull_cord",   "fall_sensor",  "ir_thermometer",
                                      "di_module",   "do_module",   "door_counter", "thermometer",
                                      "occupancy",   "door_contact"};
    for (auto& k : devices::device_kinds())
        if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) kinds.push_back(k);

    std::map<std::string, std::string> addr_owner;  // "bus/unit/table/address" -> device id
    top.each("buses", [&](MapReader& r, size_t) {
        Bus b;
        r.get("id", b.id, true);
        r.get("type", b.type, true);
        r.get("device", b.device);
        r.get("baud", b.baud);
        r.get("parity", b.parity);
        r.get("data_bits", b.data_bits);
        r.get("stop_bits", b.stop_bits);
        r.get("rs485", b.rs485);
        r.get("host", b.host);
        r.get("port", b.port);
        r.get("response_timeout_ms", b.response_timeout_ms);
        r.get("byte_timeout_ms", b.byte_timeout_ms);
        r.get("retries", b.retries);
        check_id(r, "id", b.id);
        check_one_of(r, "type", b.type, {"rtu", "tcp"});
        if (b.type == "rtu" && b.device.empty())
            r.fail_here("device", "an rtu bus needs device: (e.g. /dev/ttyUSB0)");
        if (b.type == "tcp" && b.host.empty())
            r.fail_here("host", "a tcp bus needs host: (e.g. 192.168.1.20)");
        check_one_of(r, "baud", std::to_string(b.baud),
                     {"1200", "2400", "4800", "9600", "19200", "38400", "57600", "115200"});
        check_one_of(r, "parity", b.parity, {"N", "E", "O"});
        check_range(r, "data_bits", b.data_bits, 5, 8);
        check_range(r, "stop_bits", b.stop_bits, 1, 2);
        check_range(r, "port", b.port, 1, 65535);
        check_range(r, "response_timeout_ms", b.response_timeout_ms, 10, 10000);
        check_range(r, "byte_timeout_ms", b.byte_timeout_ms, 0, 10000);
        check_range(r, "retries", b.retries, 0, 10);
        r.each("devices", [&](MapReader& d, size_t) {
            ModbusDevice dev;
            d.get("id", dev.id, true);
            d.get("name", dev.name);
            d.get("model", dev.model);
            const devices::DeviceModel* model =
                dev.model.empty() ? nullptr : find_model(d, dev.model, "modbus");
            if (model) {
                dev.kind = model->kind;
                if (model->poll_ms) dev.poll_ms = model->poll_ms;
            }
            d.get("kind", dev.kind, !model);
            d.get("zone", dev.zone);
            d.get("unit_id", dev.unit_id);
            d.get("poll_ms", dev.poll_ms);
            d.get("debounce_ms", dev.debounce_ms);
            d.get("max_silence_s", dev.max_silence_s);
            ids.unique(d, dev.id);
            ids.check_zone(d, dev.zone);
            check_one_of(d, "kind", dev.kind, kinds);
            check_range(d, "unit_id", dev.unit_id, 1, 247);
            check_range(d, "poll_ms", dev.poll_ms, 10, 600000);
            check_range(d, "debounce_ms", dev.debounce_ms, 0, 10000);
            check_range(d, "max_silence_s", dev.max_silence_s, 1, 86400);
            if (model) {
                if (d.has("points"))
                    d.fail_here("points", "model " + model->id +
                                              " already says which registers to read; "
                                              "remove points: (or model:)");
                auto thresholds = parse_thresholds(d, *model);
                for (auto& st : model->states) {
                    Point p;
                    p.table = st.table;
                    p.address = st.address;
                    p.channel = st.bit;
                    p.type = st.type == "bool" ? "" : st.type;
                    p.count = (p.type == "u32" || p.type == "s32" || p.type == "f32") ? 2 : 1;
                    p.words_big_endian = st.words_big_endian;
                    p.scale = st.scale;
                    p.min = st.min;
                    p.max = st.max;
                    p.alarm_above = st.alarm_above;
                    p.clear_below = st.clear_below;
                    if (auto it = thresholds.find(st.state); it != thresholds.end()) {
                        p.alarm_above = it->second;
                        p.clear_below = it->second * 0.9;
                    }
                    p.meaning = st.state == "temperature_c" ? "temperature" : st.state;
                    std::string key = b.id + "/" + std::to_string(dev.unit_id) + "/" + p.table + "/" +
                                      std::to_string(p.address) + "/" + std::to_string(p.channel);
                    auto [it, fresh] = addr_owner.emplace(key, dev.id);
                    if (!fresh && it->second != dev.id)
                        d.fail_here("unit_id", "bus " + b.id + " unit " + std::to_string(dev.unit_id) +
                                                   " is already read by device '" + it->second +
                                                   "' at the addresses of model " + model->id);
                    dev.points.push_back(p);
                }
            }
            d.each("points", [&](MapReader& pr, size_t) {
                Point p;
                parse_point(pr, p);
                std::string key = b.id + "/" + std::to_string(dev.unit_id) + "/" + p.table + "/" +
                                  std::to_string(p.address) + "/" + std::to_string(p.channel);
                auto [it, fresh] = addr_owner.emplace(key, dev.id);
                if (!fresh && it->second != dev.id)
                    pr.fail_here("address", "bus " + b.id + " unit " + std::to_string(dev.unit_id) + " " +
                                                p.table + " " + std::to_string(p.address) +
                                                " is already mapped to device '" + it->second +
                                                "'; two devices cannot share one address");
                if (!fresh) pr.fail_here("address", "this point is listed twice for device '" + dev.id + "'");
                dev.points.push_back(p);
            });
            if (dev.points.empty()) d.fail_here("points", "a device needs at least one point (what to read)");
            b.devices.push_back(dev);
        });
        c.buses.push_back(b);
    });
    top.each("mqtt_devices", [&](MapReader& r, size_t) {
        MqttDevice d;
        r.get("id", d.id, true);
        r.get("name", d.name);
        r.get("topic", d.topic, true);
        r.get("model", d.model);
        if (d.model.empty()) d.model = "generic";
        const devices::DeviceModel* model = find_model(r, d.model, "mqtt");
        d.kind = model->kind;
        d.battery = model->power == "battery";
        d.max_silence_s = model->default_silence_s();
        r.get("kind", d.kind);
        r.get("zone", d.zone);
        r.get("max_silence_s", d.max_silence_s);
        r.get("battery", d.battery);
        d.thresholds = parse_thresholds(r, *model);
        ids.unique(r, d.id);
        ids.check_zone(r, d.zone);
        check_one_of(r, "kind", d.kind, kinds);
        check_range(r, "max_silence_s", d.max_silence_s, 0, 30 * 86400);
        if (d.topic.find_first_of("#+") != std::string::npos)
            r.fail_here("topic", "must be one exact topic, without the wildcards + or #");
        c.mqtt_devices.push_back(d);
    });
}

}  // namespace caregate::config::detail
