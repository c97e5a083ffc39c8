// The modem path end to end over a pty pair: notify::Modem on one end, the simulated modem
// (tests/support/modem_simulator.hpp, socat + an AT interpreter with its own PDU codec) on the other.
#include "notify/modem.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/modem_simulator.hpp"
#include "tests/support/staff_words.hpp"

namespace caregate::notify {
namespace {

using caregate::testing::CallOutcome;
using caregate::testing::expect_staff_reason;
using caregate::testing::ModemSimulator;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kWait{5000};
const std::string kDuty = "+8613800000000";
const std::string kAlarm = "【颐康照料中心】紧急呼叫：助浴间呼叫器（助浴间）14:03 报警 #12";

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

size_t count_commands(const ModemSimulator& sim, const std::string& cmd) {
    const auto c = sim.commands();
    return static_cast<size_t>(std::count(c.begin(), c.end(), cmd));
}

std::string repeat(const std::string& s, size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += s;
    return out;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

TEST(Modem, ChineseSmsArrivesWithTheExactText) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    const ModemResult r = modem.send_sms(kDuty, kAlarm);
    EXPECT_TRUE(r.ok) << r.detail;
    EXPECT_FALSE(r.modem_gone);
    ASSERT_TRUE(sim.wait_for_sms(1, kWait));
    const auto got = sim.sms();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].to, kDuty);
    EXPECT_EQ(got[0].text, kAlarm);
    EXPECT_EQ(got[0].parts, 1);
    // The init dialogue ran: echo off, numeric errors, PDU mode.
    EXPECT_EQ(count_commands(sim, "ATE0"), 1u);
    EXPECT_EQ(count_commands(sim, "AT+CMEE=1"), 1u);
    EXPECT_EQ(count_commands(sim, "AT+CMGF=0"), 1u);
}

TEST(Modem, LongTextsArriveAsOneReassembledMessage) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    const std::string chinese = repeat("颐康照料中心紧急呼叫助浴", 25);       // 300 characters → 5 parts
    const std::string latin = repeat("Bath call 1 at 14:03, room 12. ", 13);  // 403 septets → 3 parts
    const ModemResult a = modem.send_sms(kDuty, chinese);
    EXPECT_TRUE(a.ok) << a.detail;
    EXPECT_TRUE(contains(a.detail, "5 parts")) << a.detail;
    const ModemResult b = modem.send_sms("13800000000", latin);
    EXPECT_TRUE(b.ok) << b.detail;
    ASSERT_TRUE(sim.wait_for_sms(2, kWait));
    const auto got = sim.sms();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].text, chinese);
    EXPECT_EQ(got[0].parts, 5);
    EXPECT_EQ(got[1].to, "13800000000");
    EXPECT_EQ(got[1].text, latin);
    EXPECT_EQ(got[1].parts, 3);
}

TEST(Modem, CmsErrorIsReportedWithItsCodeAndTheNextSendWorks) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    sim.fail_next_sms(38);
    const ModemResult bad = modem.send_sms(kDuty, "test 1");
    EXPECT_FALSE(bad.ok);
    expect_staff_reason(bad);
    EXPECT_FALSE(bad.modem_gone);
    EXPECT_TRUE(contains(bad.detail, "+CMS ERROR: 38")) << bad.detail;
    EXPECT_TRUE(contains(bad.detail, "network out of order")) << bad.detail;
    EXPECT_TRUE(sim.sms().empty());

    const ModemResult good = modem.send_sms(kDuty, "test 2");
    EXPECT_TRUE(good.ok) << good.detail;
    ASSERT_TRUE(sim.wait_for_sms(1, kWait));
    EXPECT_EQ(sim.sms()[0].text, "test 2");
}

TEST(Modem, AFailedPartFailsTheWholeMessageAndSaysWhichPart) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    sim.fail_next_sms(42);
    const ModemResult r = modem.send_sms(kDuty, repeat("中", 100));
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_TRUE(contains(r.detail, "part 1/2")) << r.detail;
    EXPECT_TRUE(contains(r.detail, "congestion")) << r.detail;
    EXPECT_TRUE(sim.sms().empty());
}

TEST(Modem, RingingWithoutAnswerIsAnAlert) {
    ModemSimulator sim;
    sim.set_call_outcome(CallOutcome::ring_no_answer);
    Modem modem(sim.device_path());
    const auto start = Clock::now();
    const CallResult c = modem.call(kDuty, 2);
    const double took = seconds_since(start);
    EXPECT_TRUE(c.ok) << c.detail;
    EXPECT_TRUE(c.rang);
    EXPECT_FALSE(c.answered);
    EXPECT_TRUE(contains(c.detail, "not answered")) << c.detail;
    EXPECT_GE(took, 1.9);
    EXPECT_LT(took, 4.0);
    const auto calls = sim.calls();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].number, kDuty);
    EXPECT_FALSE(calls[0].answered);
    EXPECT_TRUE(calls[0].hung_up);
    // Polled about every 500 ms over 2 s, not in a tight loop.
    const size_t polls = count_commands(sim, "AT+CLCC");
    EXPECT_GE(polls, 3u);
    EXPECT_LE(polls, 6u);
}

TEST(Modem, BusyIsNotAnAlert) {
    ModemSimulator sim;
    sim.set_call_outcome(CallOutcome::busy);
    Modem modem(sim.device_path());
    const auto start = Clock::now();
    const CallResult c = modem.call(kDuty, 20);
    EXPECT_FALSE(c.ok);
    expect_staff_reason(c);
    EXPECT_FALSE(c.rang);
    EXPECT_FALSE(c.answered);
    EXPECT_FALSE(c.modem_gone);
    EXPECT_TRUE(contains(c.detail, "busy")) << c.detail;
    EXPECT_LT(seconds_since(start), 5.0) << "BUSY ends the call at once";
    ASSERT_EQ(sim.calls().size(), 1u);
    EXPECT_TRUE(sim.calls()[0].hung_up);
}

TEST(Modem, NoCarrierIsNotAnAlert) {
    ModemSimulator sim;
    sim.set_call_outcome(CallOutcome::no_carrier);
    Modem modem(sim.device_path());
    const CallResult c = modem.call("13800000000", 20);
    EXPECT_FALSE(c.ok);
    expect_staff_reason(c);
    EXPECT_FALSE(c.rang);
    EXPECT_TRUE(contains(c.detail, "no carrier")) << c.detail;
    ASSERT_EQ(sim.calls().size(), 1u);
    EXPECT_EQ(sim.calls()[0].number, "13800000000");
    EXPECT_TRUE(sim.calls()[0].hung_up);
}

TEST(Modem, AnsweredCallIsReportedAndHungUp) {
    ModemSimulator sim;
    sim.set_call_outcome(CallOutcome::answer);
    Modem modem(sim.device_path());
    const auto start = Clock::now();
    const CallResult c = modem.call(kDuty, 20);
    EXPECT_TRUE(c.ok) << c.detail;
    EXPECT_TRUE(c.rang);
    EXPECT_TRUE(c.answered);
    EXPECT_EQ(c.detail, "answered");
    EXPECT_LT(seconds_since(start), 5.0) << "an answered call does not wait out ring_s";
    ASSERT_EQ(sim.calls().size(), 1u);
    EXPECT_TRUE(sim.calls()[0].answered);
    EXPECT_TRUE(sim.calls()[0].hung_up);
}

TEST(Modem, UnpluggedModemIsGoneAndComesBackAfterReplug) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    ASSERT_TRUE(modem.send_sms(kDuty, "before").ok);

    sim.unplug();
    const ModemResult gone = modem.send_sms(kDuty, "while unplugged");
    EXPECT_FALSE(gone.ok);
    expect_staff_reason(gone);
    EXPECT_TRUE(gone.modem_gone);
    EXPECT_TRUE(contains(gone.detail, "modem " + sim.device_path() + " not present")) << gone.detail;
    const CallResult call = modem.call(kDuty, 2);
    EXPECT_FALSE(call.ok);
    expect_staff_reason(call);
    EXPECT_TRUE(call.modem_gone);
    EXPECT_FALSE(modem.signal().has_value());
    EXPECT_TRUE(modem.take_incoming().empty());

    sim.replug();  // a new pty behind the same path, freshly powered on (echo on, text mode)
    const ModemResult back = modem.send_sms(kDuty, "after replug");
    EXPECT_TRUE(back.ok) << back.detail;
    ASSERT_TRUE(sim.wait_for_sms(2, kWait));
    EXPECT_EQ(sim.sms()[1].text, "after replug");
    EXPECT_EQ(count_commands(sim, "AT+CMGF=0"), 2u) << "PDU mode set again on the new tty";
}

TEST(Modem, UnplugInTheMiddleOfAnOpenSessionIsNoticed) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    sim.set_signal(12);
    ASSERT_EQ(modem.signal(), 12);
    sim.unplug();
    sim.replug();  // back before the next request: the old fd hung up, the path names a new tty
    sim.set_signal(13);
    EXPECT_EQ(modem.signal(), 13);
}

TEST(Modem, AbsentDeviceIsReportedWithoutThrowing) {
    Modem modem("/nonexistent/ttyUSB9");
    const ModemResult r = modem.send_sms(kDuty, "x");
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_TRUE(r.modem_gone);
    EXPECT_TRUE(contains(r.detail, "modem /nonexistent/ttyUSB9 not present")) << r.detail;
    EXPECT_TRUE(modem.call(kDuty, 1).modem_gone);
    EXPECT_TRUE(modem.take_incoming().empty());
    EXPECT_FALSE(modem.signal().has_value());
}

TEST(Modem, SilentDeviceTimesOutWithAClearDetail) {
    // A pty nobody answers on: the modem is there but mute (crashed firmware).
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_GE(master, 0);
    ASSERT_EQ(::grantpt(master), 0);
    ASSERT_EQ(::unlockpt(master), 0);
    const std::string slave = ::ptsname(master);
    ModemOptions opts;
    opts.command_timeout = milliseconds(300);
    Modem modem(slave, opts);
    const auto start = Clock::now();
    const ModemResult r = modem.send_sms(kDuty, "x");
    EXPECT_FALSE(r.ok);
    expect_staff_reason(r);
    EXPECT_FALSE(r.modem_gone);
    EXPECT_TRUE(contains(r.detail, "no answer to AT within 300 ms")) << r.detail;
    EXPECT_LT(seconds_since(start), 2.0);
    ::close(master);
}

TEST(Modem, IncomingReplyIsTakenOnceAndDeleted) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    sim.inject_incoming_sms("+8613912345678", "1");
    sim.inject_incoming_sms("13912345678", "收到，马上到");
    sim.inject_incoming_sms("CareGate", "ok");
    ASSERT_EQ(sim.stored_sms(), 3u);
    const auto in = modem.take_incoming();
    ASSERT_EQ(in.size(), 3u);
    EXPECT_EQ(in[0].from, "+8613912345678");
    EXPECT_EQ(in[0].text, "1");
    EXPECT_EQ(in[1].from, "13912345678");
    EXPECT_EQ(in[1].text, "收到，马上到");
    EXPECT_EQ(in[2].from, "CareGate");
    EXPECT_EQ(in[2].text, "ok");
    EXPECT_EQ(sim.stored_sms(), 0u);
    EXPECT_EQ(count_commands(sim, "AT+CMGD=1"), 1u);
    EXPECT_TRUE(modem.take_incoming().empty());
    EXPECT_EQ(modem.malformed(), 0u);
}

TEST(Modem, GarbagePduInTheStoreIsCountedAndDeleted) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    sim.inject_incoming_pdu("0791FFFF");          // truncated
    sim.inject_incoming_pdu("07917283010010F5");  // SMSC only
    sim.inject_incoming_sms("+8613912345678", "1");
    const auto in = modem.take_incoming();
    ASSERT_EQ(in.size(), 1u);
    EXPECT_EQ(in[0].text, "1");
    EXPECT_EQ(modem.malformed(), 2u);
    EXPECT_EQ(sim.stored_sms(), 0u);
}

TEST(Modem, SignalQuality) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    sim.set_signal(99);
    EXPECT_FALSE(modem.signal().has_value());
    sim.set_signal(0);
    EXPECT_EQ(modem.signal(), 0);
    sim.set_signal(31);
    EXPECT_EQ(modem.signal(), 31);
}

TEST(Modem, UnsolicitedLinesEverywhereAreIgnored) {
    ModemSimulator sim;
    sim.set_unsolicited_noise(true);
    sim.set_call_outcome(CallOutcome::answer);
    sim.set_signal(17);
    Modem modem(sim.device_path());
    const ModemResult r = modem.send_sms(kDuty, kAlarm + repeat("。", 60));  // 2 parts
    EXPECT_TRUE(r.ok) << r.detail;
    EXPECT_EQ(modem.signal(), 17);
    sim.inject_incoming_sms("+8613912345678", "1");
    const auto in = modem.take_incoming();
    ASSERT_EQ(in.size(), 1u);
    EXPECT_EQ(in[0].text, "1");
    EXPECT_EQ(modem.malformed(), 0u);
    const CallResult c = modem.call(kDuty, 10);
    EXPECT_TRUE(c.answered) << c.detail;
    ASSERT_TRUE(sim.wait_for_sms(1, kWait));
    EXPECT_EQ(sim.sms()[0].text, kAlarm + repeat("。", 60));
}

TEST(Modem, FloodedResponseIsDroppedAndTheModemRecovers) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    sim.set_signal(21);
    ASSERT_EQ(modem.signal(), 21);
    sim.prefix_next_response(repeat("+CREG: 1\r\n", 10000));  // ~100 KiB before the answer
    EXPECT_FALSE(modem.signal().has_value());
    EXPECT_EQ(modem.signal(), 21) << "reopened and resynchronised";
    EXPECT_TRUE(modem.send_sms(kDuty, "still works").ok);
}

TEST(Modem, OverlongLineIsSkipped) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    sim.set_signal(9);
    ASSERT_EQ(modem.signal(), 9);
    // Read whole, this 10 KB line would pass for the answer "+CSQ: 5"; cut at 4 KiB it is dropped.
    sim.prefix_next_response("+CSQ: 5," + std::string(10000, '9') + "\r\n");
    EXPECT_EQ(modem.signal(), 9);
}

TEST(Modem, LateAnswerAfterATimeoutDoesNotShiftLaterAnswers) {
    ModemSimulator sim;
    ModemOptions opts;
    opts.command_timeout = milliseconds(800);
    Modem modem(sim.device_path(), opts);
    sim.set_signal(21);
    ASSERT_EQ(modem.signal(), 21);
    // "+CSQ: 21 / OK" arrives after the timeout, while the reopened port sends its first AT.
    sim.delay_next_response(milliseconds(1200));
    EXPECT_FALSE(modem.signal().has_value());
    sim.set_signal(22);
    EXPECT_EQ(modem.signal(), 22) << "the late +CSQ: 21 must not be taken for this answer";
    sim.set_signal(23);
    EXPECT_EQ(modem.signal(), 23);
    EXPECT_TRUE(modem.send_sms(kDuty, "in step").ok);
}

TEST(Modem, BadInputIsRefusedWithoutTouchingTheModem) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    const ModemResult a = modem.send_sms("", "x");
    EXPECT_FALSE(a.ok);
    expect_staff_reason(a);
    EXPECT_FALSE(a.modem_gone);
    EXPECT_TRUE(contains(a.detail, "empty")) << a.detail;
    const ModemResult b = modem.send_sms(kDuty, "\xff");
    EXPECT_TRUE(contains(b.detail, "UTF-8")) << b.detail;
    const CallResult c = modem.call("138;ATH", 5);
    EXPECT_FALSE(c.ok);
    expect_staff_reason(c);
    EXPECT_TRUE(contains(c.detail, "invalid phone number")) << c.detail;
    EXPECT_TRUE(sim.commands().empty());
}

TEST(Modem, ConcurrentSendersTakeTurns) {
    ModemSimulator sim;
    Modem modem(sim.device_path());
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int i = 0; i < 4; ++i)
        threads.emplace_back(
            [&, i] { ok[static_cast<size_t>(i)] = modem.send_sms(kDuty, "并发 " + std::to_string(i)).ok; });
    for (auto& t : threads) t.join();
    EXPECT_EQ(std::count(ok.begin(), ok.end(), 1), 4);
    ASSERT_TRUE(sim.wait_for_sms(4, kWait));
    std::vector<std::string> texts;
    for (const auto& s : sim.sms()) texts.push_back(s.text);
    std::sort(texts.begin(), texts.end());
    EXPECT_EQ(texts, (std::vector<std::string>{"并发 0", "并发 1", "并发 2", "并发 3"}));
}

}  // namespace
}  // namespace caregate::notify
