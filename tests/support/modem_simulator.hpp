// A USB 4G modem for the tests, on a pty pair: socat joins <dir>/modem (the device the code under test
// opens) and <dir>/sim, where a thread here answers like a modem's AT interpreter (echo until ATE0,
// +CMEE, PDU-mode SMS with the "> " prompt, calls seen through AT+CLCC, a SIM message store).
//
// SMS PDUs are read and written by a small codec of its own, written apart from notify/sms_pdu.cpp:
// a bug in the encoder must show up as a wrong text here, not be undone by its own inverse.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace caregate::testing {

struct ReceivedSms {
    std::string to;
    std::string text;  // concatenated parts joined in order
    int parts = 1;
};

struct PlacedCall {
    std::string number;
    bool answered = false;
    bool hung_up = false;  // ATH / AT+CHUP came after the ATD
};

enum class CallOutcome { answer, ring_no_answer, busy, no_carrier };

class ModemSimulator {
public:
    // Starts socat and the AT thread; throws std::runtime_error (with socat's log) if that fails.
    ModemSimulator();
    ~ModemSimulator();
    ModemSimulator(const ModemSimulator&) = delete;
    ModemSimulator& operator=(const ModemSimulator&) = delete;

    std::string device_path() const;  // <dir>/modem

    std::vector<ReceivedSms> sms() const;  // complete messages only
    std::vector<PlacedCall> calls() const;
    std::vector<std::string> commands() const;  // every command line received, in order
    size_t stored_sms() const;                  // messages in the simulated SIM store

    void fail_next_sms(int cms_error);  // the next PDU gets "+CMS ERROR: <cms_error>"
    // Dialling → (1st AT+CLCC) dialing → (2nd) alerting → (3rd, answer only) active; busy and
    // no_carrier end the call with that result code right after the first AT+CLCC.
    void set_call_outcome(CallOutcome outcome);
    void set_signal(int rssi);  // AT+CSQ; 99 = unknown
    // Stores an SMS-DELIVER (7-bit for plain ASCII, else UCS-2; at most one part) and emits
    // +CMTI: "SM",<index>. from: "+86...", digits, or an alphanumeric sender.
    void inject_incoming_sms(const std::string& from, const std::string& text);
    void inject_incoming_pdu(const std::string& hex);  // stored as it is, for malformed ones
    // Hostile modem: unsolicited lines (RING, +CLIP, ^BOOT, +CMTI, ^RSSI) before every result code,
    // the "> " prompt and each listed PDU.
    void set_unsolicited_noise(bool on);
    // Raw bytes sent just before the response to the next command (floods, over-long lines).
    void prefix_next_response(const std::string& bytes);
    // A slow modem: the response to the next command comes after this delay, and (like a real one)
    // nothing sent meanwhile is looked at before that.
    void delay_next_response(std::chrono::milliseconds delay);

    // Pulls the modem: kills socat (the other end sees a hangup) and its links disappear. replug()
    // brings it back under the same link names (new ptys), freshly powered on (echo on, text mode).
    void unplug();
    void replug();

    bool wait_for_sms(size_t n, std::chrono::milliseconds timeout) const;
    bool wait_for_calls(size_t n, std::chrono::milliseconds timeout) const;

private:
    struct ActiveCall {
        size_t index = 0;  // into calls_
        int polls = 0;
        CallOutcome outcome = CallOutcome::ring_no_answer;
    };
    struct Pending {
        int total = 0;
        std::map<int, std::string> parts;
    };

    void start_socat();
    void stop_socat();
    void start_thread();
    void stop_thread();
    void run();
    void wake();
    // The AT interpreter; called on the thread with mu_ held.
    void on_bytes(const char* data, size_t n);
    void on_command(const std::string& line);
    void respond(const std::string& line);
    void on_pdu(const std::string& hex);
    void on_clcc();
    void on_cmgl(const std::string& arg);
    void info(const std::string& line);
    void result(const std::string& code);
    void noise();
    void store(const std::string& pdu);

    std::string dir_;
    int wake_[2] = {-1, -1};
    std::mutex life_mu_;  // unplug/replug/destruction, one at a time
    bool plugged_ = false;
    pid_t socat_ = -1;
    int socat_pidfd_ = -1;
    int sim_fd_ = -1;
    std::thread thread_;

    mutable std::mutex mu_;  // everything below
    mutable std::condition_variable cv_;
    bool stop_ = false;
    std::string async_out_;  // emitted by the thread on its next wake
    // Modem state (reset on replug except the SIM store).
    bool echo_ = true;
    int cmgf_ = 1;
    int cmee_ = 0;
    std::string line_;
    bool pdu_input_ = false;
    int pdu_length_ = 0;
    std::string out_;
    std::optional<ActiveCall> call_;
    // Configuration and records.
    std::optional<int> fail_next_;
    CallOutcome outcome_ = CallOutcome::ring_no_answer;
    int rssi_ = 20;
    bool noise_ = false;
    std::string prefix_;
    std::chrono::milliseconds delay_next_{0};
    std::optional<std::chrono::steady_clock::time_point> hold_until_;
    std::string held_out_;     // the delayed response
    std::string deferred_in_;  // input that arrived while holding
    int next_mr_ = 1;
    std::vector<ReceivedSms> sms_;
    std::map<std::pair<std::string, int>, Pending> pending_;
    std::vector<PlacedCall> calls_;
    std::vector<std::string> commands_;
    struct Stored {
        std::string pdu;
        int stat = 0;  // 0 received unread, 1 received read
    };
    std::map<int, Stored> store_;
};

}  // namespace caregate::testing
