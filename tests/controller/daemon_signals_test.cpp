// The daemon as systemd runs it: sd_notify seen by a NOTIFY_SOCKET the test binds (READY, watchdog
// pings only while every worker beats, RELOADING on SIGHUP, STOPPING), a SIGHUP whose new log level
// and check-in interval take effect, and the free-space check of the media folder (min_free_mb),
// on a small tmpfs of the daemon's own (a user and mount namespace, no root needed).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "tests/controller/daemon_rig.hpp"
#include "tests/support/notify_socket.hpp"

using namespace caregate::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* kPlainSite =
    "mqtt: {enabled: false}\n"
    "face: {enabled: false}\n"
    "zones: [{id: hall, name: 大厅, capacity: 10}]\n";

// Wraps `caregate run` so that it sees a systemd notify socket and a watchdog of `watchdog_ms`.
std::vector<std::string> under_systemd(const NotifySocket& s, int watchdog_ms) {
    return {"env", "NOTIFY_SOCKET=" + s.path(), "WATCHDOG_USEC=" + std::to_string(watchdog_ms * 1000)};
}

// The signal bits of one /proc status line ("SigBlk:", "SigCgt:") of a process or thread.
uint64_t signal_mask(const std::string& status_file, const std::string& field) {
    std::istringstream in(read_file(status_file));
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field, 0) == 0) return std::stoull(line.substr(field.size()), nullptr, 16);
    ADD_FAILURE() << "no " << field << " in " << status_file;
    return 0;
}
bool has_signal(uint64_t mask, int sig) { return (mask >> (sig - 1)) & 1; }

}  // namespace

// `systemctl reload` and `stop` send the process a signal; the kernel hands it to any thread that
// does not block it. Threads that exist before main() (OpenBLAS starts its pool when the library
// loads) never blocked SIGHUP or SIGTERM, so a signal taken by one of them used to end the daemon on
// the spot (the default action) instead of reloading or stopping cleanly. Each such thread now hands
// the signal on to the main loop.
TEST(DaemonSignals, ASignalTakenByAnyThreadReachesTheMainLoop) {
    DaemonRig d;
    d.write_config(kPlainSite);
    NotifySocket sock(d.dir.file("notify"));
    d.start(under_systemd(sock, 4000));
    ASSERT_TRUE(sock.wait_for("READY=1", 1, 10s)) << d.log();
    pid_t pid = d.process().pid();
    std::string proc = "/proc/" + std::to_string(pid);
    uint64_t caught = signal_mask(proc + "/status", "SigCgt:");
    for (int sig : {SIGTERM, SIGINT, SIGHUP})
        EXPECT_TRUE(has_signal(caught, sig))
            << "no handler for signal " << sig << ": a thread that takes it dies";

    std::vector<std::pair<pid_t, std::string>> open;  // threads a process-wide SIGHUP may land on
    for (auto& e : std::filesystem::directory_iterator(proc + "/task")) {
        pid_t tid = std::stoi(e.path().filename().string());
        if (tid == pid) continue;  // the main thread: its SigBlk is open while it waits in sigtimedwait
        if (!has_signal(signal_mask(e.path().string() + "/status", "SigBlk:"), SIGHUP))
            open.emplace_back(tid, read_file(e.path().string() + "/comm"));
    }
    std::cout << open.size() << " thread(s) do not block SIGHUP\n";
    size_t reloads = 0;
    for (auto& [tid, name] : open) {
        ASSERT_EQ(syscall(SYS_tgkill, pid, tid, SIGHUP), 0) << "thread " << tid << " is gone";
        ASSERT_TRUE(sock.wait_for("RELOADING=1", ++reloads, 10s))
            << "a SIGHUP taken by thread " << tid << " (" << name << ") did not reload; exit "
            << d.process().wait(0ms) << "\n"
            << d.log();
    }
    if (!open.empty()) {
        ASSERT_EQ(syscall(SYS_tgkill, pid, open.front().first, SIGTERM), 0);
        EXPECT_EQ(d.process().wait(6000ms), 0)
            << "a SIGTERM taken by a pool thread stops the daemon cleanly\n"
            << d.log();
        EXPECT_GE(sock.find("STOPPING=1"), 0);
    }
}

TEST(DaemonSystemd, ReadyWatchdogPingsReloadAndStoppingReachTheNotifySocket) {
    DaemonRig d;
    d.write_config(kPlainSite);
    NotifySocket sock(d.dir.file("notify"));
    d.start(under_systemd(sock, 400));  // pings every 200 ms (half the watchdog)
    ASSERT_TRUE(sock.wait_for("READY=1", 1, 10s)) << d.log();
    auto ready = sock.datagrams()[size_t(sock.find("READY=1"))];
    EXPECT_TRUE(has_line(ready, "STATUS=serving site rig on port " + std::to_string(d.port()))) << ready;
    // Pings keep coming while every worker beats: 5 take about a second.
    size_t before = sock.count("WATCHDOG=1");
    EXPECT_TRUE(sock.wait_for("WATCHDOG=1", before + 5, 5s)) << sock.count("WATCHDOG=1");

    // systemctl reload: RELOADING=1, then READY=1 again once the file is read.
    d.process().signal(SIGHUP);
    ASSERT_TRUE(sock.wait_for("RELOADING=1", 1, 10s)) << d.log();
    long reloading = sock.find("RELOADING=1");
    EXPECT_TRUE(eventually([&] { return sock.find("READY=1", size_t(reloading)) > reloading; }, 10s));
    EXPECT_NE(d.log().find("reloaded"), std::string::npos) << d.log();

    // systemctl stop: STOPPING=1, and no ping after it.
    EXPECT_EQ(d.stop(), 0) << d.log();
    long stopping = sock.find("STOPPING=1");
    ASSERT_GE(stopping, 0) << "no STOPPING=1 among " << sock.datagrams().size() << " datagrams";
    EXPECT_EQ(sock.find("WATCHDOG=1", size_t(stopping)), -1) << "a ping after STOPPING=1";
}

// A camera worker stuck inside a library call (a FIFO nobody writes: opening it never returns). Its
// heartbeat goes silent; once past its limit (6 s for a file camera) the watchdog is no longer fed,
// so systemd would restart the box. STOPPING=1 still comes on SIGTERM.
TEST(DaemonSystemd, TheWatchdogIsNoLongerFedOnceAWorkerStalls) {
    DaemonRig d;
    ASSERT_EQ(::mkfifo(d.dir.file("door.fifo").c_str(), 0600), 0);
    d.write_config(std::string(kPlainSite) + "cameras: [{id: door, name: 大门, source: " +
                   d.dir.file("door.fifo") + ", zone: hall, fps: 5}]\n");
    NotifySocket sock(d.dir.file("notify"));
    d.start(under_systemd(sock, 400));
    ASSERT_TRUE(sock.wait_for("READY=1", 1, 10s)) << d.log();
    EXPECT_TRUE(sock.wait_for("WATCHDOG=1", 3, 5s)) << "pings before the stall is noticed";
    // The main loop says when it stops feeding the watchdog; it sends no ping from that pass on.
    ASSERT_TRUE(eventually([&] { return d.log().find("watchdog not fed") != std::string::npos; }, 15s))
        << d.log();
    size_t pings = sock.count("WATCHDOG=1");
    // Ten watchdog periods without a ping (an observation window, not a synchronisation).
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(sock.count("WATCHDOG=1"), pings) << "pinged while camera:door was stalled";
    EXPECT_NE(d.log().find("worker camera:door has not made progress"), std::string::npos) << d.log();
    d.process().signal(SIGTERM);
    EXPECT_GE(d.process().wait(6s), 0) << "ended within the shutdown deadline";
    EXPECT_GE(sock.find("STOPPING=1"), 0);
}

// SIGHUP reloads what is safe: the log level (debug lines appear that did not before) and the
// check-in interval (a second check-in within 30 min is refused before, recorded after).
TEST(DaemonReload, SighupAppliesTheNewLogLevelAndCheckinInterval) {
    DaemonRig d;
    // A Modbus bus nobody answers: its poller logs each failed connect at debug level.
    int dead_port = candidate_tcp_port();
    auto site = [&](const std::string& level, int interval) {
        return std::string(kPlainSite) + "log: {level: " + level +
               "}\ncheckin: {interval_minutes: " + std::to_string(interval) +
               "}\nbuses: [{id: deadbus, type: tcp, host: 127.0.0.1, port: " + std::to_string(dead_port) +
               ", devices: [{id: btn, kind: call_button, zone: hall, points: [{table: discrete_inputs, "
               "address: 0, meaning: call}]}]}]\n";
    };
    d.write_config(site("info", 30));
    int64_t elder = d.add_elder(R"({"name":"张桂英","gender":"女","birth_date":"1948-05-02"})");
    d.start();
    auto nurse = d.login();
    auto checkin = [&] {
        auto r = d.post(nurse, "/api/checkins", json{{"elder_id", elder}, {"direction", "in"}});
        return r ? r->status * 10 + (r->body.find("\"duplicate\":true") != std::string::npos ? 1 : 0) : 0;
    };
    EXPECT_EQ(checkin(), 2010) << "first check-in recorded";
    EXPECT_EQ(checkin(), 2001) << "a second within 30 min is the same visit";
    // The bus is reported down after its 1 s grace, by then it has failed to connect several times:
    // at info level none of that is in the log.
    ASSERT_TRUE(eventually(
        [&] { return d.query("SELECT COUNT(*) FROM alarms WHERE source='bus:deadbus'") == "1"; }, 10s))
        << d.log();
    const std::string debug_line = "bus deadbus: connect failed";
    EXPECT_EQ(d.log().find(debug_line), std::string::npos) << "debug lines at info level";

    d.write_config(site("debug", 0));
    d.process().signal(SIGHUP);
    ASSERT_TRUE(eventually([&] { return d.log().find("reloaded") != std::string::npos; }, 10s)) << d.log();
    // The poller retries at most every 5 s; its next failure is now written.
    EXPECT_TRUE(eventually([&] { return d.log().find(debug_line) != std::string::npos; }, 10s)) << d.log();
    EXPECT_EQ(checkin(), 2010) << "interval 0: every check-in is recorded";
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM checkins WHERE elder_id=" + std::to_string(elder)), "2");
    EXPECT_EQ(d.stop(), 0);
}

// The media folder on a 32 MB tmpfs mounted for the daemon alone (unshare: a user and mount
// namespace of its own). With min_free_mb 16, a 24 MB file in that folder is a storage alarm within
// one housekeeping pass (5 s); removing it clears the alarm.
TEST(DaemonStorage, LessThanMinFreeMbInTheMediaFolderIsAStorageAlarmThatClearsWithSpace) {
    std::string out;
    ASSERT_EQ(run("unshare --user --map-root-user --mount true", &out), 0)
        << "this test needs unprivileged user namespaces (unshare -rm): " << out;
    DaemonRig d;
    std::string media = d.dir.file("media");
    std::filesystem::create_directories(media);
    d.write_config(std::string(kPlainSite) + "cctv: {min_free_mb: 16}\n", ", media_dir: " + media);
    d.start({"unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
             "mount -t tmpfs -o size=32m tmpfs \"$0\" && exec \"$@\"", media});
    // The daemon's view of its media folder: the tmpfs (the test's view is the empty folder below).
    std::string inside = "/proc/" + std::to_string(d.process().pid()) + "/root" + media;
    ASSERT_TRUE(eventually([&] {
        struct statvfs st {};
        return ::statvfs(inside.c_str(), &st) == 0 && st.f_blocks * st.f_frsize == 32u << 20;
    })) << "the daemon's media folder is not its 32 MB tmpfs";
    EXPECT_EQ(d.query("SELECT COUNT(*) FROM alarms WHERE kind='storage'"), "0") << "32 MB free: no alarm";
    {
        std::ofstream fill(inside + "/fill.bin", std::ios::binary);
        std::string mb(1 << 20, 'x');
        for (int i = 0; i < 24; ++i) fill << mb;
        ASSERT_TRUE(fill.good()) << "could not write 24 MB into the daemon's tmpfs";
    }
    ASSERT_TRUE(eventually(
        [&] {
            return d.query("SELECT state FROM alarms WHERE kind='storage' AND source='storage'") == "raised";
        },
        15s))
        << d.log();
    EXPECT_NE(d.query("SELECT detail FROM alarms WHERE kind='storage'").find("录像存储空间不足 16 MB"),
              std::string::npos)
        << d.query("SELECT detail FROM alarms WHERE kind='storage'");
    std::filesystem::remove(inside + "/fill.bin");
    EXPECT_TRUE(eventually(
        [&] { return d.query("SELECT state FROM alarms WHERE kind='storage'") == "resolved"; }, 15s))
        << d.log();
    // Full again, and the box restarts with the alarm open: once it runs with space (here the plain
    // folder, not the tmpfs), the alarm clears; it is not left open for ever.
    {
        std::ofstream fill(inside + "/fill.bin", std::ios::binary);
        std::string mb(1 << 20, 'x');
        for (int i = 0; i < 24; ++i) fill << mb;
    }
    ASSERT_TRUE(eventually(
        [&] { return d.query("SELECT COUNT(*) FROM alarms WHERE kind='storage' AND state='raised'") == "1"; },
        15s))
        << d.log();
    EXPECT_EQ(d.stop(), 0) << d.log();
    d.start();
    EXPECT_TRUE(eventually(
        [&] { return d.query("SELECT COUNT(*) FROM alarms WHERE kind='storage' AND state='raised'") == "0"; },
        15s))
        << "a storage alarm open before the restart clears when there is space: " << d.log();
    EXPECT_EQ(d.stop(), 0) << d.log();
}
