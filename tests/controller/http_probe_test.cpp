// The kiosk's HTTP server proves it answers (#15): slow clients holding every connection thread stop
// its self-probe, so the heartbeat stalls (and /healthz and the watchdog say so); when they go, it
// beats again.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <regex>
#include <thread>

#include "controller/core/heartbeat.hpp"
#include "controller/kiosk/http_server.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::eventually;

namespace {
// A started server with 1 stream + 16 request threads, answering /healthz, probing itself every 100 ms.
std::unique_ptr<HttpServer> small_server() {
    HttpOptions o{"127.0.0.1", 0, 1, "", "", ""};
    o.probe_interval_ms = 100;
    auto http = std::make_unique<HttpServer>(o);
    http->routes().Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("{}", "application/json");
    });
    http->start();
    return http;
}
}  // namespace

TEST(HttpProbe, SlowClientsHoldingEveryThreadStallTheHeartbeatAndItRecovers) {
    auto server = small_server();
    HttpServer& http = *server;
    Heartbeats beats;
    auto hb = beats.add("http", "员工终端网页服务", 1500);
    http.supervise(hb);
    int64_t first = hb->last_ms();
    ASSERT_TRUE(eventually([&] { return hb->last_ms() > first; }, std::chrono::seconds(5)))
        << "the probe answers";
    EXPECT_TRUE(beats.stalled().empty());

    // 40 clients each send a request line one byte at a time, never finishing their headers.
    std::atomic<bool> stop{false};
    std::vector<int> fds;
    for (int i = 0; i < 40; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(uint16_t(http.port()));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        // The first byte at once: a connection silent for the keep-alive time (2 s) is closed by the
        // server before its first request, which would end the attack on a slow machine.
        ASSERT_EQ(send(fd, "G", 1, MSG_NOSIGNAL), 1);
        fds.push_back(fd);
    }
    std::thread trickle([&] {
        const std::string line = "GET /healthz HTTP/1.1\r\nX-Slow: ";
        size_t i = 1;
        while (!stop) {
            for (int fd : fds) (void)!send(fd, &line[i % line.size()], 1, MSG_NOSIGNAL);
            ++i;
            std::this_thread::sleep_for(std::chrono::milliseconds(300));  // pacing of the attack, not a wait
        }
    });
    EXPECT_TRUE(eventually([&] { return !beats.stalled().empty(); }, std::chrono::seconds(10)))
        << "the held server is noticed";
    stop = true;
    trickle.join();
    for (int fd : fds) close(fd);
    EXPECT_TRUE(eventually([&] { return beats.stalled().empty(); }, std::chrono::seconds(15)))
        << "it answers again once they are gone";
    http.stop();
}

namespace {
// A TCP connection to 127.0.0.1:port from the given loopback source address; -1 when refused.
int connect_from(const char* source, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, source, &src.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
        close(fd);
        return -1;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}
}  // namespace

// The shipped per-client limit (systemd/caregate-kiosk-limits.nft, loaded by the package): one
// address holds at most 12 connections, so trickling clients from it cannot hold the pool; other
// clients and the box's own probe are still answered. Runs in a private network namespace (root)
// with the real nftables ruleset, the port rewritten to the test server's.
TEST(KioskConnectionLimits, OneAddressHoldsAtMostTwelveConnectionsAndOthersAreStillServed) {
    ASSERT_EQ(geteuid(), 0u) << "needs root: the test loads nftables rules in its own network namespace";
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "cannot make a network namespace: " << strerror(errno);
    ASSERT_EQ(std::system("ip link set lo up"), 0) << "ip (iproute2) missing or failed";
    auto server = small_server();
    HttpServer& http = *server;
    caregate::testing::TempDir dir;
    std::ifstream shipped(caregate::testing::source_dir() + "/systemd/caregate-kiosk-limits.nft");
    ASSERT_TRUE(shipped) << "systemd/caregate-kiosk-limits.nft not found";
    std::string rules((std::istreambuf_iterator<char>(shipped)), std::istreambuf_iterator<char>());
    rules = std::regex_replace(rules, std::regex("define kiosk_port = \\d+"),
                               "define kiosk_port = " + std::to_string(http.port()));
    caregate::testing::write_file(dir.file("limits.nft"), rules);
    std::string out;
    ASSERT_EQ(caregate::testing::run("nft -f " + dir.file("limits.nft") + " 2>&1", &out), 0)
        << "nft (package nftables) missing or the ruleset is refused: " << out;

    Heartbeats beats;
    auto hb = beats.add("http", "员工终端网页服务", 1500);
    http.supervise(hb);
    // 40 connections from one address: 12 are let through, the rest reset at the SYN.
    std::vector<int> held;
    int refused = 0;
    for (int i = 0; i < 40; ++i) {
        int fd = connect_from("127.0.0.2", http.port());
        if (fd < 0)
            ++refused;
        else
            held.push_back(fd);
    }
    EXPECT_EQ(held.size(), 12u);
    EXPECT_EQ(refused, 28);
    std::atomic<bool> stop{false};
    std::thread trickle([&] {
        const std::string line = "GET /healthz HTTP/1.1\r\nX-Slow: ";
        size_t i = 0;
        while (!stop) {
            for (int fd : held) (void)!send(fd, &line[i % line.size()], 1, MSG_NOSIGNAL);
            ++i;
            std::this_thread::sleep_for(std::chrono::milliseconds(300));  // pacing of the attack, not a wait
        }
    });
    // Another address is served while they trickle, and so is the box's own probe.
    int other = connect_from("127.0.0.3", http.port());
    ASSERT_GE(other, 0);
    const std::string get = "GET /healthz HTTP/1.1\r\nHost: box\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(send(other, get.data(), get.size(), MSG_NOSIGNAL), ssize_t(get.size()));
    timeval tv{5, 0};
    setsockopt(other, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[64] = {0};
    ssize_t n = recv(other, buf, sizeof buf - 1, 0);
    close(other);
    ASSERT_GT(n, 0) << "no answer to another client";
    EXPECT_EQ(std::string(buf).rfind("HTTP/1.1 200", 0), 0u) << buf;
    int64_t during = hb->last_ms();
    EXPECT_TRUE(eventually([&] { return hb->last_ms() > during; }, std::chrono::seconds(5)))
        << "the self-probe from 127.0.0.1 still answers";
    EXPECT_TRUE(beats.stalled().empty());
    stop = true;
    trickle.join();
    for (int fd : held) close(fd);
    http.stop();
}

// A browser's idle keep-alive connection does not hold up shutdown: SIGTERM must end the daemon
// within its 4 s deadline, and stop() waits for the connection's thread.
TEST(HttpProbe, AnIdleKeepAliveConnectionDoesNotHoldUpStop) {
    auto server = small_server();
    int fd = connect_from("127.0.0.1", server->port());
    ASSERT_GE(fd, 0);
    const std::string get = "GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n";  // keep-alive
    ASSERT_EQ(send(fd, get.data(), get.size(), MSG_NOSIGNAL), ssize_t(get.size()));
    char buf[256];
    ASSERT_GT(recv(fd, buf, sizeof buf, 0), 0);
    auto t0 = std::chrono::steady_clock::now();
    server->stop();
    auto took = std::chrono::steady_clock::now() - t0;
    close(fd);
    EXPECT_LT(took, std::chrono::milliseconds(3500)) << "stop() waited for the idle connection";
}
