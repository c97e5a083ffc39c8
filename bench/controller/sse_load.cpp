// End-to-end load: N live kiosk clients (SSE over real HTTP) while alarms are raised; measures the
// time from the alarm's commit to each client receiving it. Usage: bench_sse [clients=50] [alarms=100]
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "config/config.hpp"
#include "controller/alarms/alarms.hpp"
#include "controller/kiosk/http_server.hpp"
#include "controller/kiosk/kiosk.hpp"
#include "controller/kiosk/live_feed.hpp"
#include "controller/people/checkins.hpp"

using namespace caregate;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
    spdlog::set_level(spdlog::level::err);
    int clients = argc > 1 ? std::atoi(argv[1]) : 50;
    int alarms_n = argc > 2 ? std::atoi(argv[2]) : 100;
    std::string dir = (fs::temp_directory_path() / "caregate-sse-XXXXXX").string();
    if (!mkdtemp(dir.data())) return 1;
    auto cfg = config::parse_config(
        "site: {id: b, name: x}\nzones: [{id: hall, name: h}]\nkiosk: {port: 0, max_sse_clients: " +
            std::to_string(clients + 8) + "}\n",
        dir + "/x.yaml");
    SystemClock clock;
    Store store(dir + "/s.db");
    Outbox outbox("b", "r");
    Bus bus;
    AlarmService alarms(store, clock, outbox, AlarmPolicy{60, 900});
    alarms.on_announce([&](const Alarm& a, const AlarmStep& s) {
        bus.publish(AlarmChanged{a.id, a.kind, a.state, to_json(s).dump(), s.ts_ms});
    });
    Occupancy occ(store, clock, cfg);
    CheckinService checkins(store, clock, outbox, occ, 30, "hall");
    Roster roster(store, clock);
    StaffAccounts staff(store, clock);
    Records records(store, clock, outbox);
    LiveFeed feed(bus, size_t(clients + 8));
    HttpServer http({"127.0.0.1", 0, clients + 8, "", "", ""});
    KioskParts kp{cfg,  store,   clock,   alarms,  checkins, occ, roster, staff,   records,
                  feed, nullptr, nullptr, nullptr, {},       "",  {},     nullptr, {}};
    Kiosk kiosk(kp, http.routes());
    staff.add("bench", "bench", "staff", "bench-password", "bench");
    feed.start();
    http.start();
    int port = http.port();

    httplib::Client login("127.0.0.1", port);
    auto res =
        login.Post("/api/login", R"({"username":"bench","password":"bench-password"})", "application/json");
    if (!res || res->status != 200) {
        std::fprintf(stderr, "login failed\n");
        return 1;
    }
    std::string cookie = res->get_header_value("Set-Cookie");
    cookie = cookie.substr(0, cookie.find(';'));

    std::mutex mu;
    std::vector<double> latencies;
    std::atomic<int> connected{0};
    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&] {
            httplib::Client cli("127.0.0.1", port);
            cli.set_read_timeout(30, 0);
            std::string buf;
            bool counted = false;
            cli.Get("/api/stream", {{"Cookie", cookie}}, [&](const char* data, size_t len) {
                if (!counted) {
                    counted = true;
                    connected++;
                }
                buf.append(data, len);
                size_t pos;
                while ((pos = buf.find("\n\n")) != std::string::npos) {
                    std::string frame = buf.substr(0, pos);
                    buf.erase(0, pos + 2);
                    if (frame.rfind("event: alarm", 0) != 0) continue;
                    auto j = nlohmann::json::parse(frame.substr(frame.find("data: ") + 6), nullptr, false);
                    if (j.is_discarded()) continue;
                    double ms = double(clock.now_ms() - j["ts"].get<int64_t>());
                    std::lock_guard<std::mutex> lock(mu);
                    latencies.push_back(ms);
                }
                return !done;
            });
        });
    }
    for (int i = 0; i < 100 && connected < clients; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::printf("%d/%d SSE clients connected\n", connected.load(), clients);
    // The kiosk must still answer ordinary requests while every stream is open.
    auto t0 = std::chrono::steady_clock::now();
    httplib::Client probe("127.0.0.1", port);
    auto ov = probe.Get("/api/overview", {{"Cookie", cookie}});
    double overview_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("GET /api/overview with %d streams open: status %d in %.1f ms\n", clients,
                ov ? ov->status : -1, overview_ms);

    for (int i = 0; i < alarms_n; ++i) {
        alarms.raise("call", "button_" + std::to_string(i), "hall", "bench");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    done = true;
    for (int i = 0; i < 3; ++i)
        alarms.raise("call", "wake_" + std::to_string(i), "hall", "bench");  // unblock readers
    for (auto& t : threads) t.join();
    feed.stop();
    http.stop();
    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) {
        return latencies.empty() ? -1.0 : latencies[size_t(p * double(latencies.size() - 1))];
    };
    std::printf(
        "alarm commit -> SSE client: %zu deliveries (expected %d), p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, "
        "max %.1f ms\n",
        latencies.size(), clients * alarms_n, pct(0.5), pct(0.95), pct(0.99), pct(1.0));
    fs::remove_all(dir);
    return latencies.size() >= size_t(clients * alarms_n) ? 0 : 2;
}
