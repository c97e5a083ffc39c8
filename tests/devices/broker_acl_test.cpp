// The shipped site-broker configuration (systemd/caregate-broker.conf + .acl) on a real Mosquitto
// (#15): no anonymous client, each account publishes only its own topics (a forged availability or
// reset from another account never reaches the daemon), and a huge payload is refused at the broker.
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/support/test_support.hpp"

using namespace caregate::testing;

namespace {

class SiteBroker {
public:
    SiteBroker() {
        for (auto [user, pw] : std::vector<std::pair<std::string, std::string>>{
                 {"caregate", "cg-secret-1"}, {"zigbee2mqtt", "z2m-secret-1"}, {"bath1", "dev-secret-1"}}) {
            std::string out;
            int rc = run("mosquitto_passwd " + std::string(users_++ ? "" : "-c ") + "-b " +
                             dir_.file("passwd") + " " + user + " " + pw,
                         &out);
            if (rc != 0) throw std::runtime_error("mosquitto_passwd failed: " + out);
        }
        std::string acl = read_file(source_dir() + "/systemd/caregate-broker.acl");
        write_file(dir_.file("acl"), acl);
        start_on_candidate_ports([this] { port_ = candidate_tcp_port(); }, [this] { start(); });
    }
    int port() const { return port_; }
    // mosquitto_pub as `user` (empty: anonymous); the exit code.
    int pub(const std::string& user, const std::string& pw, const std::string& topic,
            const std::string& payload_file, std::string* out = nullptr) {
        std::string auth = user.empty() ? "" : " -u " + user + " -P " + pw;
        return run("mosquitto_pub -h 127.0.0.1 -p " + std::to_string(port_) + auth + " -q 1 -t '" + topic +
                       "' -f " + payload_file,
                   out);
    }

private:
    void start() {
        // The shipped drop-in as it is, with the listener on a test port and the files in a temp dir.
        std::string conf = read_file(source_dir() + "/systemd/caregate-broker.conf");
        conf = std::regex_replace(conf, std::regex("listener 1883"),
                                  "listener " + std::to_string(port_) + " 127.0.0.1");
        conf = std::regex_replace(conf, std::regex("/etc/mosquitto/caregate.passwd"), dir_.file("passwd"));
        conf = std::regex_replace(conf, std::regex("/etc/mosquitto/caregate.acl"), dir_.file("acl"));
        conf = std::regex_replace(conf, std::regex("persistence true"), "persistence false");
        // Started as root, mosquitto would become user mosquitto and not read the temp files.
        const passwd* me = getpwuid(getuid());
        write_file(dir_.file("mosquitto.conf"),
                   conf + "log_type error\nuser " + std::string(me ? me->pw_name : "root") + "\n");
        proc_ = std::make_unique<Process>(
            std::vector<std::string>{"/usr/sbin/mosquitto", "-c", dir_.file("mosquitto.conf")},
            dir_.file("log"));
        if (!wait_until_listening(*proc_, port_, std::chrono::seconds(10)))
            throw std::runtime_error("mosquitto did not start: " + read_file(dir_.file("log")));
    }
    TempDir dir_;
    int users_ = 0;
    int port_ = 0;
    std::unique_ptr<Process> proc_;
};

}  // namespace

TEST(SiteBroker, OnlyAccountsPublishAndEachOnlyItsOwnTopics) {
    SiteBroker b;
    TempDir dir;
    write_file(dir.file("small"), R"({"action":"emergency"})");
    // The daemon's account listens to everything it reads.
    std::vector<std::string> argv = {"mosquitto_sub",
                                     "-h",
                                     "127.0.0.1",
                                     "-p",
                                     std::to_string(b.port()),
                                     "-u",
                                     "caregate",
                                     "-P",
                                     "cg-secret-1",
                                     "-v",
                                     "-q",
                                     "1",
                                     "-t",
                                     "zigbee2mqtt/#",
                                     "-t",
                                     "caregate/#"};
    Process sub(argv, dir.file("seen"));
    // The subscriber is ready once a marker it must see arrives.
    write_file(dir.file("marker"), "ready");
    ASSERT_TRUE(eventually(
        [&] {
            b.pub("caregate", "cg-secret-1", "caregate/site/status", dir.file("marker"));
            return read_file(dir.file("seen")).find("caregate/site/status ready") != std::string::npos;
        },
        std::chrono::seconds(10)))
        << read_file(dir.file("seen"));

    std::string out;
    EXPECT_NE(b.pub("", "", "zigbee2mqtt/bath_sos", dir.file("small"), &out), 0) << "anonymous: " << out;
    EXPECT_NE(b.pub("bath1", "wrong", "caregate/site/sensor/bath1", dir.file("small"), &out), 0) << out;
    // A device account forging zigbee2mqtt availability or another device's state: dropped by the
    // broker. Then its own state topic, which must arrive (and after the forged ones, if any).
    write_file(dir.file("offline"), "offline");
    b.pub("bath1", "dev-secret-1", "zigbee2mqtt/bath_sos/availability", dir.file("offline"));
    b.pub("bath1", "dev-secret-1", "caregate/site/sensor/bath2", dir.file("small"));
    b.pub("bath1", "dev-secret-1", "caregate/site/status", dir.file("offline"));
    EXPECT_EQ(b.pub("bath1", "dev-secret-1", "caregate/site/sensor/bath1", dir.file("small")), 0);
    ASSERT_TRUE(eventually(
        [&] { return read_file(dir.file("seen")).find("caregate/site/sensor/bath1") != std::string::npos; },
        std::chrono::seconds(10)));
    // zigbee2mqtt itself may say a device is offline; 200 KB from it is refused at the broker.
    write_file(dir.file("big"), std::string(200 * 1024, 'x'));
    b.pub("zigbee2mqtt", "z2m-secret-1", "zigbee2mqtt/bath_sos", dir.file("big"));
    EXPECT_EQ(b.pub("zigbee2mqtt", "z2m-secret-1", "zigbee2mqtt/bath_sos/availability", dir.file("offline")),
              0);
    ASSERT_TRUE(eventually(
        [&] {
            return read_file(dir.file("seen")).find("zigbee2mqtt/bath_sos/availability offline") !=
                   std::string::npos;
        },
        std::chrono::seconds(10)));
    std::string seen = read_file(dir.file("seen"));
    EXPECT_EQ(seen.find("caregate/site/sensor/bath2"), std::string::npos) << seen;
    EXPECT_EQ(seen.find("caregate/site/status offline"), std::string::npos) << seen;
    size_t delivered = 0;
    std::istringstream lines(seen);
    for (std::string l; std::getline(lines, l);) delivered += l.find(" ready") == std::string::npos;
    EXPECT_EQ(delivered, 2u) << "bath1's own state and zigbee2mqtt's availability, nothing else:\n" << seen;
    EXPECT_EQ(seen.find("xxxxxxxx"), std::string::npos) << "the 200 KB payload was not delivered";
}
