// SMS and voice calls to the duty phone through a USB 4G modem's AT port (3GPP TS 27.007 / 27.005,
// SMS in PDU mode): the path that still works when the site's internet is down.
//
// Why our own AT handling rather than a library or a system service:
// - libgammu is GPL-2, which would bind the daemon's licence; its AT driver also runs a long
//   identification dialogue on connect and wants its own config and lock files;
// - ModemManager is a D-Bus/udev system daemon that claims every modem on the machine and cannot be
//   pointed at a pty, so it could not be tested without hardware.
// What we need is a handful of commands (AT+CMGS, ATD/AT+CLCC/ATH, AT+CMGL/AT+CMGD, AT+CSQ), done
// here and tested against a simulated modem on a pty (tests/support/modem_simulator.hpp).
//
// Everything the modem sends is treated as hostile: lines are capped at 4 KiB, a response at 64 KiB,
// unsolicited lines (RING, +CMTI, +CLIP, ^BOOT, ...) are skipped wherever they turn up.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "notify/sms_pdu.hpp"

namespace caregate::notify {

struct ModemOptions {
    std::chrono::milliseconds command_timeout{2000};  // AT, AT+CSQ, AT+CLCC, ATH, AT+CMGD ...
    std::chrono::milliseconds prompt_timeout{5000};   // the "> " after AT+CMGS=<n>
    std::chrono::milliseconds sms_timeout{60000};     // +CMGS: <mr> after the PDU: a network round trip
    std::chrono::milliseconds dial_timeout{10000};    // the OK after ATD<number>;
    std::chrono::milliseconds list_timeout{10000};    // AT+CMGL=4 on a full SIM
    std::chrono::milliseconds clcc_interval{500};     // call state polling while it rings
};

struct ModemResult {
    bool ok = false;
    bool modem_gone = false;  // device absent or disconnected; the next call tries to open it again
    std::string detail;       // short and readable: "+CMS ERROR: 38 (network out of order)"
    // The same for staff (rescue record, kiosk): Chinese, no device path or AT command.
    std::string reason;
};

struct CallResult : ModemResult {
    bool rang = false;      // the duty phone was alerting: an alert even when nobody answered
    bool answered = false;  // picked up (the call is then hung up: there is no audio to play)
};

class Modem {
public:
    // Nothing is opened here: the first request opens the device, and any request after an error
    // opens it again (an unplugged modem comes back as a new tty behind the same udev path).
    explicit Modem(std::string device, ModemOptions opts = {});
    ~Modem();
    Modem(const Modem&) = delete;
    Modem& operator=(const Modem&) = delete;

    // All parts of a long text must be accepted by the network for ok.
    ModemResult send_sms(const std::string& number, const std::string& text);
    // Rings for up to ring_s seconds (or until a final code: BUSY, NO CARRIER, ...), always ends with
    // ATH. ok = rang || answered. ring_s is clamped to 1..600. Expects the TS 27.007 default of ATD answering
    // OK as soon as the call is set up (+COLP off); the call's progress is then read from AT+CLCC.
    CallResult call(const std::string& number, int ring_s);
    // Every stored received SMS (AT+CMGL=4), each deleted from the SIM after reading; malformed ones
    // are deleted too and counted. Nothing on error (they stay on the SIM for the next try).
    std::vector<IncomingSms> take_incoming();
    // AT+CSQ rssi 0..31; nullopt for 99 (unknown) or on error.
    std::optional<int> signal();
    uint64_t malformed() const { return malformed_.load(); }
    const std::string& device() const { return device_; }

private:
    using Clock = std::chrono::steady_clock;
    enum class Io { ok, timeout, gone, overflow };
    struct Reply {
        Io io = Io::ok;
        std::vector<std::string> lines;  // information and unsolicited lines, in arrival order
        std::string final_line;          // "OK", "ERROR", "+CMS ERROR: 38", "BUSY" ...
        bool ok() const { return io == Io::ok && final_line == "OK"; }
    };

    bool ensure_open(ModemResult& r);
    bool open_and_init(ModemResult& r);
    void close_port();
    Io write_all(const std::string& data, Clock::time_point deadline);
    Io fill(Clock::time_point deadline);
    // prompt: also stop at an unterminated "> " (the SMS input prompt), setting *prompt.
    Io next_line(Clock::time_point deadline, std::string& line, bool* prompt);
    Reply command(const std::string& cmd, std::chrono::milliseconds timeout, bool dial = false);
    // sync_prefix: skip everything (final codes too) until a line with this prefix.
    Reply read_reply(const std::string& echo, Clock::time_point deadline, bool dial, const char* sync_prefix);
    Io listen(Clock::time_point until, std::vector<std::string>& lines);
    // The result for a failed dialogue; closes the port or marks it stale as the failure asks.
    ModemResult failure(const Reply& reply, const std::string& what, std::chrono::milliseconds timeout);
    ModemResult send_part(const SubmitPdu& part);

    const std::string device_;
    const ModemOptions opts_;
    std::mutex mu_;  // one AT dialogue at a time; guards everything below
    int fd_ = -1;
    uint64_t rdev_ = 0;   // the tty we opened, to notice the path now naming another one
    bool stale_ = false;  // a reply may still be in flight: reopen (and resync) before the next dialogue
    std::string rbuf_;
    bool discarding_ = false;  // inside an over-long line, dropped up to its end
    size_t reply_bytes_ = 0;
    uint8_t concat_ref_ = 0;
    std::atomic<uint64_t> malformed_{0};
};

}  // namespace caregate::notify
