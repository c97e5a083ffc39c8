// Done-when of "every call reaches a person", with the real daemon process and real peers: a press
// on a Modbus TCP call point reaches the kiosk, the WeCom robot (format checked by a local HTTPS
// receiver), the loudspeaker, then SMS and a voice call on the simulated modem after the configured
// delay, each attempt in the rescue record. With the modem unplugged the daemon is killed (SIGKILL)
// mid-chain; after the restart the chain resumes: nothing lost, nothing sent twice.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "config/config.hpp"
#include "devices/simulator.hpp"
#include "tests/support/https_receiver.hpp"
#include "tests/support/modem_simulator.hpp"
#include "tests/support/staff_words.hpp"
#include "tests/support/test_support.hpp"

using namespace caregate;
using namespace caregate::testing;
using nlohmann::json;

namespace {
// The alarm as the CLI shows it (the daemon keeps running; SQLite WAL lets both read).
json alarm(const std::string& cfg, int id) {
    std::string out;
    if (run(caregate_bin() + " alarms --config " + cfg + " list --all --json", &out) != 0) return nullptr;
    std::istringstream lines(out);  // one alarm per line
    for (std::string line; std::getline(lines, line);) {
        auto a = json::parse(line, nullptr, false);
        if (a.is_object() && a["id"] == id) return a;
    }
    return nullptr;
}
int count_steps(const json& a, const std::string& step, const std::string& target_prefix) {
    int n = 0;
    if (a.is_null()) return 0;
    for (auto& s : a["steps"])
        if (s["step"] == step && s["target"].is_string() &&
            s["target"].get<std::string>().rfind(target_prefix, 0) == 0)
            n++;
    return n;
}
}  // namespace

TEST(CallChain, APressReachesEveryoneAndAKillMidChainLosesNothing) {
    TempDir dir;
    HttpsReceiver receiver;
    ModemSimulator modem;
    modem.set_call_outcome(CallOutcome::ring_no_answer);
    std::string bus =
        "buses: [{id: b1, type: tcp, host: 127.0.0.1, port: PORT, devices: [{id: bath_call_3, name: "
        "3号卫生间呼叫器, "
        "kind: call_button, zone: bath3, points: [{table: discrete_inputs, address: 0, meaning: call}]}]}]\n";
    std::string site =
        "site: {id: t1, name: 颐康照料中心}\n"
        "zones: [{id: bath3, name: 3号卫生间, private: true}]\n";
    auto sim_cfg =
        config::parse_config(site + std::regex_replace(bus, std::regex("PORT"), "502"), "sim.yaml");
    sim_cfg.buses[0].port = 0;  // the simulator binds a port of the kernel's choosing
    devices::Simulator sim(sim_cfg);
    sim.start();
    std::string yaml = site +
                       std::regex_replace(bus, std::regex("PORT"), std::to_string(sim.tcp_port("b1"))) +
                       "store: {path: " + dir.file("state/cg.db") +
                       "}\nkiosk: {port: 0}\nmqtt: {enabled: false}\nface: {enabled: false}\n"
                       "notify:\n"
                       "  channels:\n"
                       "    - {id: duty_chat, name: 值班群, type: wecom, ca_file: " +
                       receiver.ca_file() + ", url: \"" +
                       receiver.url("/cgi-bin/webhook/send?key=" + receiver.secrets().wecom_key) +
                       "\"}\n"
                       "    - {id: hall_speaker, name: 大厅广播, type: speaker, repeat_s: 60}\n"
                       "    - {id: duty_sms, name: 值班短信, type: sms, modem: " +
                       modem.device_path() +
                       ", to: [\"13800000001\"]}\n"
                       "    - {id: duty_call, name: 值班电话, type: voice, modem: " +
                       modem.device_path() +
                       ", to: [\"13800000001\"], ring_s: 5}\n"
                       "  escalation:\n"
                       "    default:\n"
                       "      - {after_s: 0, notify: [duty_chat, hall_speaker]}\n"
                       "      - {after_s: 4, notify: [duty_sms, duty_call]}\n";
    write_file(dir.file("site.yaml"), yaml);
    std::string cfg = dir.file("site.yaml");

    auto daemon = std::make_unique<Process>(std::vector<std::string>{caregate_bin(), "run", "--config", cfg},
                                            dir.file("log1"));
    int port = kiosk_port(dir.file("log1"));
    ASSERT_GT(port, 0) << read_file(dir.file("log1"));
    modem.unplug();  // the modem is out from the start: SMS and voice will fail and be retried
    sim.press("bath_call_3");

    // The kiosk has it (its door screen plays the loudspeaker's announcement), the chat robot too.
    httplib::Client cli("127.0.0.1", port);
    // As the paired door screen reads it.
    std::string code;
    ASSERT_EQ(run(caregate_bin() + " door pair --config " + cfg, &code), 0) << code;
    auto paired = cli.Post("/api/door/pair", json{{"code", code.substr(0, code.find('\n'))}}.dump(),
                           "application/json");
    ASSERT_TRUE(paired && paired->status == 200) << (paired ? paired->body : "no answer");
    std::string door_cookie = paired->get_header_value("Set-Cookie");
    door_cookie = door_cookie.substr(0, door_cookie.find(';'));
    json announcement;
    ASSERT_TRUE(eventually(
        [&] {
            auto r = cli.Get("/api/door/state", {{"Cookie", door_cookie}});
            if (!r || r->status != 200) return false;
            announcement = json::parse(r->body, nullptr, false)["announcement"];
            return announcement.is_object();
        },
        std::chrono::seconds(10)))
        << read_file(dir.file("log1"));
    EXPECT_NE(announcement["text"].get<std::string>().find("三号卫生间"), std::string::npos)
        << "spoken as words: " << announcement;
    ASSERT_TRUE(receiver.wait_for(1, std::chrono::seconds(10)));
    auto chat = receiver.received()[0];
    EXPECT_TRUE(chat.ok) << chat.why;
    EXPECT_NE(chat.json["text"]["content"].get<std::string>().find("3号卫生间呼叫器"), std::string::npos);

    // After the delay the SMS and the call fail on the unplugged modem and are recorded as such.
    ASSERT_TRUE(eventually([&] { return count_steps(alarm(cfg, 1), "notified", "值班短信") >= 1; },
                           std::chrono::seconds(20)))
        << alarm(cfg, 1).dump() << "\n"
        << read_file(dir.file("log1"));
    daemon->signal(SIGKILL);
    daemon->wait(std::chrono::seconds(5));
    daemon.reset();

    modem.replug();
    daemon = std::make_unique<Process>(std::vector<std::string>{caregate_bin(), "run", "--config", cfg},
                                       dir.file("log2"));
    ASSERT_GT(kiosk_port(dir.file("log2")), 0) << read_file(dir.file("log2"));
    ASSERT_TRUE(modem.wait_for_sms(1, std::chrono::seconds(30))) << read_file(dir.file("log2"));
    ASSERT_TRUE(modem.wait_for_calls(1, std::chrono::seconds(30))) << read_file(dir.file("log2"));
    EXPECT_EQ(modem.sms()[0].to, "13800000001");
    EXPECT_NE(modem.sms()[0].text.find("3号卫生间呼叫器"), std::string::npos) << modem.sms()[0].text;

    // Acknowledge from the phone: the SMS reply "1".
    modem.inject_incoming_sms("+8613800000001", "1");
    json a;
    ASSERT_TRUE(eventually(
        [&] {
            a = alarm(cfg, 1);
            return !a.is_null() && a["state"] == "acknowledged";
        },
        std::chrono::seconds(20)))
        << read_file(dir.file("log2"));
    EXPECT_EQ(count_steps(a, "notified", "值班群"), 1) << "the chat message was not sent twice";
    EXPECT_GE(count_steps(a, "notified", "大厅广播"), 1);
    EXPECT_GE(count_steps(a, "notified", "值班电话"), 2) << "a failed ring before the kill, a ring after";
    for (auto& s : a["steps"]) {  // what staff read in the rescue record: Chinese, failures included
        if (s["step"] != "notified") continue;
        EXPECT_EQ(caregate::testing::latin_words(s["target"].get<std::string>() + " " +
                                                 s["note"].get<std::string>()),
                  "")
            << s.dump();
    }
    EXPECT_EQ(receiver.received().size(), 1u);
    EXPECT_EQ(modem.sms().size(), 1u) << "one SMS, not one per restart";
    EXPECT_EQ(modem.calls().size(), 1u);
    daemon->signal(SIGTERM);
    EXPECT_EQ(daemon->wait(std::chrono::seconds(10)), 0) << read_file(dir.file("log2"));
}
