// The caregate binary as an operator uses it: start, health, reload, graceful stop, bad input.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <thread>

#include "tests/support/test_support.hpp"

using namespace caregate::testing;

namespace {

// kiosk.port 0: the daemon binds a port of the kernel's choosing and logs it (kiosk_port reads it).
std::string site_config(const TempDir& dir, int port = 0) {
    return "site: {id: t1, name: 测试中心}\n"
           "store: {path: " +
           dir.file("state/cg.db") +
           "}\n"
           "kiosk: {port: " +
           std::to_string(port) +
           "}\n"
           "mqtt: {enabled: false}\n"
           "face: {enabled: false}\n"
           "zones: [{id: hall, name: 大厅, capacity: 10}]\n";
}

bool healthy(int port) {
    httplib::Client cli("127.0.0.1", port);
    auto res = cli.Get("/healthz");
    return res && res->status == 200 && res->body.find("\"ok\"") != std::string::npos;
}

TEST(Daemon, ServesHealthAndMetricsAndStopsGracefullyOnSigterm) {
    TempDir dir;
    write_file(dir.file("site.yaml"), site_config(dir));
    Process p({caregate_bin(), "run", "--config", dir.file("site.yaml")}, dir.file("log"));
    int port = kiosk_port(dir.file("log"));
    ASSERT_GT(port, 0) << read_file(dir.file("log"));
    EXPECT_TRUE(healthy(port));
    httplib::Client cli("127.0.0.1", port);
    auto m = cli.Get("/metrics");
    ASSERT_TRUE(m);
    EXPECT_NE(m->body.find("# TYPE caregate_bus_dropped_total counter"), std::string::npos);
    EXPECT_NE(m->body.find("caregate_zone_occupancy{zone=\"hall\"} 0"), std::string::npos) << m->body;

    auto t0 = std::chrono::steady_clock::now();
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait(std::chrono::seconds(5)), 0) << read_file(dir.file("log"));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    EXPECT_NE(read_file(dir.file("log")).find("stopped"), std::string::npos);
}

TEST(Daemon, SighupWithABrokenConfigKeepsRunning) {
    TempDir dir;
    write_file(dir.file("site.yaml"), site_config(dir));
    Process p({caregate_bin(), "run", "--config", dir.file("site.yaml")}, dir.file("log"));
    int port = kiosk_port(dir.file("log"));
    ASSERT_GT(port, 0) << read_file(dir.file("log"));
    write_file(dir.file("site.yaml"), "site: {id: t1\n");
    p.signal(SIGHUP);
    // The refusal is logged by the main loop; on a loaded machine that can take a moment.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (read_file(dir.file("log")).find("reload refused") == std::string::npos &&
           std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_TRUE(healthy(port)) << read_file(dir.file("log"));
    EXPECT_NE(read_file(dir.file("log")).find("reload refused"), std::string::npos)
        << read_file(dir.file("log"));
    p.signal(SIGINT);
    EXPECT_EQ(p.wait(std::chrono::seconds(5)), 0);
}

// A camera (and face) worker stuck inside a library call: here the camera is a FIFO nobody writes,
// so opening it never returns. The box must not look healthy: /healthz fails naming the worker
// within 10 s, and SIGTERM still ends the process within 5 s.
TEST(Daemon, AStuckCameraWorkerFailsTheHealthCheckAndDoesNotBlockShutdown) {
    TempDir dir;
    ASSERT_EQ(::mkfifo(dir.file("door.fifo").c_str(), 0600), 0);
    write_file(dir.file("site.yaml"), site_config(dir) + "cameras: [{id: door, name: 大门, source: " +
                                          dir.file("door.fifo") + ", zone: hall, fps: 5}]\n");
    auto t0 = std::chrono::steady_clock::now();
    Process p({caregate_bin(), "run", "--config", dir.file("site.yaml")}, dir.file("log"));
    int port = kiosk_port(dir.file("log"));
    ASSERT_GT(port, 0) << read_file(dir.file("log"));
    httplib::Client cli("127.0.0.1", port);
    std::string body;
    bool red = false;
    while (!red && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(12)) {
        auto r = cli.Get("/healthz");
        if (r && r->status == 503)
            red = true, body = r->body;
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_TRUE(red) << read_file(dir.file("log"));
    EXPECT_LT(std::chrono::steady_clock::now() - t0,
              std::chrono::seconds(10) + std::chrono::milliseconds(1500))
        << "red within 10 s of the stall (plus start-up)";
    EXPECT_NE(body.find("\"stalled\""), std::string::npos) << body;
    EXPECT_NE(body.find("camera:door"), std::string::npos) << body;

    auto t1 = std::chrono::steady_clock::now();
    p.signal(SIGTERM);
    int rc = p.wait(std::chrono::seconds(6));
    EXPECT_GE(rc, 0) << "the process ended";
    EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(5));
    EXPECT_NE(read_file(dir.file("log")).find("shutdown did not finish"), std::string::npos)
        << read_file(dir.file("log"));
}

TEST(Daemon, MissingConfigExitsTwoNamingThePath) {
    std::string out;
    int rc = run(caregate_bin() + " run --config /nonexistent/site.yaml", &out);
    EXPECT_EQ(rc, 2);
    EXPECT_NE(out.find("config file not found: /nonexistent/site.yaml"), std::string::npos) << out;
}

TEST(Daemon, InvalidYamlNamesLineAndColumn) {
    TempDir dir;
    write_file(dir.file("bad.yaml"), "site:\n  id: t1\n  name: [unclosed\n");
    std::string out;
    EXPECT_EQ(run(caregate_bin() + " check-config " + dir.file("bad.yaml"), &out), 2);
    EXPECT_NE(out.find(dir.file("bad.yaml") + ":"), std::string::npos) << out;
    EXPECT_NE(out.find("invalid YAML"), std::string::npos) << out;
}

TEST(Daemon, UnwritableDatabaseDirectoryIsNamed) {
    TempDir dir;
    write_file(dir.file("site.yaml"),
               "site: {id: t1, name: x}\nstore: {path: /proc/cg/x.db}\nmqtt: {enabled: false}\n");
    std::string out;
    EXPECT_EQ(run(caregate_bin() + " run --config " + dir.file("site.yaml"), &out), 1);
    EXPECT_NE(out.find("/proc/cg"), std::string::npos) << out;
}

TEST(Daemon, CheckConfigMigrateBackupAndVersion) {
    TempDir dir;
    write_file(dir.file("site.yaml"), site_config(dir, 0));
    std::string out;
    EXPECT_EQ(run(caregate_bin() + " check-config " + dir.file("site.yaml"), &out), 0) << out;
    EXPECT_NE(out.find("site: t1"), std::string::npos) << out;
    EXPECT_EQ(run(caregate_bin() + " db migrate --config " + dir.file("site.yaml"), &out), 0) << out;
    EXPECT_NE(out.find("schema 0 -> "), std::string::npos) << out;
    EXPECT_EQ(
        run(caregate_bin() + " db backup " + dir.file("b.db") + " --config " + dir.file("site.yaml"), &out),
        0)
        << out;
    EXPECT_FALSE(read_file(dir.file("b.db")).empty());
    EXPECT_EQ(run(caregate_bin() + " version", &out), 0);
    EXPECT_NE(out.find("caregate "), std::string::npos);
}

TEST(Daemon, AlarmsCliWalksTheWholeRescueRecord) {
    TempDir dir;
    write_file(dir.file("site.yaml"), site_config(dir, 0));
    std::string cfg = " --config " + dir.file("site.yaml");
    std::string out;
    ASSERT_EQ(run(caregate_bin() + " db migrate" + cfg, &out), 0) << out;
    // Raise through the store the way the rules engine does, then handle it headless.
    ASSERT_EQ(run("sqlite3 " + dir.file("state/cg.db") +
                      " \"INSERT INTO alarms(uuid,kind,source,zone,state,raised_at,next_deadline) "
                      "VALUES('a1','call','bath_call','bath','raised',1,99999999999999)\"",
                  &out),
              0)
        << out;
    EXPECT_EQ(run(caregate_bin() + " alarms" + cfg + " --by 王护士 ack 1", &out), 0) << out;
    EXPECT_EQ(run(caregate_bin() + " alarms" + cfg + " dispatch 1 120", &out), 0) << out;
    EXPECT_EQ(run(caregate_bin() + " alarms" + cfg + " dispatch 1 999", &out), 1) << out;
    EXPECT_NE(out.find("派出对象须为 110、120、119"), std::string::npos) << out;
    EXPECT_EQ(run(caregate_bin() + " alarms" + cfg + " resolve 1 --outcome '送医，已无碍'", &out), 0) << out;
    EXPECT_EQ(run(caregate_bin() + " alarms" + cfg + " ack 1", &out), 1);
    EXPECT_NE(out.find("这条报警已处置"), std::string::npos) << out;
    EXPECT_EQ(run(caregate_bin() + " alarms" + cfg + " list --all --json", &out), 0);
    EXPECT_NE(out.find("\"state\":\"resolved\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"actor\":\"王护士\""), std::string::npos) << out;
    EXPECT_NE(out.find("\"target\":\"120\""), std::string::npos) << out;
}

}  // namespace
