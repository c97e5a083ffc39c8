// libFuzzer target: what a Modbus slave on the RS-485 line, or a Modbus TCP gateway, answers the
// daemon's poller. The production path end to end: a libmodbus context (modbus_new_tcp or
// modbus_new_rtu, the system libmodbus the daemon links) whose socket is one end of a socketpair, and
// ModbusBusPoller::poll_once — the poll thread's own requests, checks and decoding (devices/
// modbus_poller.cpp: plan, read, decode, debounce, events) — for a bus whose devices use every
// shipped Modbus device model (config/devices: acrel_arcm300, threephase_meter) and every legacy point
// meaning, expanded by config::parse_config as for a site.
//
// Input, first byte: bit 0 framing (0 Modbus TCP, 1 RTU), bit 1 the mode:
//   0 "line": the rest is the byte stream the slave sends, as replies to successive requests. It is
//     cut into chunks [length][how][length bytes]; how & 1 frames the chunk (TCP: the harness puts the
//     MBAP header in front, with the transaction id of that request's ordinal — libmodbus numbers a
//     new context's requests 1, 2, …; RTU: the harness appends the CRC), otherwise the chunk is sent
//     as is. Every chunk is written before the first poll, then the stream ends (EOF), so a run never
//     waits: a reply cut short by the end is a reset link (a transport error), and a chunk that is
//     longer or shorter than its reply shifts the replies that follow, as a broken gateway would.
//   1 "registers": a conforming libmodbus server (modbus_reply, in a thread on the other end) answers
//     every request from register and bit tables filled with the rest of the input, one table set per
//     unit id: random register arrays through the same decoding.
// Up to 8 poll cycles (4 with registers, new values every second one) run on one fresh poller (a manual clock
// 40 ms apart, more than the 30 ms debounce, so edges are confirmed and levels reported). Each input is also
// read through devices::read_registers for every shipped Modbus model (what `caregate devices try` shows).
// Never waits on a timeout: the response timeout is 5 ms and nothing is ever left unanswered.
//
// Checks (a violation traps): events name a configured device; a Measurement is finite and inside its
// point's range; a temperature is a person's (30..125 °C); an occupancy delta is 1..999 either way;
// read_registers states are named, finite and in range, and an out-of-range reading says why.
#include <modbus/modbus.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/clock.hpp"
#include "devices/modbus_poller.hpp"
#include "devices/model_library.hpp"

using namespace caregate;

namespace {

std::string source_dir() {
    std::string f = __FILE__;
    return f.substr(0, f.rfind("/fuzz/"));
}

// One bus: every legacy meaning on bit and register tables, an output read back, and one device per
// shipped Modbus model. Per cycle: 8 requests (unit 1 FC02 0+8, unit 2 FC04 15+1, unit 3 FC03 0+7,
// unit 4 FC01 0+1, unit 5 FC03 0+2, unit 6 FC04 0+8, 52+2, 72+2).
std::string site_yaml(bool rtu) {
    std::string bus = rtu ? "    type: rtu\n    device: /dev/ttyFUZZ\n    baud: 9600\n"
                          : "    type: tcp\n    host: 127.0.0.1\n    port: 502\n";
    return "site: {id: fuzz, name: fuzz}\n"
           "mqtt: {enabled: false}\n"
           "zones: [{id: hall, name: hall}]\n"
           "buses:\n"
           "  - id: line\n" +
           bus +
           "    devices:\n"
           "      - id: di_room\n"
           "        kind: di_module\n"
           "        zone: hall\n"
           "        unit_id: 1\n"
           "        points:\n"
           "          - {table: discrete_inputs, address: 0, channel: 0, meaning: call}\n"
           "          - {table: discrete_inputs, address: 0, channel: 1, meaning: cord_pulled}\n"
           "          - {table: discrete_inputs, address: 0, channel: 2, meaning: cancel}\n"
           "          - {table: discrete_inputs, address: 0, channel: 3, meaning: fall}\n"
           "          - {table: discrete_inputs, address: 0, channel: 4, meaning: smoke}\n"
           "          - {table: discrete_inputs, address: 0, channel: 5, meaning: gas}\n"
           "          - {table: discrete_inputs, address: 0, channel: 6, meaning: presence}\n"
           "          - {table: discrete_inputs, address: 0, channel: 7, meaning: tamper}\n"
           "      - id: door_thermo\n"
           "        kind: ir_thermometer\n"
           "        zone: hall\n"
           "        unit_id: 2\n"
           "        points: [{table: input_registers, address: 15, scale: 0.1, meaning: temperature}]\n"
           "      - id: door_counter\n"
           "        kind: door_counter\n"
           "        zone: hall\n"
           "        unit_id: 3\n"
           "        points:\n"
           "          - {table: holding_registers, address: 0, meaning: counter_in}\n"
           "          - {table: holding_registers, address: 1, meaning: counter_out}\n"
           "          - {table: holding_registers, address: 2, count: 2, scale: 0.01, meaning: energy_kwh}\n"
           "          - {table: holding_registers, address: 4, channel: 3, meaning: water_leak}\n"
           "          - {table: holding_registers, address: 5, type: f32, meaning: voltage_v, alarm_above: "
           "250}\n"
           "      - id: siren\n"
           "        kind: do_module\n"
           "        zone: hall\n"
           "        unit_id: 4\n"
           "        points: [{table: coils, address: 0, meaning: output}]\n"
           "      - {id: fire_detector, model: acrel_arcm300, zone: hall, unit_id: 5}\n"
           "      - {id: meter, model: threephase_meter, zone: hall, unit_id: 6}\n";
}

struct Fixture {
    config::SiteConfig tcp, rtu;
    std::vector<const devices::DeviceModel*> models;  // shipped Modbus models
    devices::DeviceLibrary library;
    std::map<std::string, const config::ModbusDevice*> devices;  // of the tcp bus (same ids)
};

const Fixture& fixture() {
    static const Fixture* f = [] {
        std::string dir = source_dir() + "/config/devices";
        ::setenv("CAREGATE_DEVICE_MODELS", dir.c_str(), 1);  // parse_config's model library
        auto* x = new Fixture;
        x->tcp = config::parse_config(site_yaml(false), "fuzz-tcp.yaml");
        x->rtu = config::parse_config(site_yaml(true), "fuzz-rtu.yaml");
        x->library = devices::DeviceLibrary::load({dir});
        for (auto* m : x->library.all())
            if (m->transport == "modbus") x->models.push_back(m);
        if (x->models.size() < 2) __builtin_trap();  // the shipped models must be found
        for (auto& d : x->tcp.buses.at(0).devices) x->devices[d.id] = &d;
        return x;
    }();
    return *f;
}

uint16_t crc16(const uint8_t* p, size_t n) {
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int b = 0; b < 8; ++b) crc = (crc & 1) ? (crc >> 1) ^ 0xA001 : crc >> 1;
    }
    return crc;
}

// "line" mode: the reply stream the slave sends.
std::vector<uint8_t> line_stream(const uint8_t* data, size_t size, bool rtu) {
    std::vector<uint8_t> out;
    size_t i = 0;
    uint16_t ordinal = 0;
    while (i < size) {
        size_t len = data[i++];
        uint8_t how = i < size ? data[i++] : 0;
        len = std::min(len, size - i);
        const uint8_t* chunk = data + i;
        i += len;
        ++ordinal;
        if (!(how & 1)) {
            out.insert(out.end(), chunk, chunk + len);
        } else if (rtu) {
            out.insert(out.end(), chunk, chunk + len);
            uint16_t crc = crc16(chunk, len);
            out.push_back(uint8_t(crc & 0xFF));  // CRC low byte first on the wire
            out.push_back(uint8_t(crc >> 8));
        } else {
            uint8_t mbap[6] = {uint8_t(ordinal >> 8), uint8_t(ordinal), 0, 0,
                               uint8_t(len >> 8),     uint8_t(len)};
            out.insert(out.end(), mbap, mbap + 6);
            out.insert(out.end(), chunk, chunk + len);
        }
    }
    return out;
}

// "registers" mode: a conforming slave answering from tables filled with the input.
struct Tables {
    std::map<int, modbus_mapping_t*> by_unit;
    ~Tables() {
        for (auto& [u, m] : by_unit) modbus_mapping_free(m);
    }
};

void fill(Tables& t, const uint8_t* data, size_t size, size_t start) {
    size_t k = start;
    auto next = [&] { return size ? data[k++ % size] : uint8_t(0); };
    for (int unit = 1; unit <= 6; ++unit) {
        modbus_mapping_t* m = modbus_mapping_new(16, 16, 80, 80);
        if (!m) __builtin_trap();
        for (int i = 0; i < 16; ++i) m->tab_bits[i] = next() & 1;
        for (int i = 0; i < 16; ++i) m->tab_input_bits[i] = next() & 1;
        for (int i = 0; i < 80; ++i) m->tab_registers[i] = uint16_t(next() << 8 | next());
        for (int i = 0; i < 80; ++i) m->tab_input_registers[i] = uint16_t(next() << 8 | next());
        if (t.by_unit.count(unit)) modbus_mapping_free(t.by_unit[unit]);
        t.by_unit[unit] = m;
    }
}

// The poller only sends read requests here (FC01..04, no outputs are switched): 12 bytes over TCP
// (MBAP + 5), 8 over RTU (unit, 5, CRC). Read whole, then answered by libmodbus's own modbus_reply.
void serve(int fd, bool rtu, const Tables& tables) {
    modbus_t* srv =
        rtu ? modbus_new_rtu("/dev/ttyFUZZ-slave", 9600, 'N', 8, 1) : modbus_new_tcp("127.0.0.1", 502);
    if (!srv) __builtin_trap();
    modbus_set_socket(srv, fd);
    const size_t want = rtu ? 8 : 12;
    uint8_t query[MODBUS_MAX_ADU_LENGTH];
    for (;;) {
        size_t got = 0;
        while (got < want) {
            ssize_t n = ::read(fd, query + got, want - got);
            if (n <= 0) break;
            got += size_t(n);
        }
        if (got < want) break;  // the poller's end was shut down
        int unit = query[rtu ? 0 : 6];
        auto it = tables.by_unit.find(unit);
        if (it == tables.by_unit.end()) __builtin_trap();  // a request for a unit no device has
        modbus_set_slave(srv, unit);
        if (modbus_reply(srv, query, int(want), it->second) < 0) break;
    }
    modbus_free(srv);  // not modbus_close: the fd is closed by the caller
}

// CAREGATE_FUZZ_VERBOSE=1 (running single inputs: `fuzz/run modbus_reply FILE`) prints each
// device's counters and every event.
bool verbose() {
    static const bool v = std::getenv("CAREGATE_FUZZ_VERBOSE") != nullptr;
    return v;
}

void check_events(Subscription& sub) {
    const auto& devs = fixture().devices;
    auto point = [&](const std::string& id, const std::string& meaning) -> const config::Point* {
        auto d = devs.find(id);
        if (d == devs.end()) __builtin_trap();  // an event for a device that is not configured
        for (auto& p : d->second->points)
            if (p.meaning == meaning) return &p;
        return nullptr;
    };
    while (auto e = sub.next(std::chrono::milliseconds(0))) {
        if (verbose()) {
            auto* m = std::get_if<Measurement>(&*e);
            std::fprintf(
                stderr, "  event %s%s\n", event_name(*e),
                m ? (" " + m->device_id + " " + m->state + " " + std::to_string(m->value)).c_str() : "");
        }
        if (auto* m = std::get_if<Measurement>(&*e)) {
            const auto* p = point(m->device_id, m->state);
            if (!p || !std::isfinite(m->value)) __builtin_trap();
            if ((p->min && m->value < *p->min) || (p->max && m->value > *p->max)) __builtin_trap();
        } else if (auto* t = std::get_if<TemperatureReading>(&*e)) {
            if (!point(t->device_id, "temperature") || !(t->celsius >= 30 && t->celsius <= 125))
                __builtin_trap();
        } else if (auto* o = std::get_if<OccupancyCount>(&*e)) {
            if (o->delta == 0 || o->delta >= 1000 || o->delta <= -1000) __builtin_trap();
            (void)point(o->device_id, "counter_in");
        } else if (auto* b = std::get_if<ButtonPressed>(&*e)) {
            if (!point(b->device_id, b->cause)) __builtin_trap();
        } else if (auto* c = std::get_if<DeviceCondition>(&*e)) {
            if (!point(c->device_id, c->state)) __builtin_trap();
        } else if (auto* f = std::get_if<FallDetected>(&*e)) {
            if (!point(f->device_id, "fall")) __builtin_trap();
        } else if (auto* h = std::get_if<DeviceHealth>(&*e)) {
            (void)point(h->device_id, "");
        }
    }
}

// Every shipped Modbus model through read_registers, with values (and missing registers) from data.
void read_models(const uint8_t* data, size_t size) {
    size_t k = 0;
    auto next = [&] { return size ? data[k++ % size] : uint8_t(0); };
    for (auto* m : fixture().models) {
        std::map<std::pair<std::string, int>, uint16_t> raw;
        for (auto& s : m->states)
            for (int a : {s.address, s.address + 1}) raw[{s.table, a}] = uint16_t(next() << 8 | next());
        uint8_t drop = next();  // leave one register out now and then: the state is then not read
        if (drop & 1 && !raw.empty()) raw.erase(std::next(raw.begin(), drop % raw.size()));
        auto r = devices::read_registers(*m, raw);
        if (r.out_of_range == r.why.empty()) __builtin_trap();
        for (auto& s : r.states) {
            const auto* src = m->find(s.state);
            if (s.state.empty() || !src || !std::isfinite(s.value)) __builtin_trap();
            if ((src->min && s.value < *src->min) || (src->max && s.value > *src->max)) __builtin_trap();
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);  // the poller logs the first error of each device
    (void)fixture();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const bool rtu = data[0] & 1, registers = data[0] & 2;
    const uint8_t* body = data + 1;
    size_t body_size = size - 1;
    read_models(body, body_size);

    const config::Bus& cfg = (rtu ? fixture().rtu : fixture().tcp).buses.at(0);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) __builtin_trap();
    int big = 1 << 20;
    ::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    ::setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);

    // The poller's end, as connect() sets it up: no error recovery of libmodbus's own.
    modbus_t* ctx =
        rtu ? modbus_new_rtu(cfg.device.c_str(), cfg.baud, cfg.parity[0], cfg.data_bits, cfg.stop_bits)
            : modbus_new_tcp(cfg.host.c_str(), cfg.port);
    if (!ctx) __builtin_trap();
    modbus_set_socket(ctx, sv[0]);
    modbus_set_response_timeout(ctx, 0, 5000);
    modbus_set_byte_timeout(ctx, 0, 5000);
    modbus_set_error_recovery(ctx, MODBUS_ERROR_RECOVERY_NONE);

    Tables tables;
    std::thread slave;
    if (registers) {
        fill(tables, body, body_size, 0);
        modbus_set_response_timeout(ctx, 2, 0);  // a conforming slave always answers; never reached
        slave = std::thread(serve, sv[1], rtu, std::cref(tables));
    } else {
        auto stream = line_stream(body, body_size, rtu);
        for (size_t off = 0; off < stream.size();) {
            ssize_t w = ::write(sv[1], stream.data() + off, stream.size() - off);
            if (w <= 0) __builtin_trap();  // fits the buffer: max_len 65536, framing adds < 4x
            off += size_t(w);
        }
        ::shutdown(sv[1], SHUT_WR);
    }

    caregate::Bus bus;
    auto sub = bus.subscribe("fuzz", 1 << 16);
    ManualClock clock(1'700'000'000'000);
    {
        devices::ModbusBusPoller poller(cfg, bus, clock);
        for (int cycle = 0; cycle < (registers ? 4 : 8); ++cycle) {
            bool ok = poller.poll_once(ctx, clock.now_ms());
            clock.advance_ms(40);
            int unread = 0;
            ::ioctl(sv[0], FIONREAD, &unread);
            if (!ok || (!registers && unread == 0)) break;
            // New values for the next cycle (the slave is idle: every request was answered), so levels
            // change, and are confirmed or revert, across cycles.
            if (registers && cycle % 2 == 1) fill(tables, body, body_size, size_t(cycle) * 37);
        }
        if (verbose())
            for (auto& s : poller.stats())
                std::fprintf(stderr, "  %-14s polls %llu errors %llu timeouts %llu invalid %llu online %d\n",
                             s.id.c_str(), (unsigned long long)s.polls, (unsigned long long)s.errors,
                             (unsigned long long)s.timeouts, (unsigned long long)s.invalid, int(s.online));
    }
    check_events(*sub);

    if (registers) {
        ::shutdown(sv[0], SHUT_RDWR);  // the slave's receive ends
        slave.join();
    }
    modbus_free(ctx);  // not modbus_close (RTU would restore a termios the socket never had)
    ::close(sv[0]);
    ::close(sv[1]);
    return 0;
}
