// Emergency calls on one Modbus RTU bus: how long does one poll cycle really take at 9600 baud?
//
// 64 call points on ONE RTU bus (9600 8N1), served by our simulator (devices/simulator.*, a libmodbus
// RTU server on a pty) through socat pty pairs that this program starts and stops, polled by the real
// ModbusBusPoller (devices/modbus_poller.*) with a small poll_ms so the bus is the limit. The cycle
// (time for every device to be polled once) comes from the poller's own stats: a device's last_ok_ms
// is the start of its latest successful poll; it is sampled every millisecond and the gaps between
// consecutive values of one device are its cycle. Printed next to it: the bytes-on-the-wire limit of
// one FC02 read per module, (8-byte request + 6-byte reply) x 10 bits + 2 x 3.5 characters of
// inter-frame silence = 21.875 ms at 9600 8N1, and the ratio measured/limit (target <= 1.3).
// While measuring, call points are pressed one after another (each held until its ButtonPressed
// arrives on the bus) and the press -> ButtonPressed latency is printed too.
//
// A pty has no baud rate: bytes cross a bare socat pair in microseconds. So each layout is run on
//   line=raw    one socat pair (simulator <-> poller): the poller's and simulator's software time only;
//   line=paced  two socat pairs with a relay between them that paces the bytes as a 9600-baud UART
//               does (UartLine: each byte handed over 1.042 ms after the wire was free for it, one byte
//               at a time, nothing else added — in particular no inter-frame silence, so the limit is
//               not built into the line). This is the run to hold against the limit; the target is
//               judged on it only, on the cycle the relay sees at the wire (the gap between two
//               identical request frames), with the poller's own figure printed beside it.
//               (Until 2026-12-07 the paced line handed over whole frames and inserted the 3.5-char
//               silence itself, which made the ratio 1.00 by construction: issue #13.)
// Layouts:
//   64x1       64 call buttons, unit ids 1..64, one discrete input each
//   24x1, 8x1  the same with 24 or 8 units
//   8x8        8 DI modules (unit ids 1..8), each ONE device with 8 `call` points (inputs 0..7)
//   8x8-units  8 DI modules, 8 call-point devices per unit id, one input each (every call point keeps
//              its own device id and zone, as a site would configure eight rooms on one module)
// For both 8x8 layouts the limit is one read of 8 inputs per module: 8 x 21.875 ms = 175 ms.
//
// Usage: bench_rtu_cycle [seconds=20] [line=both|raw|paced] [layout=all|64x1|8x8|8x8-units|24x1|8x1]
//                        [poll_ms=0] [debounce_ms=50] [presses=yes|no] [shipped=no|yes]
//   seconds      measuring time per run (after all devices answered once)
//   poll_ms      every device's poll interval. 0 (allowed here only; a site config needs >= 10): the
//                poller starts the next cycle at once, so the line (or on a raw pty the software) is
//                the limit. On a raw pty 64 reads take a few ms, so poll_ms=10 would measure 10 ms.
//   debounce_ms  every device's debounce (the site default is 30)
//   shipped=yes  the config says nothing about poll_ms, debounce_ms, max_silence_s or the bus timeouts:
//                the shipped defaults apply (poll 100 ms, debounce 30 ms, response timeout 250 ms, byte
//                timeout 100 ms); poll_ms and debounce_ms are then ignored. At 100 ms polling a bus of
//                8 or more single-input units is still line-bound (8 x 21.875 ms = 175 ms > 100 ms).
// Needs socat in PATH (apt-get install socat). Exit status: 0 every paced run met the target, 1 one
// missed it, 2 bad arguments or no socat, 3 a run failed (the message says why), 130 interrupted.
#include <fcntl.h>
#include <modbus/modbus.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

#include <deque>
#include <memory>
#include <mutex>
#include <random>

#include "bench/bench_util.hpp"
#include "config/config.hpp"
#include "controller/core/bus.hpp"
#include "controller/core/clock.hpp"
#include "devices/modbus_poller.hpp"
#include "devices/simulator.hpp"

using namespace caregate;
using namespace caregate::bench;
using namespace std::chrono_literals;

namespace {

const char* kUsage =
    "usage: bench_rtu_cycle [seconds=20] [line=both|raw|paced] [layout=all|64x1|8x8|8x8-units|24x1|8x1]\n"
    "                       [poll_ms=0] [debounce_ms=50] [presses=yes|no] [shipped=no|yes]\n"
    "  64 call points on one 9600-baud Modbus RTU bus (simulator <-> socat pty <-> ModbusBusPoller):\n"
    "  the measured poll cycle against the bytes-on-the-wire limit. Needs socat.\n";

// ---- The wire.
struct Wire {
    int baud = 9600;
    int bits_per_char = 10;  // 8N1: start + 8 data + stop
    double char_ms() const { return 1000.0 * bits_per_char / baud; }
    double silence_ms() const { return 3.5 * char_ms(); }
    // One FC02 transaction reading `inputs` discrete inputs: request addr, fc, start(2), count(2),
    // crc(2) = 8 bytes; reply addr, fc, byte count, ceil(inputs/8) data bytes, crc(2); a 3.5-character
    // silence for each of the two frames.
    double fc02_ms(int inputs) const {
        int reply = 5 + (inputs + 7) / 8;
        return (8 + reply) * char_ms() + 2 * silence_ms();
    }
};

// A 9600-baud RS-485 line between two pty ends, paced byte by byte like a UART: every byte takes
// 10 bit times (8N1) on the wire and is handed to the far end only when its stop bit would have
// arrived; the wire carries one byte at a time (half duplex), in the order the bytes were written.
// Nothing else is added: no inter-frame silence (keeping the 3.5-character gap is the devices' job,
// and it is what the wire limit below counts), no framing, no batching of a frame. The schedule is
// kept on the monotonic clock from ideal times (a late wake-up delays one byte, not the ones after).
// It also watches the line: the start and bytes of every request frame (a burst from the master
// side; a new frame after 1.5 characters of idle wire or a change of direction) and the byte count
// of each direction, so the cycle can be measured at the wire, independently of the poller's stats.
class UartLine {
public:
    struct Frame {
        Clk::time_point start;  // on the wire: when its first byte began
        std::string bytes;
    };
    UartLine(const std::string& master_side, const std::string& slave_side, double char_ms)
        : char_(std::chrono::nanoseconds(int64_t(char_ms * 1e6))) {
        fd_[0] = open_raw(master_side);
        try {
            fd_[1] = open_raw(slave_side);
        } catch (...) {
            ::close(fd_[0]);
            throw;
        }
    }
    ~UartLine() {
        stop();
        for (int fd : fd_) ::close(fd);
    }
    void start() {
        running_ = true;
        thread_ = std::thread([this] { run(); });
    }
    void stop() {
        running_ = false;
        if (thread_.joinable()) thread_.join();
    }
    uint64_t frames(int dir) const { return frames_[dir]; }  // 0: requests, 1: replies
    uint64_t bytes(int dir) const { return bytes_[dir]; }
    // Request frames whose first byte went on the wire in [from, to).
    std::vector<Frame> requests(Clk::time_point from, Clk::time_point to) const {
        std::lock_guard<std::mutex> lock(mu_);
        std::vector<Frame> out;
        for (auto& f : requests_)
            if (f.start >= from && f.start < to) out.push_back(f);
        return out;
    }
    // Lateness of byte hand-overs against their ideal time (wake-up latency of this relay), in µs.
    double late_us(double q) const {
        std::lock_guard<std::mutex> lock(mu_);
        return late_us_.empty() ? 0 : percentile(late_us_, q);
    }

private:
    static int open_raw(const std::string& path) {
        int fd = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) throw std::runtime_error("uart line: cannot open " + path + ": " + std::strerror(errno));
        termios t{};
        if (::tcgetattr(fd, &t) == 0) {
            ::cfmakeraw(&t);
            ::tcsetattr(fd, TCSANOW, &t);
        }
        return fd;
    }
    static void write_byte(int fd, uint8_t b) {
        for (int i = 0; i < 100; ++i) {
            ssize_t w = ::write(fd, &b, 1);
            if (w == 1) return;
            if (w < 0 && errno != EAGAIN && errno != EINTR) return;  // the other end is gone
            pollfd pf{fd, POLLOUT, 0};
            ::poll(&pf, 1, 10);
        }
    }
    void run() {
        ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // wake within a few µs, not 50 µs
        struct Pending {
            int dir;
            uint8_t byte;
            Clk::time_point arrived;
        };
        std::deque<Pending> queue;
        auto wire_free = Clk::now();  // when the byte now on the wire has fully arrived
        int last_dir = -1;
        Frame current;
        bool in_request = false;
        uint8_t buf[512];
        while (running_) {
            // Wait for input, or until the next byte in the queue is due at the far end.
            timespec ts{0, 20'000'000};
            Clk::time_point due{};
            if (!queue.empty()) {
                due = std::max(queue.front().arrived, wire_free) + char_;
                auto wait = std::max<Clk::duration>(due - Clk::now(), Clk::duration::zero());
                ts = {time_t(wait.count() / 1'000'000'000), long(wait.count() % 1'000'000'000)};
            }
            pollfd p[2] = {{fd_[0], POLLIN, 0}, {fd_[1], POLLIN, 0}};
            int rc = ::ppoll(p, 2, &ts, nullptr);
            bool hangup = false;
            for (int dir = 0; rc > 0 && dir < 2; ++dir) {
                if (!(p[dir].revents & POLLIN)) {
                    hangup |= (p[dir].revents & (POLLHUP | POLLERR)) != 0;
                    continue;
                }
                ssize_t n = ::read(fd_[dir], buf, sizeof buf);
                if (n <= 0) {
                    hangup |= n == 0 || (errno != EAGAIN && errno != EINTR);
                    continue;
                }
                auto t = Clk::now();
                for (ssize_t i = 0; i < n; ++i) queue.push_back({dir, buf[i], t});
            }
            // Hand over every byte whose stop bit has arrived.
            while (!queue.empty()) {
                auto begin = std::max(queue.front().arrived, wire_free);
                auto end = begin + char_;
                auto now = Clk::now();
                if (now < end) break;
                Pending b = queue.front();
                queue.pop_front();
                write_byte(fd_[1 - b.dir], b.byte);
                bool new_frame = b.dir != last_dir || begin - wire_free >= char_ * 3 / 2;
                if (new_frame) {
                    frames_[b.dir]++;
                    if (in_request) {
                        std::lock_guard<std::mutex> lock(mu_);
                        requests_.push_back(std::move(current));
                    }
                    in_request = b.dir == 0;
                    current = Frame{begin, {}};
                }
                if (b.dir == 0) current.bytes.push_back(char(b.byte));
                bytes_[b.dir]++;
                {
                    std::lock_guard<std::mutex> lock(mu_);
                    if (late_us_.size() < 200000)
                        late_us_.push_back(std::chrono::duration<double, std::micro>(now - end).count());
                }
                wire_free = end;
                last_dir = b.dir;
            }
            if (hangup && queue.empty())
                std::this_thread::sleep_for(10ms);  // an end not open (yet) or closed
        }
    }

    std::chrono::nanoseconds char_;
    int fd_[2] = {-1, -1};
    std::thread thread_;
    std::atomic<bool> running_{false};
    std::atomic<uint64_t> frames_[2] = {{0}, {0}}, bytes_[2] = {{0}, {0}};
    mutable std::mutex mu_;
    std::vector<Frame> requests_;
    std::vector<double> late_us_;
};

// `socat pty,raw,echo=0,link=A pty,raw,echo=0,link=B`, until destroyed.
class PtyPair {
public:
    PtyPair(const std::string& socat, const std::string& a, const std::string& b, const std::string& log)
        : log_(log) {
        proc_ = std::make_unique<Child>(
            std::vector<std::string>{socat, "pty,raw,echo=0,link=" + a, "pty,raw,echo=0,link=" + b}, log);
        for (int i = 0; i < 250 && !(fs::exists(a) && fs::exists(b)); ++i) {
            if (!proc_->running())
                throw std::runtime_error("socat " + proc_->how_it_ended() + ": " + read_text(log));
            std::this_thread::sleep_for(20ms);
        }
        if (!(fs::exists(a) && fs::exists(b)))
            throw std::runtime_error("socat did not create " + a + " and " + b +
                                     " within 5 s: " + read_text(log));
    }
    // Empty while socat runs; otherwise why it stopped.
    std::string problem() {
        return proc_->running() ? "" : "socat " + proc_->how_it_ended() + ": " + read_text(log_);
    }

private:
    std::string log_;
    std::unique_ptr<Child> proc_;
};

// ---- Layouts.
struct Layout {
    std::string name, what;
    int modules = 0;            // for the limit: one FC02 read per module
    int inputs_per_module = 1;  // inputs that read covers
    std::string devices_yaml;
    std::vector<std::string> pressable;  // devices whose first `call` point the simulator presses
};

// shipped: the devices say no poll_ms, debounce_ms or max_silence_s (the shipped defaults apply).
Layout make_layout(const std::string& name, int poll_ms, int debounce_ms, bool shipped) {
    Layout l;
    l.name = name;
    auto device = [&](const std::string& id, const char* kind, int unit, const std::string& points) {
        l.devices_yaml +=
            "      - {id: " + id + ", kind: " + kind + ", zone: rooms, unit_id: " + std::to_string(unit) +
            (shipped ? std::string()
                     : ", poll_ms: " + std::to_string(std::max(poll_ms, 10)) +
                           ", debounce_ms: " + std::to_string(debounce_ms) + ", max_silence_s: 30") +
            ", points: [" + points + "]}\n";
    };
    auto input = [](int address) {
        return "{table: discrete_inputs, address: " + std::to_string(address) + ", meaning: call}";
    };
    if (name == "64x1" || name == "24x1" || name == "8x1") {
        l.modules = std::stoi(name);
        l.what = std::to_string(l.modules) + " call buttons on " + std::to_string(l.modules) +
                 " unit ids, one discrete input each";
        for (int u = 1; u <= l.modules; ++u) {
            std::string id = "call_" + std::to_string(u);
            device(id, "call_button", u, input(0));
            l.pressable.push_back(id);
        }
    } else if (name == "8x8") {
        l.what = "8 DI modules, each one device with 8 call points (inputs 0..7)";
        l.modules = 8;
        l.inputs_per_module = 8;
        for (int u = 1; u <= 8; ++u) {
            std::string points;
            for (int c = 0; c < 8; ++c) points += (c ? ", " : "") + input(c);
            std::string id = "di_" + std::to_string(u);
            device(id, "di_module", u, points);
            l.pressable.push_back(id);  // the simulator presses a device's first call point: input 0
        }
    } else {
        l.what = "8 DI modules, 8 call-point devices per unit id (one input each)";
        l.modules = 8;
        l.inputs_per_module = 8;
        for (int u = 1; u <= 8; ++u)
            for (int c = 0; c < 8; ++c) {
                std::string id = "call_" + std::to_string(u) + "_" + std::to_string(c);
                device(id, "call_button", u, input(c));
                l.pressable.push_back(id);
            }
    }
    return l;
}

struct Options {
    double seconds = 20;
    int poll_ms = 0;
    int debounce_ms = 50;
    bool presses = true;
    bool shipped = false;  // the shipped defaults for poll, debounce, silence and timeouts
};

struct Result {
    std::string line, layout;
    int devices = 0;
    double limit_ms = 0, fc02_ms = 0;
    double p50 = NAN, mean_cycle = NAN, p99 = NAN, max = NAN;
    size_t cycles = 0, missed_samples = 0;
    double requests_per_cycle = NAN, requests_per_s = 0, reads_per_device_poll = NAN;
    uint64_t errors = 0, timeouts = 0;
    std::vector<double> press_ms;
    int press_lost = 0;
    bool judged = false, met = false;
    // paced: measured at the wire (the relay's log of request frames)
    double wire_cycle = NAN, wire_p50 = NAN, wire_bytes_per_cycle = NAN, late_p50_us = NAN, late_p99_us = NAN;
};

// Presses call points one after another while the cycle is measured. Each press is held until its
// ButtonPressed arrives, then released; a device is pressed again only after its release can have
// been seen (3 cycles). Runs on the calling thread until `until`.
void press_loop(devices::Simulator& sim, Subscription& sub, const std::vector<std::string>& pressable,
                const std::atomic<int64_t>& max_cycle_ms, Clk::time_point until, Result& r) {
    struct Pending {
        Clk::time_point since;
        bool pressed = false;
        Clk::time_point free_at;
    };
    std::map<std::string, Pending> state;
    for (auto& d : pressable) state[d];
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> gap_ms(100, 400);
    auto next_press = Clk::now();
    size_t rr = 0;
    auto cycle = [&] { return std::chrono::milliseconds(std::max<int64_t>(max_cycle_ms.load(), 100)); };
    while (!g_stop && Clk::now() < until) {
        auto now = Clk::now();
        if (now >= next_press) {
            for (size_t k = 0; k < pressable.size(); ++k) {  // the next device that is free
                auto& id = pressable[(rr + k) % pressable.size()];
                auto& s = state[id];
                if (s.pressed || now < s.free_at) continue;
                rr = (rr + k + 1) % pressable.size();
                s.pressed = true;
                s.since = Clk::now();
                sim.press(id);
                break;
            }
            next_press = now + std::chrono::milliseconds(gap_ms(rng));
        }
        if (auto e = sub.next(5ms); e && std::holds_alternative<ButtonPressed>(*e)) {
            auto t = Clk::now();
            auto it = state.find(std::get<ButtonPressed>(*e).device_id);
            if (it != state.end() && it->second.pressed) {
                r.press_ms.push_back(ms_between(it->second.since, t));
                sim.release(it->first);
                it->second.pressed = false;
                it->second.free_at = t + 3 * cycle() + 200ms;
            }
        }
        for (auto& [id, s] : state)  // a press never reported
            if (s.pressed && Clk::now() - s.since > 5 * cycle() + 3s) {
                r.press_lost++;
                sim.release(id);
                s.pressed = false;
                s.free_at = Clk::now() + 3 * cycle() + 200ms;
            }
    }
    for (auto& [id, s] : state)
        if (s.pressed) sim.release(id);
}

Result run(const std::string& line, const std::string& layout_name, const Options& o,
           const std::string& socat) {
    Result r;
    r.line = line;
    r.layout = layout_name;
    Wire wire;
    Layout layout = make_layout(layout_name, o.poll_ms, o.debounce_ms, o.shipped);
    r.fc02_ms = wire.fc02_ms(layout.inputs_per_module);
    r.limit_ms = layout.modules * r.fc02_ms;
    std::printf("\n== line=%s layout=%s: %s ==\n", line.c_str(), layout_name.c_str(), layout.what.c_str());
    std::printf("  wire limit: %d FC02 reads x %.3f ms = %.1f ms per cycle (bytes alone, no gaps: %.1f ms)\n",
                layout.modules, r.fc02_ms, r.limit_ms, layout.modules * (r.fc02_ms - 2 * wire.silence_ms()));
    std::fflush(stdout);

    TempDir dir("caregate-bench-rtu");
    std::string poller_end = dir.file("poller"), sim_end = dir.file("sim");
    std::vector<std::unique_ptr<PtyPair>> ptys;
    std::unique_ptr<UartLine> emulator;
    if (line == "raw") {
        ptys.push_back(std::make_unique<PtyPair>(socat, sim_end, poller_end, dir.file("socat.log")));
    } else {
        ptys.push_back(std::make_unique<PtyPair>(socat, poller_end, dir.file("line-master"),
                                                 dir.file("socat-master.log")));
        ptys.push_back(
            std::make_unique<PtyPair>(socat, dir.file("line-slave"), sim_end, dir.file("socat-slave.log")));
        emulator =
            std::make_unique<UartLine>(dir.file("line-master"), dir.file("line-slave"), wire.char_ms());
        emulator->start();
    }
    auto pty_problem = [&] {
        for (auto& p : ptys)
            if (auto why = p->problem(); !why.empty()) return why;
        return std::string();
    };

    std::string yaml =
        "site: {id: bench, name: bench}\nmqtt: {enabled: false}\nzones: [{id: rooms, name: 房间}]\n"
        "buses:\n  - id: rs485\n    type: rtu\n    device: " +
        poller_end + "\n    baud: " + std::to_string(wire.baud) + "\n    data_bits: 8\n    stop_bits: 1\n" +
        (o.shipped ? "" : "    response_timeout_ms: 500\n    byte_timeout_ms: 100\n") + "    devices:\n" +
        layout.devices_yaml;
    config::SiteConfig cfg = config::parse_config(yaml, dir.file("bench.yaml"));
    if (!o.shipped)
        for (auto& d : cfg.buses[0].devices) d.poll_ms = o.poll_ms;  // 0 is allowed here
    {
        auto& b = cfg.buses[0];
        auto& d = b.devices.at(0);
        std::printf("  poller: poll_ms %d, debounce_ms %d, response_timeout_ms %d, byte_timeout_ms %d%s\n",
                    d.poll_ms, d.debounce_ms, b.response_timeout_ms, b.byte_timeout_ms,
                    o.shipped ? " (shipped defaults)" : "");
    }
    r.devices = int(cfg.buses[0].devices.size());

    devices::Simulator sim(cfg, {{"rs485", sim_end}});
    sim.start();
    Bus bus;
    auto sub = bus.subscribe("bench", 65536);
    SystemClock clock;
    devices::ModbusBusPoller poller(cfg.buses[0], bus, clock);
    poller.start();

    // Every device answered once.
    auto t0 = Clk::now();
    for (;;) {
        auto st = poller.stats();
        if (std::all_of(st.begin(), st.end(), [](auto& s) { return s.last_ok_ms > 0; })) break;
        if (g_stop) return r;
        std::string why = pty_problem();
        if (!why.empty() || seconds_since(t0) > 30) {
            uint64_t polls = 0, errors = 0, ok = 0;
            for (auto& s : st) polls += s.polls, errors += s.errors, ok += s.last_ok_ms > 0;
            throw std::runtime_error((why.empty() ? "not every device answered within 30 s" : why) + " (" +
                                     std::to_string(ok) + "/" + std::to_string(st.size()) + " answered; " +
                                     std::to_string(polls) + " reads, " + std::to_string(errors) +
                                     " errors; the simulator saw " + std::to_string(sim.requests()) +
                                     " requests)");
        }
        std::this_thread::sleep_for(10ms);
    }
    std::printf("  all %d devices answered after %.1f s; measuring for %.0f s...\n", r.devices,
                seconds_since(t0), o.seconds);
    std::fflush(stdout);
    while (sub->next(0ms)) {
    }  // DeviceHealth online x N

    // Sampler: every millisecond, each device's last_ok_ms (start of its latest good poll) and, in the
    // same snapshot, its read counter.
    struct Seen {
        int64_t start_ms;
        uint64_t reads;
    };
    size_t n = size_t(r.devices);
    std::vector<std::vector<Seen>> starts(n);
    std::atomic<bool> sampling{true};
    std::atomic<int64_t> max_cycle_ms{0};
    auto before = poller.stats();
    uint64_t sim_before = sim.requests();
    uint64_t frames_before[2] = {emulator ? emulator->frames(0) : 0, emulator ? emulator->frames(1) : 0};
    uint64_t bytes_before = emulator ? emulator->bytes(0) + emulator->bytes(1) : 0;
    auto w0 = Clk::now();
    std::thread sampler([&] {
        while (sampling) {
            auto st = poller.stats();
            for (size_t i = 0; i < n && i < st.size(); ++i) {
                auto& v = starts[i];
                int64_t ok = st[i].last_ok_ms;
                if (!ok || (!v.empty() && v.back().start_ms == ok)) continue;
                if (!v.empty()) max_cycle_ms = std::max(max_cycle_ms.load(), ok - v.back().start_ms);
                v.push_back({ok, st[i].polls});
            }
            std::this_thread::sleep_for(1ms);
        }
    });
    struct Join {
        std::atomic<bool>& flag;
        std::thread& t;
        ~Join() {
            flag = false;
            if (t.joinable()) t.join();
        }
    } join{sampling, sampler};

    auto until = w0 + std::chrono::milliseconds(int64_t(o.seconds * 1000));
    if (o.presses)
        press_loop(sim, *sub, layout.pressable, max_cycle_ms, until, r);
    else
        while (!g_stop && Clk::now() < until) std::this_thread::sleep_for(20ms);
    sampling = false;
    sampler.join();
    double window_s = seconds_since(w0);
    auto after = poller.stats();
    uint64_t sim_requests = sim.requests() - sim_before;
    uint64_t frames[2] = {emulator ? emulator->frames(0) - frames_before[0] : 0,
                          emulator ? emulator->frames(1) - frames_before[1] : 0};
    if (emulator) {
        // The cycle at the wire: the poller sends the same request to a unit every cycle (RTU has no
        // transaction id), so the gaps between the starts of two identical request frames are cycles.
        std::map<std::string, std::vector<Clk::time_point>> by_request;
        for (auto& f : emulator->requests(w0, w0 + std::chrono::milliseconds(int64_t(window_s * 1000))))
            by_request[f.bytes].push_back(f.start);
        std::vector<double> gaps;
        double span = 0;
        for (auto& [bytes, starts] : by_request)
            for (size_t i = 1; i < starts.size(); ++i) {
                gaps.push_back(ms_between(starts[i - 1], starts[i]));
                span += gaps.back();
            }
        if (!gaps.empty()) {
            r.wire_cycle = span / double(gaps.size());
            r.wire_p50 = percentile(gaps, 0.5);
            double cycles_in_window = window_s * 1000 / r.wire_cycle;
            r.wire_bytes_per_cycle =
                double(emulator->bytes(0) + emulator->bytes(1) - bytes_before) / cycles_in_window;
        }
        r.late_p50_us = emulator->late_us(0.5);
        r.late_p99_us = emulator->late_us(0.99);
    }
    std::string why = pty_problem();
    poller.stop();
    sim.stop();
    if (emulator) emulator->stop();
    if (!why.empty()) throw std::runtime_error(why);
    if (g_stop) return r;

    // Cycles: gaps between consecutive poll starts of one device. A device poll costs it a fixed
    // number of reads (the most frequent increase of its counter between two seen polls); a gap whose
    // counter grew by k times that spans k cycles (the sampler missed a poll, or one failed) and
    // counts as k in the mean, not in the percentiles.
    std::vector<double> gaps, reads_per_poll;
    double span = 0, cycles = 0, reads_per_cycle = 0;
    for (auto& v : starts) {
        std::map<uint64_t, int> deltas;
        for (size_t i = 1; i < v.size(); ++i)
            if (uint64_t d = v[i].reads - v[i - 1].reads; d > 0) deltas[d]++;
        uint64_t unit = 0;
        int most = 0;
        for (auto& [d, count] : deltas)
            if (count > most) unit = d, most = count;
        if (unit) reads_per_poll.push_back(double(unit));
        reads_per_cycle += double(unit);
        for (size_t i = 1; i < v.size(); ++i) {
            double gap = double(v[i].start_ms - v[i - 1].start_ms);
            double k =
                unit ? std::max(1.0, std::round(double(v[i].reads - v[i - 1].reads) / double(unit))) : 1.0;
            span += gap;
            cycles += k;
            if (k > 1)
                r.missed_samples++;
            else
                gaps.push_back(gap);
        }
    }
    if (gaps.empty()) throw std::runtime_error("no complete poll cycle seen in the window");
    r.p50 = percentile(gaps, 0.5);
    r.mean_cycle = span / cycles;
    r.p99 = percentile(gaps, 0.99);
    r.max = percentile(gaps, 1.0);
    r.cycles = size_t(cycles);
    r.reads_per_device_poll = percentile(reads_per_poll, 0.5);
    uint64_t reads = 0;
    for (size_t i = 0; i < n; ++i) {
        reads += after[i].polls - before[i].polls;
        r.errors += after[i].errors - before[i].errors;
        r.timeouts += after[i].timeouts - before[i].timeouts;
    }
    // Requests are what crossed the line (the simulator's count): the poller merges the points of one
    // unit into one read, so device polls are not requests.
    (void)reads_per_cycle;
    r.requests_per_s = double(sim_requests) / window_s;
    r.requests_per_cycle = r.requests_per_s * r.mean_cycle / 1000.0;
    r.judged = line == "paced";
    // Paced: judged on the cycle seen at the wire (the poller's own figure is printed beside it).
    double ratio = (r.judged && !std::isnan(r.wire_cycle) ? r.wire_cycle : r.mean_cycle) / r.limit_ms;
    r.met = ratio <= 1.3;

    std::printf(
        "  measured cycle: p50 %.1f ms, mean %.1f ms, p99 %.1f ms, max %.1f ms (%zu poll-to-poll gaps over "
        "%d devices",
        r.p50, r.mean_cycle, r.p99, r.max, r.cycles, r.devices);
    if (r.missed_samples) std::printf("; %zu gaps spanned more than one poll", r.missed_samples);
    std::printf(")\n");
    std::printf(
        "  requests: %.1f per cycle, %.0f/s (device polls %llu, simulator answered "
        "%llu",
        r.requests_per_cycle, r.requests_per_s, (unsigned long long)reads, (unsigned long long)sim_requests);
    if (emulator)
        std::printf(", line frames %llu requests / %llu replies", (unsigned long long)frames[0],
                    (unsigned long long)frames[1]);
    std::printf("); errors %llu, timeouts %llu\n", (unsigned long long)r.errors,
                (unsigned long long)r.timeouts);
    if (o.poll_ms > 0 && r.p50 <= o.poll_ms + 1)
        std::printf("  note: the cycle is at poll_ms=%d: the poll interval, not the bus, is the limit here\n",
                    o.poll_ms);
    if (r.judged) {
        std::printf(
            "  at the wire: cycle mean %.1f ms, p50 %.1f ms (between identical request frames); %.1f bytes "
            "per "
            "cycle (formula: %d x 14 = %d); relay hand-over late by p50 %.0f us, p99 %.0f us\n",
            r.wire_cycle, r.wire_p50, r.wire_bytes_per_cycle, layout.modules, layout.modules * 14,
            r.late_p50_us, r.late_p99_us);
        std::printf(
            "  ratio measured/limit: %.2f = %.1f ms at the wire / %.1f ms wire limit (target <= 1.30: %s)\n",
            ratio, r.wire_cycle, r.limit_ms, r.met ? "MET" : "MISSED");
        if (r.late_p99_us > wire.char_ms() * 1000 || r.errors > 0)
            std::printf(
                "  warning: not a clean run (relay late by p99 %.0f us, more than a character, or %llu read "
                "errors): "
                "the machine was too busy, or a reply came late; see the log above\n",
                r.late_p99_us, (unsigned long long)r.errors);
        double bytes_ms = layout.modules * (r.fc02_ms - 2 * wire.silence_ms());
        std::printf(
            "  against the bytes alone (%.1f ms, no silences): %.2f, i.e. %.2f ms per request beyond its "
            "bytes "
            "(turnaround of poller, slave and relay; neither side waits the 3.5-char silence)\n",
            bytes_ms, r.wire_cycle / bytes_ms, (r.wire_cycle - bytes_ms) / layout.modules);
        if (r.requests_per_cycle > layout.modules * 1.05)
            std::printf(
                "  why: %.0f requests per cycle for %d modules; at %.3f ms each the poller's own floor is "
                "%.0f ms (%.1f x the limit)\n",
                r.requests_per_cycle, layout.modules, r.fc02_ms, r.requests_per_cycle * r.fc02_ms,
                r.requests_per_cycle * r.fc02_ms / r.limit_ms);
    } else {
        std::printf(
            "  measured/limit: %.3f (not judged: a pty moves bytes in microseconds; this is software "
            "time only)\n",
            ratio);
    }
    if (o.presses) {
        std::printf("  press -> ButtonPressed (debounce_ms=%d): ", cfg.buses[0].devices.at(0).debounce_ms);
        if (r.press_ms.empty())
            std::printf("no press completed");
        else
            std::printf("n=%zu, p50 %.1f ms, p99 %.1f ms, max %.1f ms", r.press_ms.size(),
                        percentile(r.press_ms, 0.5), percentile(r.press_ms, 0.99),
                        percentile(r.press_ms, 1.0));
        std::printf("; never reported: %d\n", r.press_lost);
    }
    std::fflush(stdout);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    Args args(argc, argv,
              {{"seconds", "20"},
               {"line", "both"},
               {"layout", "all"},
               {"poll_ms", "0"},
               {"debounce_ms", "50"},
               {"presses", "yes"},
               {"shipped", "no"}},
              kUsage);
    args.one_of("line", {"both", "raw", "paced"});
    args.one_of("layout", {"all", "64x1", "8x8", "8x8-units", "8x1", "24x1"});
    args.one_of("presses", {"yes", "no"});
    args.one_of("shipped", {"yes", "no"});
    Options o;
    o.seconds = args.num("seconds", 1, 3600);
    o.poll_ms = int(args.num("poll_ms", 0, 600000));
    o.debounce_ms = int(args.num("debounce_ms", 0, 10000));
    o.presses = args.str("presses") == "yes";
    o.shipped = args.str("shipped") == "yes";
    std::vector<std::string> lines = args.str("line") == "both" ? std::vector<std::string>{"raw", "paced"}
                                                                : std::vector<std::string>{args.str("line")};
    std::vector<std::string> layouts = args.str("layout") == "all"
                                           ? std::vector<std::string>{"64x1", "8x8", "8x8-units"}
                                           : std::vector<std::string>{args.str("layout")};

    std::string socat = find_program("socat");
    if (socat.empty()) {
        std::fprintf(stderr, "bench_rtu_cycle: socat not found in PATH (Debian: apt-get install socat)\n");
        return 2;
    }
    install_signal_handlers();
    spdlog::set_level(spdlog::level::warn);  // the poller's "device online" lines x 64 are not news here

    Wire wire;
    std::printf(
        "bench_rtu_cycle: Modbus RTU %d 8N1 (%d bits/char: %.3f ms/char, 3.5-char silence %.3f ms), "
        "libmodbus %s, %s, %.0f s per run\n",
        wire.baud, wire.bits_per_char, wire.char_ms(), wire.silence_ms(), LIBMODBUS_VERSION_STRING,
        o.shipped ? "shipped defaults" : ("poll_ms=" + std::to_string(o.poll_ms)).c_str(), o.seconds);
    std::printf("limit per FC02 read of <= 8 inputs: (8 + 6 bytes) x %.3f ms + 2 x %.3f ms = %.3f ms\n",
                wire.char_ms(), wire.silence_ms(), wire.fc02_ms(8));
    std::vector<Result> results;
    int rc = 0;
    for (auto& layout : layouts)
        for (auto& line : lines) {
            if (g_stop) break;
            try {
                results.push_back(run(line, layout, o, socat));
            } catch (const std::exception& e) {
                std::fprintf(stderr, "bench_rtu_cycle: line=%s layout=%s: %s\n", line.c_str(), layout.c_str(),
                             e.what());
                rc = 3;
            }
        }
    if (g_stop) {
        std::fprintf(stderr, "bench_rtu_cycle: interrupted\n");
        return 130;
    }

    std::printf(
        "\nsummary (cycle = mean gap between two polls of one device; target: paced cycle <= 1.3 x "
        "limit)\n");
    std::printf("%-6s %-10s %7s %9s %10s %10s %9s %7s %-7s %s\n", "line", "layout", "devices", "limit ms",
                "cycle p50", "cycle mean", "req/cycle", "ratio", "target", "press p50 / max ms");
    for (auto& r : results) {
        if (std::isnan(r.mean_cycle)) continue;
        char press[64] = "-";
        if (!r.press_ms.empty())
            std::snprintf(press, sizeof press, "%.0f / %.0f", percentile(r.press_ms, 0.5),
                          percentile(r.press_ms, 1.0));
        std::printf("%-6s %-10s %7d %9.1f %10.1f %10.1f %9.1f %7.3f %-7s %s\n", r.line.c_str(),
                    r.layout.c_str(), r.devices, r.limit_ms, r.p50, r.mean_cycle, r.requests_per_cycle,
                    (r.judged && !std::isnan(r.wire_cycle) ? r.wire_cycle : r.mean_cycle) / r.limit_ms,
                    r.judged ? (r.met ? "MET" : "MISSED") : "n/a", press);
        if (r.judged && !r.met && rc == 0) rc = 1;
    }
    return rc;
}
