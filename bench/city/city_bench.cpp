// City uplink load tool (end to end, real Mosquitto on loopback started here).
//   bench_city throughput [ROWS] [INFLIGHT]  rows/s from a full outbox to PUBACK, one site
//   bench_city drain [ROWS]                   a 1,000,000-row backlog drained; RSS sampled as it goes
//   bench_city sites [SITES] [MSGS] [RATE]    SITES uplinks in one process, each writing MSGS rows at
//                                             RATE rows/s; a subscriber measures commit→receive latency
#include <mqtt/async_client.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.hpp"
#include "controller/city/uplink.hpp"
#include "controller/core/log.hpp"

using namespace caregate;
using Clk = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

long peak_rss_kb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

// Mosquitto on a free loopback port, for the length of the run.
class Broker {
public:
    explicit Broker(const std::string& dir) {
        port_ = 20000 + int(getpid() % 20000);
        std::ofstream(dir + "/mosquitto.conf")
            << "listener " << port_
            << " 127.0.0.1\nallow_anonymous true\npersistence false\n"
               "max_queued_messages 0\nmax_inflight_messages 0\nlog_type none\nuser "
            << (getuid() == 0 ? "root" : "mosquitto") << "\n";
        std::string conf = dir + "/mosquitto.conf";
        const char* argv[] = {"/usr/sbin/mosquitto", "-c", conf.c_str(), nullptr};
        if (posix_spawn(&pid_, argv[0], nullptr, nullptr, const_cast<char**>(argv), environ) != 0)
            throw std::runtime_error("cannot start mosquitto");
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    ~Broker() {
        kill(pid_, SIGTERM);
        waitpid(pid_, nullptr, 0);
    }
    std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

private:
    pid_t pid_ = 0;
    int port_ = 0;
};

// Rows shaped like real check-ins (~420 bytes of envelope), written in one transaction.
void fill(Store& store, const std::string& site, int64_t n, int64_t first_ts) {
    store.write([&](sqlite3* db) {
        Stmt s(db, "INSERT INTO outbox(id, kind, priority, payload, created_at) VALUES(?,?,1,?,?)");
        for (int64_t i = 0; i < n; ++i) {
            std::string id = site + "-" + std::to_string(i);
            nlohmann::json env = {{"schema", "caregate.checkin/1"},
                                  {"id", id},
                                  {"site", site},
                                  {"ts", first_ts + i},
                                  {"data",
                                   {{"id", id},
                                    {"elder_id", "5f0c2a7e-8a8b-4f21-9d1e-3c9b2f4a6d10"},
                                    {"elder_name", "张桂英"},
                                    {"ts", first_ts + i},
                                    {"direction", "in"},
                                    {"method", "face"},
                                    {"camera_id", "door-1"},
                                    {"zone", "hall"},
                                    {"temperature", 36.5},
                                    {"actor", "system"}}}};
            s.bind(1, id).bind(2, "checkin").bind(3, env.dump()).bind(4, first_ts + i).run();
            s.reset();
        }
    });
}

city::UplinkOptions options(const std::string& uri, const std::string& site, int inflight) {
    city::UplinkOptions o;
    o.uri = uri;
    o.client_id = "bench-" + site;
    o.region = "wz";
    o.site = site;
    o.inflight = inflight;
    return o;
}

int throughput(const std::string& dir, int64_t rows, int inflight) {
    Broker broker(dir);
    Store store(dir + "/site.db");
    fill(store, "s1", rows, 1'790'000'000'000);
    SystemClock clock;
    city::CityUplink up(store, clock, options(broker.uri(), "s1", inflight));
    auto t0 = Clk::now();
    up.start();
    while (up.stats().sent < uint64_t(rows)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    double s = bench::seconds_since(t0);
    std::printf("throughput: %lld rows, inflight %d: %.2f s, %.0f msg/s (acknowledged and marked sent)\n",
                (long long)rows, inflight, s, rows / s);
    return 0;
}

int drain(const std::string& dir, int64_t rows) {
    Broker broker(dir);
    Store store(dir + "/site.db");
    auto tf = Clk::now();
    fill(store, "s1", rows, 1'790'000'000'000);
    std::printf("drain: filled %lld rows in %.1f s; db %.0f MB; RSS %ld kB\n", (long long)rows,
                bench::seconds_since(tf), fs::file_size(dir + "/site.db") / 1e6, bench::rss_kb());
    SystemClock clock;
    city::CityUplink up(store, clock, options(broker.uri(), "s1", 64));
    auto t0 = Clk::now();
    up.start();
    long max_rss = 0;
    int64_t next = rows / 10;
    while (int64_t(up.stats().sent) < rows) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        max_rss = std::max(max_rss, bench::rss_kb());
        if (int64_t(up.stats().sent) >= next) {
            std::printf("  %3lld%% sent after %5.1f s, RSS %ld kB\n", (long long)(100 * next / rows),
                        bench::seconds_since(t0), bench::rss_kb());
            next += rows / 10;
        }
    }
    double s = bench::seconds_since(t0);
    std::printf(
        "drain: %lld rows in %.1f s = %.0f msg/s; RSS max during drain %ld kB; peak RSS (incl. fill) %ld "
        "kB\n",
        (long long)rows, s, rows / s, max_rss, peak_rss_kb());
    return 0;
}

int sites(const std::string& dir, int n_sites, int msgs, double rate) {
    Broker broker(dir);
    std::mutex mu;
    std::vector<double> lat_ms;
    std::atomic<int64_t> received{0};
    mqtt::async_client sub(broker.uri(), "bench-city-platform");
    sub.set_message_callback([&](mqtt::const_message_ptr m) {
        auto j = nlohmann::json::parse(m->get_payload_str());
        double l = double(now_ms() - j["ts"].get<int64_t>());
        std::lock_guard<std::mutex> lock(mu);
        lat_ms.push_back(l);
        received++;
    });
    sub.connect()->wait();
    sub.subscribe("city/wz/+/+", 1)->wait();
    SystemClock clock;
    std::vector<std::unique_ptr<Store>> stores;
    std::vector<std::unique_ptr<city::CityUplink>> ups;
    for (int i = 0; i < n_sites; ++i) {
        std::string site = "s" + std::to_string(i);
        stores.push_back(std::make_unique<Store>(dir + "/" + site + ".db"));
        ups.push_back(
            std::make_unique<city::CityUplink>(*stores.back(), clock, options(broker.uri(), site, 16)));
        ups.back()->start();
    }
    std::this_thread::sleep_for(std::chrono::seconds(3));  // all connected
    std::printf("sites: %d uplinks connected: RSS %ld kB, %d threads\n", n_sites, bench::rss_kb(),
                int(std::distance(fs::directory_iterator("/proc/self/task"), fs::directory_iterator{})));
    // Writers: one row at a time per site (a commit each, as the services do), spread evenly.
    auto t0 = Clk::now();
    int writers = 4;
    std::vector<std::thread> ws;
    int64_t total = int64_t(n_sites) * msgs;
    for (int w = 0; w < writers; ++w)
        ws.emplace_back([&, w] {
            for (int k = 0; k < msgs; ++k)
                for (int i = w; i < n_sites; i += writers) {
                    int64_t seqno = int64_t(k) * n_sites + i;
                    auto due = t0 + std::chrono::microseconds(int64_t(seqno * 1e6 / rate));
                    std::this_thread::sleep_until(due);
                    std::string site = "s" + std::to_string(i);
                    fill(*stores[size_t(i)], site + "-" + std::to_string(k), 1, now_ms());
                }
        });
    for (auto& t : ws) t.join();
    double write_s = bench::seconds_since(t0);
    while (received < total && bench::seconds_since(t0) < write_s + 60)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    double s = bench::seconds_since(t0);
    std::sort(lat_ms.begin(), lat_ms.end());
    auto pct = [&](double p) { return lat_ms.empty() ? 0.0 : lat_ms[size_t(p * double(lat_ms.size() - 1))]; };
    std::printf(
        "sites: %d sites x %d rows at %.0f rows/s offered: received %lld/%lld in %.1f s = %.0f msg/s; "
        "commit->receive latency p50 %.0f ms p95 %.0f ms p99 %.0f ms max %.0f ms; RSS %ld kB\n",
        n_sites, msgs, rate, (long long)received.load(), (long long)total, s, received / s, pct(0.5),
        pct(0.95), pct(0.99), pct(1.0), bench::rss_kb());
    for (auto& u : ups) u->stop();
    sub.disconnect()->wait();
    return received == total ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "throughput";
    auto arg = [&](int i, double dflt) { return argc > i ? std::stod(argv[i]) : dflt; };
    logger("city")->set_level(spdlog::level::warn);
    std::string dir = fs::temp_directory_path() / ("caregate-bench-city-" + std::to_string(getpid()));
    fs::create_directories(dir);
    int rc = 2;
    try {
        if (mode == "throughput")
            rc = throughput(dir, int64_t(arg(2, 50'000)), int(arg(3, 64)));
        else if (mode == "drain")
            rc = drain(dir, int64_t(arg(2, 1'000'000)));
        else if (mode == "sites")
            rc = sites(dir, int(arg(2, 500)), int(arg(3, 20)), arg(4, 1000));
        else
            std::fprintf(stderr, "usage: bench_city throughput|drain|sites ...\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_city: %s\n", e.what());
        rc = 1;
    }
    fs::remove_all(dir);
    return rc;
}
