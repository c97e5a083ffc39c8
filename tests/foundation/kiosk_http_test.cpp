// The kiosk's HTTP face under hostile requests, against the real daemon process: refused before the
// body is read or parsed, bounded password hashing, security headers, no exception text; the daemon
// lives and its memory stays small.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "controller/core/bounded_json.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate::testing;

namespace {

struct Daemon {
    TempDir dir;
    std::unique_ptr<Process> p;
    int port = 0;
    Daemon() {
        write_file(dir.file("site.yaml"),
                   "site: {id: t1, name: 测试中心}\nstore: {path: " + dir.file("cg.db") +
                       "}\nkiosk: {port: 0}\nmqtt: {enabled: false}\nface: {enabled: false}\n");
        p = std::make_unique<Process>(
            std::vector<std::string>{caregate_bin(), "run", "--config", dir.file("site.yaml")},
            dir.file("log"));
        port = kiosk_port(dir.file("log"));
    }
    bool healthy() {
        httplib::Client cli("127.0.0.1", port);
        auto r = cli.Get("/healthz");
        return r && r->status == 200;
    }
    // Peak resident memory of the daemon so far (kB).
    long peak_rss_kb() {
        std::ifstream f("/proc/" + std::to_string(p->pid()) + "/status");
        for (std::string line; std::getline(f, line);)
            if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
        return -1;
    }
};

// Sends raw bytes and returns what the server answered within the deadline (status line first).
std::string raw_request(int port, const std::string& bytes, std::chrono::milliseconds deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return "";
    }
    (void)!send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    std::string got;
    auto end = std::chrono::steady_clock::now() + deadline;
    while (got.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < end) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, size_t(n));
    }
    close(fd);
    return got;
}

}  // namespace

TEST(Kiosk, HostileRequestsAreRefusedBeforeTheBodyIsRead) {
    Daemon d;
    ASSERT_GT(d.port, 0) << read_file(d.dir.file("log"));
    // 16 MiB announced, nothing sent: the answer comes from the headers alone.
    std::string big =
        raw_request(d.port,
                    "POST /api/alarms/1/ack HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Content-Length: 16777216\r\n\r\n",
                    std::chrono::seconds(5));
    EXPECT_EQ(big.rfind("HTTP/1.1 413", 0), 0u) << big;
    std::string login_big =
        raw_request(d.port, "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
                    std::chrono::seconds(5));
    EXPECT_EQ(login_big.rfind("HTTP/1.1 413", 0), 0u) << login_big;
    std::string chunked =
        raw_request(d.port, "POST /api/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                    std::chrono::seconds(5));
    EXPECT_EQ(chunked.rfind("HTTP/1.1 411", 0), 0u) << chunked;
    // A write without a session is refused before its body is parsed.
    std::string anon =
        raw_request(d.port, "POST /api/elders HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n[[[[[",
                    std::chrono::seconds(5));
    EXPECT_EQ(anon.rfind("HTTP/1.1 401", 0), 0u) << anon;

    httplib::Client cli("127.0.0.1", d.port);
    std::string deep = std::string(1500, '[') + std::string(1500, ']');
    auto r = cli.Post("/api/login", deep, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    // Staff read the catalogue's sentence; the parser's own (English) reason goes to the log only.
    EXPECT_NE(r->body.find("提交的内容格式有误"), std::string::npos) << r->body;
    EXPECT_NE(r->body.find("\"code\":\"bad_json\""), std::string::npos) << r->body;
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
    EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
    EXPECT_FALSE(r->has_header("EXCEPTION_WHAT"));
    EXPECT_TRUE(d.healthy()) << "the daemon lives";
    EXPECT_LT(d.peak_rss_kb(), 300 * 1024) << "memory stays under 300 MB";
}

TEST(Kiosk, ConcurrentLoginsAreBounded) {
    Daemon d;
    ASSERT_GT(d.port, 0) << read_file(d.dir.file("log"));
    std::atomic<int> answered{0}, refused_busy{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 40; ++i)
        clients.emplace_back([&, i] {
            std::string body =
                R"({"username":"user)" + std::to_string(i) + R"(","password":"wrong-password"})";
            std::string answer = raw_request(d.port,
                                             "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                             "application/json\r\nContent-Length: " +
                                                 std::to_string(body.size()) + "\r\n\r\n" + body,
                                             std::chrono::seconds(60));
            // 401 wrong password; 503 busy (too many hashes at once) or 429 (this address reached
            // its failed-login limit: which happens first depends on timing), both with Retry-After.
            bool wait = answer.rfind("HTTP/1.1 503", 0) == 0 || answer.rfind("HTTP/1.1 429", 0) == 0;
            if (answer.rfind("HTTP/1.1 401", 0) == 0 ||
                (wait && answer.find("Retry-After") != std::string::npos))
                answered++;
            else
                ADD_FAILURE() << "client " << i << ": " << answer.substr(0, 200);
            if (wait) refused_busy++;
        });
    for (auto& t : clients) t.join();
    EXPECT_EQ(answered, 40) << "every client got an answer (401, or 503/429 with Retry-After)";
    // 40 Argon2id checks of 64 MiB at once would be 2.5 GB; two at a time stay small.
    EXPECT_LT(d.peak_rss_kb(), 300 * 1024);
    EXPECT_TRUE(d.healthy());
}

TEST(BoundedJson, SizeAndDepthAreCheckedBeforeParsing) {
    using caregate::JsonLimits;
    using caregate::parse_bounded_json;
    std::string why;
    EXPECT_TRUE(parse_bounded_json(R"({"a":[1,{"b":"[[[[["}]})", JsonLimits{1024, 3}, &why)) << why;
    EXPECT_FALSE(parse_bounded_json("[[[[1]]]]", JsonLimits{1024, 3}, &why));
    EXPECT_NE(why.find("deeper than 3"), std::string::npos) << why;
    EXPECT_FALSE(parse_bounded_json(std::string(2000, ' ') + "1", JsonLimits{1024, 3}, &why));
    EXPECT_NE(why.find("over the limit"), std::string::npos);
    EXPECT_FALSE(parse_bounded_json("{\"a\":", JsonLimits{}, &why));
    EXPECT_EQ(why, "not valid JSON");
    EXPECT_EQ(caregate::json_depth(R"(["\"[[[", {"x": ["]]]"]}])", 10), 3)
        << "brackets in strings do not count";
    EXPECT_EQ(caregate::json_depth(std::string(1000000, '['), 64), 65) << "the scan stops early";
}
