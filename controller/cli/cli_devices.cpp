// `caregate devices`: the device-model library from the command line, so an installer can check a
// new device without a release: list the models, check one file, try a payload on a model.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <sstream>

#include "config/config.hpp"
#include "controller/cli/cli_commands.hpp"
#include "devices/model_library.hpp"

namespace caregate {

namespace {

struct DevicesOptions {
    std::vector<std::string> library;  // extra folders, after the shipped one
    std::string file, model, payload;
};

devices::DeviceLibrary load_library(CommandContext& ctx, const DevicesOptions& o) {
    std::vector<std::string> dirs{devices::DeviceLibrary::builtin_dir()};
    if (!ctx.config_path.empty()) {  // the site's own folders, as the daemon reads them
        auto cfg = config::load_config(ctx.config_path);
        dirs.insert(dirs.end(), cfg.device_library.begin(), cfg.device_library.end());
    }
    dirs.insert(dirs.end(), o.library.begin(), o.library.end());
    auto lib = devices::DeviceLibrary::load(dirs);
    for (auto& n : lib.notes()) std::cerr << "note: " << n << "\n";
    return lib;
}

std::string states_of(const devices::DeviceModel& m) {
    std::vector<std::string> names;
    for (auto& s : m.states) {
        if (!s.state.empty()) names.push_back(s.state);
        for (auto& [v, t] : s.values)
            if (!t.state.empty()) names.push_back(t.state);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    std::string out;
    for (auto& n : names) out += (out.empty() ? "" : ",") + n;
    return out;
}

void print_reading(const devices::Reading& r) {
    if (r.states.empty() && !r.malformed && !r.out_of_range)
        std::cout << "(nothing: no field of this model)\n";
    for (auto& s : r.states) {
        std::cout << s.state << " = ";
        if (devices::is_bool_state(s.state))
            std::cout << (s.value != 0 ? "true" : "false") << (s.certain ? "" : " (uncertain)");
        else
            std::cout << s.value;
        std::cout << "\n";
    }
    if (r.malformed) std::cout << "malformed: " << r.why << " (counted and logged; this field is ignored)\n";
    if (r.out_of_range)
        std::cout << "out of range: " << r.why << " (counted and logged; this field is ignored)\n";
}

// "0=352,1=650" or "input_registers:0=352": raw register values for a Modbus model.
std::map<std::pair<std::string, int>, uint16_t> parse_registers(const devices::DeviceModel& m,
                                                                const std::string& text) {
    std::map<std::pair<std::string, int>, uint16_t> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        auto eq = item.find('=');
        if (eq == std::string::npos)
            throw std::runtime_error("'" + item + "': write ADDRESS=VALUE, e.g. 0=352");
        std::string addr = item.substr(0, eq), table;
        if (auto colon = addr.find(':'); colon != std::string::npos) {
            table = addr.substr(0, colon);
            addr = addr.substr(colon + 1);
        }
        int a = std::stoi(addr, nullptr, 0);
        long v = std::stol(item.substr(eq + 1), nullptr, 0);
        if (v < -32768 || v > 65535) throw std::runtime_error("'" + item + "': a register holds 0..65535");
        for (auto& s : m.states)
            if (table.empty() || s.table == table) out[{s.table, a}] = uint16_t(v);
    }
    return out;
}

}  // namespace

void register_device_commands(CLI::App& app, CommandContext& ctx) {
    auto o = std::make_shared<DevicesOptions>();
    auto* dev = app.add_subcommand("devices", "the device-model library (config/devices/README.md)");
    dev->require_subcommand(1);
    dev->add_option("--config,-c", ctx.config_path, "site config: also read its device_library folders");
    dev->add_option("--library", o->library, "another folder of model files (may be repeated)");
    auto run = [&ctx](const std::function<int()>& body) { guarded(ctx, body); };

    auto* models = dev->add_subcommand("models", "list the models: id, vendor, transport, states");
    models->callback([&ctx, o, run] {
        run([&] {
            auto lib = load_library(ctx, *o);
            for (auto* m : lib.all())
                std::cout << m->id << "\t" << m->vendor << "\t" << m->transport << "\t" << states_of(*m)
                          << "\n";
            if (lib.all().empty()) {
                std::cerr << "no device models found in " << devices::DeviceLibrary::builtin_dir()
                          << " (set CAREGATE_DEVICE_MODELS or install the package)\n";
                return 1;
            }
            return 0;
        });
    });

    auto* check = dev->add_subcommand("check", "check one model file (errors name the line and key)");
    check->add_option("file", o->file, "a model file (YAML)")->required();
    check->callback([o, run] {
        run([&] {
            auto m = devices::DeviceLibrary::load_file(o->file);
            std::cout << "ok: " << m.id << " (" << m.vendor << " " << m.model << ", " << m.transport << ", "
                      << m.kind << "): " << states_of(m) << "\n";
            return 0;
        });
    });

    auto* attempt =
        dev->add_subcommand("try", "show what a payload (MQTT) or register values (Modbus) produce");
    attempt->add_option("model", o->model, "model id")->required();
    attempt
        ->add_option("payload", o->payload,
                     "MQTT: the JSON payload; Modbus: raw values ADDRESS=VALUE,… (TABLE:ADDRESS=VALUE to "
                     "pick a table)")
        ->required();
    attempt->callback([&ctx, o, run] {
        run([&] {
            auto lib = load_library(ctx, *o);
            const auto* m = lib.find(o->model);
            if (!m) {
                std::cerr << "caregate: no model '" << o->model << "' (caregate devices models lists them)\n";
                return 2;
            }
            auto r = m->transport == "mqtt" ? devices::read_payload(*m, o->payload)
                                            : devices::read_registers(*m, parse_registers(*m, o->payload));
            print_reading(r);
            for (auto& s : r.states)
                if (auto* src = m->find(s.state); src && src->alarm_above && s.value >= *src->alarm_above)
                    std::cout << "→ electrical_fault alarm: " << s.state << " " << s.value << " ≥ "
                              << *src->alarm_above << "\n";
            return r.malformed || r.out_of_range ? 1 : 0;
        });
    });
}

}  // namespace caregate
