// A device simulator for the demo and the tests: Modbus TCP and RTU servers (libmodbus data model,
// one register map per unit id) answering for every device in a site config, plus zigbee2mqtt-style
// MQTT messages; driven by a small script or by the C++ API.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"

typedef struct _modbus_mapping_t modbus_mapping_t;

namespace caregate::devices {

class MqttLink;

// One scripted step: "at 2.0 press bath_call_1".
struct SimStep {
    double at_s = 0;
    std::string action;  // press release fall clear temp set offline online mqtt
    std::string device;
    std::string arg;  // temperature, register value, or the MQTT payload
    int line = 0;
};

class SimScriptError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};
// Parses a script; errors name the line: "script.txt:3: unknown action 'prss'".
std::vector<SimStep> parse_sim_script(const std::string& text, const std::string& name);

class Simulator {
public:
    // rtu_paths: bus id → the pty path the simulator serves (the poller uses the other end).
    explicit Simulator(const config::SiteConfig& cfg, std::map<std::string, std::string> rtu_paths = {});
    ~Simulator();
    // A unit with a smaller register map than the default 256 of each table (a real 8-input module
    // answers "illegal address" beyond its inputs). Call before start().
    void resize_unit(const std::string& bus, int unit, int bits, int registers);
    void start();  // servers listening; MQTT connects when cfg.mqtt.enabled
    void stop();
    // The port a TCP bus's server listens on (a bus configured with port 0 gets one from the kernel).
    int tcp_port(const std::string& bus) const;

    // The device's first point of that meaning goes to 1 (press) or 0 (release).
    void press(const std::string& device, const std::string& meaning = "call");
    void release(const std::string& device, const std::string& meaning = "call");
    void set_temperature(const std::string& device, double celsius);
    void set_register(const std::string& device, int address, uint16_t value);
    // Stops answering for a device (it goes silent) or resumes.
    void set_offline(const std::string& device, bool offline);
    bool coil(const std::string& device, int address);
    void mqtt(const std::string& topic, const std::string& payload);
    // MQTT devices: a press / fall as the device model would say it.
    void mqtt_event(const std::string& device, const std::string& what);
    void run_step(const SimStep& s);
    uint64_t requests() const { return requests_; }

private:
    struct Unit {
        modbus_mapping_t* map = nullptr;
        bool offline = false;
    };
    struct Server;
    Unit* unit_for(const std::string& device, const config::ModbusDevice** dev = nullptr);
    const config::Point* point_for(const config::ModbusDevice& d, const std::string& meaning);
    void set_point(const std::string& device, const std::string& meaning, int value);
    void serve_tcp(Server& s);
    void serve_rtu(Server& s);

    const config::SiteConfig& cfg_;
    std::map<std::string, std::string> rtu_paths_;
    std::mutex mu_;                                     // guards the register maps
    std::map<std::string, std::map<int, Unit>> units_;  // bus id → unit id → map
    std::vector<std::unique_ptr<Server>> servers_;
    std::unique_ptr<MqttLink> mqtt_;
    std::atomic<bool> running_{false};
    std::atomic<uint64_t> requests_{0};
};

// `caregate sim`: runs until stop, playing the script (if any) from start.
int run_simulator(const config::SiteConfig& cfg, const std::string& script_path, std::atomic<bool>& stop,
                  std::map<std::string, std::string> rtu_paths = {});

}  // namespace caregate::devices
