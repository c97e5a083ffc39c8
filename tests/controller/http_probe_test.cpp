// The kiosk's HTTP server proves it answers (#15): slow clients holding every connection thread stop
// its self-probe, so the heartbeat stalls (and /healthz and the watchdog say so); when they go, it
// beats again.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "controller/core/heartbeat.hpp"
#include "controller/kiosk/http_server.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using caregate::testing::eventually;

TEST(HttpProbe, SlowClientsHoldingEveryThreadStallTheHeartbeatAndItRecovers) {
    HttpOptions o{"127.0.0.1", 0, 1, "", "", ""};  // 1 stream + 16 request threads
    o.probe_interval_ms = 100;
    HttpServer http(o);
    http.routes().Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("{}", "application/json");
    });
    http.start();
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
        fds.push_back(fd);
    }
    std::thread trickle([&] {
        const std::string line = "GET /healthz HTTP/1.1\r\nX-Slow: ";
        size_t i = 0;
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
