#include "devices/simulator.hpp"

#include <modbus/modbus.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "controller/core/log.hpp"
#include "devices/mqtt_link.hpp"

namespace caregate::devices {

struct Simulator::Server {
    std::string bus_id;
    bool tcp = true;
    modbus_t* ctx = nullptr;
    int listen_fd = -1;
    int port = 0;  // as bound
    std::thread thread;
};

std::vector<SimStep> parse_sim_script(const std::string& text, const std::string& name) {
    static const std::set<std::string> actions = {"press", "release", "cancel", "fall", "clear", "temp",
                                                  "set",   "offline", "online", "mqtt", "event"};
    std::vector<SimStep> steps;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        auto hash = line.find('#');
        if (hash != std::string::npos) line.resize(hash);
        std::istringstream ls(line);
        std::string at;
        if (!(ls >> at)) continue;
        auto fail = [&](const std::string& why) {
            throw SimScriptError(name + ":" + std::to_string(n) + ": " + why);
        };
        SimStep s;
        s.line = n;
        if (at != "at") fail("each line starts with 'at <seconds>', e.g. 'at 2.5 press bath_call_1'");
        std::string t;
        if (!(ls >> t)) fail("missing time after 'at'");
        try {
            size_t used = 0;
            s.at_s = std::stod(t, &used);
            if (used != t.size() || s.at_s < 0) throw std::invalid_argument(t);
        } catch (const std::exception&) {
            fail("'" + t + "' is not a time in seconds");
        }
        if (!(ls >> s.action)) fail("missing action");
        if (!actions.count(s.action))
            fail("unknown action '" + s.action +
                 "' (use press release cancel fall clear temp set offline online mqtt event)");
        if (!(ls >> s.device)) fail("missing device id (or topic for mqtt)");
        std::getline(ls, s.arg);
        s.arg.erase(0, s.arg.find_first_not_of(' '));
        if (s.action == "temp") {
            try {
                std::stod(s.arg);
            } catch (const std::exception&) {
                fail("temp needs a temperature in °C, e.g. 'at 3 temp door_thermo 36.6'");
            }
        }
        if (s.action == "set" && s.arg.find(' ') == std::string::npos) fail("set needs '<address> <value>'");
        if ((s.action == "mqtt" || s.action == "event") && s.arg.empty()) fail(s.action + " needs a payload");
        steps.push_back(s);
    }
    return steps;
}

Simulator::Simulator(const config::SiteConfig& cfg, std::map<std::string, std::string> rtu_paths)
    : cfg_(cfg), rtu_paths_(std::move(rtu_paths)) {
    for (auto& b : cfg_.buses)
        for (auto& d : b.devices) {
            auto& u = units_[b.id][d.unit_id];
            if (!u.map) u.map = modbus_mapping_new(256, 256, 256, 256);
        }
}

void Simulator::resize_unit(const std::string& bus, int unit, int bits, int registers) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& u = units_[bus][unit];
    if (u.map) modbus_mapping_free(u.map);
    u.map = modbus_mapping_new(bits, bits, registers, registers);
    if (!u.map)
        throw std::runtime_error("simulator: cannot allocate a register map for unit " +
                                 std::to_string(unit));
}

Simulator::~Simulator() {
    stop();
    for (auto& [bus, units] : units_)
        for (auto& [id, u] : units) modbus_mapping_free(u.map);
}

int Simulator::tcp_port(const std::string& bus) const {
    for (auto& s : servers_)
        if (s->bus_id == bus && s->tcp) return s->port;
    throw std::runtime_error("simulator: no tcp bus " + bus + " listening");
}

void Simulator::start() {
    if (running_.exchange(true)) return;
    auto log = logger("sim");
    for (auto& b : cfg_.buses) {
        auto s = std::make_unique<Server>();
        s->bus_id = b.id;
        s->tcp = b.type == "tcp";
        if (s->tcp) {
            s->ctx = modbus_new_tcp(b.host.c_str(), b.port);
            s->listen_fd = s->ctx ? modbus_tcp_listen(s->ctx, 16) : -1;
            if (s->listen_fd < 0) {
                std::string err = modbus_strerror(errno);
                if (s->ctx) modbus_free(s->ctx);
                throw std::runtime_error("simulator: cannot listen on " + b.host + ":" +
                                         std::to_string(b.port) + ": " + err);
            }
            sockaddr_in bound{};
            socklen_t len = sizeof bound;
            if (::getsockname(s->listen_fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0)
                s->port = ntohs(bound.sin_port);
            log->info("simulating bus {} on tcp {}:{}", b.id, b.host, s->port);
        } else {
            auto it = rtu_paths_.find(b.id);
            std::string path = it != rtu_paths_.end() ? it->second : b.device + ".sim";
            s->ctx = modbus_new_rtu(path.c_str(), b.baud, b.parity[0], b.data_bits, b.stop_bits);
            if (!s->ctx || modbus_connect(s->ctx) != 0) {
                std::string err = modbus_strerror(errno);
                if (s->ctx) modbus_free(s->ctx);
                throw std::runtime_error("simulator: cannot open " + path + " for rtu bus " + b.id + ": " +
                                         err);
            }
            log->info("simulating bus {} on rtu {}", b.id, path);
        }
        Server* raw = s.get();
        s->thread = std::thread([this, raw] { raw->tcp ? serve_tcp(*raw) : serve_rtu(*raw); });
        servers_.push_back(std::move(s));
    }
    if (cfg_.mqtt.enabled && !cfg_.mqtt_devices.empty()) {
        MqttLinkOptions o;
        o.uri = cfg_.mqtt.uri;
        o.client_id = cfg_.mqtt.client_id + "-sim";
        mqtt_ = std::make_unique<MqttLink>(o, nullptr);
        mqtt_->start();
        for (int i = 0; i < 100 && !mqtt_->connected(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        for (auto& d : cfg_.mqtt_devices) mqtt_->publish(d.topic + "/availability", "online", 1, true);
    }
}

void Simulator::stop() {
    if (!running_.exchange(false)) return;
    for (auto& s : servers_) {
        if (s->thread.joinable()) s->thread.join();
        if (s->listen_fd >= 0) close(s->listen_fd);
        modbus_close(s->ctx);
        modbus_free(s->ctx);
    }
    servers_.clear();
    if (mqtt_) mqtt_->stop();
    mqtt_.reset();
}

void Simulator::serve_tcp(Server& s) {
    std::set<int> clients;
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    while (running_) {
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(s.listen_fd, &rd);
        int maxfd = s.listen_fd;
        for (int c : clients) {
            FD_SET(c, &rd);
            maxfd = std::max(maxfd, c);
        }
        timeval tv{0, 100000};
        if (select(maxfd + 1, &rd, nullptr, nullptr, &tv) <= 0) continue;
        if (FD_ISSET(s.listen_fd, &rd)) {
            int fd = s.listen_fd;
            int c = modbus_tcp_accept(s.ctx, &fd);
            if (c >= 0) clients.insert(c);
        }
        for (auto it = clients.begin(); it != clients.end();) {
            int c = *it;
            if (!FD_ISSET(c, &rd)) {
                ++it;
                continue;
            }
            modbus_set_socket(s.ctx, c);
            int rc = modbus_receive(s.ctx, query);
            if (rc == -1) {
                close(c);
                it = clients.erase(it);
                continue;
            }
            if (rc > 0) {
                requests_++;
                int unit = query[6];
                std::lock_guard<std::mutex> lock(mu_);
                auto& units = units_[s.bus_id];
                auto u = units.find(unit);
                if (u != units.end() && !u->second.offline)
                    modbus_reply(s.ctx, query, rc, u->second.map);
                else if (u == units.end())
                    modbus_reply_exception(s.ctx, query, MODBUS_EXCEPTION_GATEWAY_TARGET);
            }
            ++it;
        }
    }
    for (int c : clients) close(c);
}

namespace {
uint16_t crc16(const uint8_t* p, size_t n) {
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int b = 0; b < 8; ++b) crc = (crc & 1) ? (crc >> 1) ^ 0xA001 : crc >> 1;
    }
    return crc;
}
}  // namespace

// libmodbus's RTU receive answers one slave id only, so the RTU side frames requests itself and
// lets libmodbus build the reply for whichever unit was addressed.
void Simulator::serve_rtu(Server& s) {
    int fd = modbus_get_socket(s.ctx);
    std::vector<uint8_t> buf;
    while (running_) {
        fd_set rd;
        FD_ZERO(&rd);
        FD_SET(fd, &rd);
        timeval tv{0, 100000};
        int r = select(fd + 1, &rd, nullptr, nullptr, &tv);
        if (r <= 0) {
            buf.clear();  // silence ends a frame: drop any partial one
            continue;
        }
        uint8_t chunk[256];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n <= 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        buf.insert(buf.end(), chunk, chunk + n);
        while (buf.size() >= 8) {
            uint8_t fn = buf[1];
            size_t len = (fn >= 1 && fn <= 6) ? 8 : (fn == 15 || fn == 16) ? 9 + buf[6] : 0;
            if (len == 0) {
                buf.clear();
                break;
            }
            if (buf.size() < len) break;
            uint16_t crc = crc16(buf.data(), len - 2);
            if ((crc & 0xFF) != buf[len - 2] || (crc >> 8) != buf[len - 1]) {
                buf.clear();  // garbage on the line: resynchronise on the next frame
                break;
            }
            requests_++;
            int unit = buf[0];
            {
                std::lock_guard<std::mutex> lock(mu_);
                auto& units = units_[s.bus_id];
                auto u = units.find(unit);
                if (u != units.end() && !u->second.offline) {
                    modbus_set_slave(s.ctx, unit);
                    modbus_reply(s.ctx, buf.data(), static_cast<int>(len), u->second.map);
                }
            }
            buf.erase(buf.begin(), buf.begin() + static_cast<long>(len));
        }
    }
}

Simulator::Unit* Simulator::unit_for(const std::string& device, const config::ModbusDevice** dev) {
    for (auto& b : cfg_.buses)
        for (auto& d : b.devices)
            if (d.id == device) {
                if (dev) *dev = &d;
                return &units_[b.id][d.unit_id];
            }
    return nullptr;
}

const config::Point* Simulator::point_for(const config::ModbusDevice& d, const std::string& meaning) {
    for (auto& p : d.points)
        if (p.meaning == meaning) return &p;
    return nullptr;
}

namespace {
// A scripted address outside the unit's register map is an error in the script, not a memory write.
void check_address(const modbus_mapping_t* m, const std::string& table, int address,
                   const std::string& device) {
    int size = table == "coils"               ? m->nb_bits
               : table == "discrete_inputs"   ? m->nb_input_bits
               : table == "holding_registers" ? m->nb_registers
                                              : m->nb_input_registers;
    if (address < 0 || address >= size)
        throw std::invalid_argument("simulator: address " + std::to_string(address) + " is outside " +
                                    device + "'s " + table + " (0.." + std::to_string(size - 1) + ")");
}
}  // namespace

void Simulator::set_point(const std::string& device, const std::string& meaning, int value) {
    std::lock_guard<std::mutex> lock(mu_);
    const config::ModbusDevice* d = nullptr;
    Unit* u = unit_for(device, &d);
    if (!u) throw std::invalid_argument("simulator: no Modbus device '" + device + "'");
    const config::Point* p = point_for(*d, meaning);
    if (!p) throw std::invalid_argument("simulator: device '" + device + "' has no '" + meaning + "' point");
    auto* m = u->map;
    if (p->table == "discrete_inputs" || p->table == "coils") {
        int addr = p->address + std::max(p->channel, 0);
        check_address(m, p->table, addr, device);
        (p->table == "coils" ? m->tab_bits : m->tab_input_bits)[addr] = value ? 1 : 0;
    } else {
        check_address(m, p->table, p->address, device);
        uint16_t* regs = p->table == "holding_registers" ? m->tab_registers : m->tab_input_registers;
        if (p->channel >= 0)
            regs[p->address] = static_cast<uint16_t>(value ? regs[p->address] | (1u << p->channel)
                                                           : regs[p->address] & ~(1u << p->channel));
        else
            regs[p->address] = static_cast<uint16_t>(value);
    }
}

void Simulator::press(const std::string& device, const std::string& meaning) {
    bool is_mqtt = false;
    for (auto& d : cfg_.mqtt_devices) is_mqtt |= d.id == device;
    if (is_mqtt) return mqtt_event(device, meaning == "fall" ? "fall" : "press");
    set_point(device, meaning, 1);
}

void Simulator::release(const std::string& device, const std::string& meaning) {
    set_point(device, meaning, 0);
}

void Simulator::set_temperature(const std::string& device, double celsius) {
    const config::ModbusDevice* d = nullptr;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!unit_for(device, &d))
            throw std::invalid_argument("simulator: no Modbus device '" + device + "'");
    }
    const config::Point* p = point_for(*d, "temperature");
    if (!p) throw std::invalid_argument("simulator: device '" + device + "' has no temperature point");
    set_point(device, "temperature", static_cast<int16_t>(std::lround(celsius / p->scale)));
}

void Simulator::set_register(const std::string& device, int address, uint16_t value) {
    std::lock_guard<std::mutex> lock(mu_);
    Unit* u = unit_for(device);
    if (!u) throw std::invalid_argument("simulator: no Modbus device '" + device + "'");
    check_address(u->map, "holding_registers", address, device);
    check_address(u->map, "input_registers", address, device);
    u->map->tab_registers[address] = value;
    u->map->tab_input_registers[address] = value;
}

void Simulator::set_offline(const std::string& device, bool offline) {
    for (auto& d : cfg_.mqtt_devices)
        if (d.id == device) {
            if (mqtt_) mqtt_->publish(d.topic + "/availability", offline ? "offline" : "online", 1, true);
            return;
        }
    std::lock_guard<std::mutex> lock(mu_);
    Unit* u = unit_for(device);
    if (!u) throw std::invalid_argument("simulator: no device '" + device + "'");
    u->offline = offline;
}

bool Simulator::coil(const std::string& device, int address) {
    std::lock_guard<std::mutex> lock(mu_);
    Unit* u = unit_for(device);
    if (!u) throw std::invalid_argument("simulator: no Modbus device '" + device + "'");
    check_address(u->map, "coils", address, device);
    return u->map->tab_bits[address] != 0;
}

void Simulator::mqtt(const std::string& topic, const std::string& payload) {
    if (!mqtt_) throw std::runtime_error("simulator: MQTT is not enabled in this config");
    mqtt_->publish(topic, payload, 1, false);
}

void Simulator::mqtt_event(const std::string& device, const std::string& what) {
    for (auto& d : cfg_.mqtt_devices) {
        if (d.id != device) continue;
        // What the device's model says for that state (press = call, clear = no fall), from the library.
        std::string state = what == "press" ? "call" : what == "clear" ? "fall" : what;
        const DeviceModel* m = cfg_.models ? cfg_.models->find(d.model) : nullptr;
        auto example = m ? example_payload(*m, state, what != "clear") : std::nullopt;
        if (!example)
            throw std::invalid_argument("simulator: model " + d.model + " of device " + device +
                                        " has no state '" + state + "'");
        std::string payload = *example;
        return mqtt(d.topic, payload);
    }
    throw std::invalid_argument("simulator: no MQTT device '" + device + "'");
}

void Simulator::run_step(const SimStep& s) {
    if (s.action == "press")
        press(s.device);
    else if (s.action == "release")
        release(s.device);
    else if (s.action == "cancel") {
        set_point(s.device, "cancel", 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        set_point(s.device, "cancel", 0);
    } else if (s.action == "fall") {
        bool is_mqtt = false;
        for (auto& d : cfg_.mqtt_devices) is_mqtt |= d.id == s.device;
        is_mqtt ? mqtt_event(s.device, "fall") : set_point(s.device, "fall", 1);
    } else if (s.action == "clear") {
        bool is_mqtt = false;
        for (auto& d : cfg_.mqtt_devices) is_mqtt |= d.id == s.device;
        is_mqtt ? mqtt_event(s.device, "clear") : set_point(s.device, "fall", 0);
    } else if (s.action == "temp")
        set_temperature(s.device, std::stod(s.arg));
    else if (s.action == "set") {
        std::istringstream a(s.arg);
        int addr = 0, value = 0;
        a >> addr >> value;
        set_register(s.device, addr, static_cast<uint16_t>(value));
    } else if (s.action == "offline")
        set_offline(s.device, true);
    else if (s.action == "online")
        set_offline(s.device, false);
    else if (s.action == "mqtt")
        mqtt(s.device, s.arg);
    else if (s.action == "event")
        mqtt_event(s.device, s.arg);
}

int run_simulator(const config::SiteConfig& cfg, const std::string& script_path, std::atomic<bool>& stop,
                  std::map<std::string, std::string> rtu_paths) {
    std::vector<SimStep> steps;
    if (!script_path.empty()) {
        std::ifstream f(script_path);
        if (!f) throw std::runtime_error("cannot read simulator script " + script_path);
        std::stringstream ss;
        ss << f.rdbuf();
        steps = parse_sim_script(ss.str(), script_path);
        std::stable_sort(steps.begin(), steps.end(), [](auto& a, auto& b) { return a.at_s < b.at_s; });
    }
    Simulator sim(cfg, std::move(rtu_paths));
    sim.start();
    auto t0 = std::chrono::steady_clock::now();
    size_t next = 0;
    while (!stop) {
        double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        while (next < steps.size() && steps[next].at_s <= t) {
            try {
                sim.run_step(steps[next]);
                logger("sim")->info("t={:.1f}s {} {} {}", t, steps[next].action, steps[next].device,
                                    steps[next].arg);
            } catch (const std::exception& e) {
                logger("sim")->error("{}:{}: {}", script_path, steps[next].line, e.what());
            }
            ++next;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    sim.stop();
    return 0;
}

}  // namespace caregate::devices
