#include "notify/modem.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>
#include <utility>

namespace caregate::notify {
namespace {

constexpr size_t kMaxLine = 4 * 1024;
constexpr size_t kMaxReply = 64 * 1024;

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// TS 27.005 §3.2.5 and the TS 24.011 causes modems pass through; the ones seen in the field.
const char* cms_text(int code) {
    switch (code) {
        case 1:
            return "unassigned number";
        case 8:
            return "operator determined barring";
        case 10:
            return "call barred";
        case 21:
            return "short message transfer rejected";
        case 27:
            return "destination out of service";
        case 28:
            return "unidentified subscriber";
        case 29:
            return "facility rejected";
        case 30:
            return "unknown subscriber";
        case 38:
            return "network out of order";
        case 41:
            return "temporary failure";
        case 42:
            return "congestion";
        case 47:
            return "resources unavailable";
        case 50:
            return "requested facility not subscribed";
        case 69:
            return "requested facility not implemented";
        case 96:
            return "invalid mandatory information";
        case 111:
            return "protocol error";
        case 300:
            return "ME failure";
        case 302:
            return "operation not allowed";
        case 303:
            return "operation not supported";
        case 304:
            return "invalid PDU mode parameter";
        case 310:
            return "SIM not inserted";
        case 311:
            return "SIM PIN required";
        case 313:
            return "SIM failure";
        case 314:
            return "SIM busy";
        case 316:
            return "SIM PUK required";
        case 321:
            return "invalid memory index";
        case 322:
            return "SIM memory full";
        case 330:
            return "SMSC address unknown";
        case 331:
            return "no network service";
        case 332:
            return "network timeout";
        case 500:
            return "unknown error";
        default:
            return nullptr;
    }
}

// TS 27.007 §9.2.
const char* cme_text(int code) {
    switch (code) {
        case 0:
            return "phone failure";
        case 3:
            return "operation not allowed";
        case 4:
            return "operation not supported";
        case 10:
            return "SIM not inserted";
        case 11:
            return "SIM PIN required";
        case 12:
            return "SIM PUK required";
        case 13:
            return "SIM failure";
        case 14:
            return "SIM busy";
        case 15:
            return "SIM wrong";
        case 20:
            return "memory full";
        case 21:
            return "invalid index";
        case 30:
            return "no network service";
        case 31:
            return "network timeout";
        case 32:
            return "network not allowed, emergency calls only";
        case 100:
            return "unknown error";
        default:
            return nullptr;
    }
}

std::optional<int> parse_int(const std::string& s) {
    size_t b = s.find_first_not_of(' ');
    size_t e = s.find_last_not_of(' ');
    if (b == std::string::npos || e - b + 1 > 6) return std::nullopt;
    int v = 0;
    for (size_t i = b; i <= e; ++i) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

// "+CLCC: 1,0,3,0,0,\"+86...\",145" → {"1","0","3","0","0","\"+86...\"","145"}; quoted commas are
// not an issue for the leading numeric fields we read.
std::vector<std::string> fields_after_colon(const std::string& line) {
    std::vector<std::string> out;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) return out;
    size_t start = colon + 1;
    for (;;) {
        const size_t comma = line.find(',', start);
        out.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

std::string describe(const std::string& final_line) {
    auto coded = [&](const char* prefix, const char* (*table)(int)) -> std::optional<std::string> {
        if (!starts_with(final_line, prefix)) return std::nullopt;
        const auto code = parse_int(final_line.substr(std::strlen(prefix)));
        const char* text = code ? table(*code) : nullptr;
        return text ? final_line + " (" + text + ")" : final_line;
    };
    if (auto s = coded("+CMS ERROR:", cms_text)) return *s;
    if (auto s = coded("+CME ERROR:", cme_text)) return *s;
    return final_line.empty() ? "no final result code" : final_line;
}

// The modem's error as staff read it: its number only (the meaning tables are English).
std::string describe_code(const std::string& final_line) {
    for (const char* prefix : {"+CMS ERROR:", "+CME ERROR:"})
        if (starts_with(final_line, prefix))
            if (auto code = parse_int(final_line.substr(std::strlen(prefix))))
                return "错误码 " + std::to_string(*code);
    return "未知错误";
}

bool is_call_end(const std::string& line) {
    return line == "NO CARRIER" || line == "BUSY" || line == "NO ANSWER" || line == "NO DIALTONE";
}

bool is_final(const std::string& line, bool dial) {
    if (line == "OK" || line == "ERROR" || starts_with(line, "+CME ERROR:") ||
        starts_with(line, "+CMS ERROR:"))
        return true;
    // For other commands these are unsolicited (a call ending while we ask something else).
    return dial && (is_call_end(line) || starts_with(line, "CONNECT"));
}

bool is_hex(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
    });
}

bool valid_dial_number(const std::string& n) {
    const size_t start = (!n.empty() && n[0] == '+') ? 1 : 0;
    const size_t digits = n.size() - start;
    if (digits == 0 || digits > 20) return false;
    return std::all_of(n.begin() + static_cast<std::ptrdiff_t>(start), n.end(),
                       [](char c) { return c >= '0' && c <= '9'; });
}

std::string call_end_reason(const std::string& code) {
    if (code == "BUSY") return "对方占线";
    if (code == "NO CARRIER") return "电话未接通";
    if (code == "NO ANSWER") return "无人接听";
    if (code == "NO DIALTONE") return "没有拨号音（手机网络不通？）";
    return "通话已结束";
}

std::string call_end_text(const std::string& code) {
    if (code == "BUSY") return "busy";
    if (code == "NO CARRIER") return "no carrier";
    if (code == "NO ANSWER") return "no answer";
    if (code == "NO DIALTONE") return "no dial tone (no network?)";
    return code;
}

}  // namespace

Modem::Modem(std::string device, ModemOptions opts) : device_(std::move(device)), opts_(opts) {}

Modem::~Modem() {
    std::lock_guard<std::mutex> lock(mu_);
    close_port();
}

void Modem::close_port() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    stale_ = false;
    rbuf_.clear();
    discarding_ = false;
}

bool Modem::ensure_open(ModemResult& r) {
    if (fd_ >= 0 && stale_) close_port();
    if (fd_ >= 0) {
        // A modem unplugged since the last dialogue: its tty hung up, or the path names a new tty.
        pollfd p{fd_, POLLIN, 0};
        struct stat st {};
        if ((::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL))) ||
            ::stat(device_.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_rdev) != rdev_)
            close_port();
    }
    if (fd_ >= 0) {
        // Between dialogues everything pending is unsolicited (+CMTI, a late NO CARRIER after ATH...);
        // dropped so that it cannot pass for the answer to the next command.
        rbuf_.clear();
        discarding_ = false;
        char buf[4096];
        for (size_t total = 0; total < kMaxReply;) {
            const ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) break;
            total += static_cast<size_t>(n);
        }
        return true;
    }
    return open_and_init(r);
}

bool Modem::open_and_init(ModemResult& r) {
    const int fd = ::open(device_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        const int e = errno;
        r.ok = false;
        if (e == ENOENT || e == ENODEV || e == ENXIO) {
            r.modem_gone = true;
            r.detail = "modem " + device_ + " not present";
            r.reason = "短信猫未接上（设备不存在）";
        } else {
            r.modem_gone = e == EIO;
            r.detail = "cannot open modem " + device_ + ": " + std::strerror(e);
            r.reason = "短信猫无法打开";
        }
        return false;
    }
    termios t{};
    struct stat st {};
    if (::tcgetattr(fd, &t) != 0 || ::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        r.detail = "modem " + device_ + " is not a serial port: " + std::strerror(e);
        r.reason = "配置的短信猫不是串口设备，请检查配置";
        return false;
    }
    ::cfmakeraw(&t);
    ::cfsetispeed(&t, B115200);
    ::cfsetospeed(&t, B115200);
    t.c_cflag =
        (t.c_cflag & ~static_cast<tcflag_t>(CSIZE | CSTOPB | PARENB | CRTSCTS)) | CS8 | CLOCAL | CREAD;
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    if (::tcsetattr(fd, TCSANOW, &t) != 0) {
        const int e = errno;
        ::close(fd);
        r.detail = "cannot set up modem " + device_ + ": " + std::strerror(e);
        r.reason = "短信猫无法设置";
        return false;
    }
    ::tcflush(fd, TCIOFLUSH);  // whatever the modem said while nobody listened
    fd_ = fd;
    rdev_ = static_cast<uint64_t>(st.st_rdev);
    stale_ = false;
    rbuf_.clear();
    discarding_ = false;

    // Results of these are not checked one by one: a reply still in flight from before the reopen
    // can pair with the wrong command. The AT+CMGF? at the end resynchronises: its "+CMGF:" line is
    // unambiguous, and it says whether PDU mode really is on.
    for (const char* cmd : {"AT", "ATE0", "AT+CMEE=1", "AT+CMGF=0"}) {
        const Reply rep = command(cmd, opts_.command_timeout);
        if (rep.io != Io::ok) {
            r = failure(rep, cmd, opts_.command_timeout);
            close_port();
            return false;
        }
    }
    Reply mode;
    if (Io io = write_all("AT+CMGF?\r", Clock::now() + opts_.command_timeout); io != Io::ok) {
        mode.io = io;
    } else {
        mode = read_reply("AT+CMGF?", Clock::now() + opts_.command_timeout, false, "+CMGF:");
    }
    if (!mode.ok()) {
        r = failure(mode, "AT+CMGF?", opts_.command_timeout);
        close_port();
        return false;
    }
    const auto fields =
        mode.lines.empty() ? std::vector<std::string>{} : fields_after_colon(mode.lines.front());
    if (fields.empty() || parse_int(fields[0]) != 0) {
        close_port();
        r.ok = false;
        r.detail = "modem " + device_ + " refused PDU mode (AT+CMGF=0)";
        r.reason = "短信猫不支持所需的短信模式";
        return false;
    }
    return true;
}

Modem::Io Modem::write_all(const std::string& data, Clock::time_point deadline) {
    size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN) return Io::gone;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return Io::timeout;
        pollfd p{fd_, POLLOUT, 0};
        const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
        if (rc < 0 && errno != EINTR) return Io::gone;
        if (rc > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL))) return Io::gone;
    }
    return Io::ok;
}

Modem::Io Modem::fill(Clock::time_point deadline) {
    for (;;) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        pollfd p{fd_, POLLIN, 0};
        const int rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
        if (rc < 0) {
            if (errno == EINTR) continue;
            return Io::gone;
        }
        if (rc == 0) return Io::timeout;
        if (p.revents & POLLIN) {
            char buf[4096];
            const ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n > 0) {
                rbuf_.append(buf, static_cast<size_t>(n));
                return Io::ok;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            return Io::gone;  // 0 is a hangup on a tty; EIO an unplugged one
        }
        if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return Io::gone;
    }
}

Modem::Io Modem::next_line(Clock::time_point deadline, std::string& line, bool* prompt) {
    for (;;) {
        const size_t end = rbuf_.find_first_of("\r\n");
        if (end != std::string::npos) {
            const bool dropped = discarding_;
            discarding_ = false;
            line.assign(rbuf_, 0, end);
            rbuf_.erase(0, end + 1);
            if (dropped || line.empty()) continue;
            reply_bytes_ += line.size() + 1;
            if (reply_bytes_ > kMaxReply) return Io::overflow;
            return Io::ok;
        }
        if (prompt && !discarding_ && !rbuf_.empty() && rbuf_[0] == '>') {
            // The SMS input prompt "> " has no line end.
            rbuf_.erase(0, rbuf_.size() > 1 && rbuf_[1] == ' ' ? 2 : 1);
            line.clear();
            *prompt = true;
            return Io::ok;
        }
        if (rbuf_.size() > kMaxLine) {
            reply_bytes_ += rbuf_.size();
            rbuf_.clear();
            discarding_ = true;
            if (reply_bytes_ > kMaxReply) return Io::overflow;
        }
        if (const Io io = fill(deadline); io != Io::ok) return io;
    }
}

Modem::Reply Modem::read_reply(const std::string& echo, Clock::time_point deadline, bool dial,
                               const char* sync_prefix) {
    Reply rep;
    reply_bytes_ = 0;
    bool synced = sync_prefix == nullptr;
    for (;;) {
        std::string line;
        if (const Io io = next_line(deadline, line, nullptr); io != Io::ok) {
            rep.io = io;
            return rep;
        }
        if (line == echo) continue;
        if (!synced) {
            // Until our marker line, everything is a leftover of earlier dialogues.
            if (starts_with(line, sync_prefix)) {
                synced = true;
                rep.lines.push_back(line);
            }
            continue;
        }
        if (is_final(line, dial)) {
            rep.final_line = line;
            return rep;
        }
        rep.lines.push_back(line);
    }
}

Modem::Reply Modem::command(const std::string& cmd, std::chrono::milliseconds timeout, bool dial) {
    const auto deadline = Clock::now() + timeout;
    if (const Io io = write_all(cmd + "\r", deadline); io != Io::ok) {
        Reply rep;
        rep.io = io;
        return rep;
    }
    return read_reply(cmd, deadline, dial, nullptr);
}

Modem::Io Modem::listen(Clock::time_point until, std::vector<std::string>& lines) {
    reply_bytes_ = 0;
    for (;;) {
        std::string line;
        const Io io = next_line(until, line, nullptr);
        if (io == Io::timeout) return Io::ok;
        if (io != Io::ok) return io;
        lines.push_back(line);
    }
}

ModemResult Modem::failure(const Reply& reply, const std::string& what, std::chrono::milliseconds timeout) {
    ModemResult r;
    switch (reply.io) {
        case Io::gone:
            close_port();
            r.modem_gone = true;
            r.detail = "modem " + device_ + " disconnected";
            r.reason = "短信猫已断开";
            break;
        case Io::timeout:
            stale_ = true;
            r.detail = "no answer to " + what + " within " + std::to_string(timeout.count()) + " ms";
            r.reason = "短信猫在 " + std::to_string(timeout.count()) + " 毫秒内没有应答";
            break;
        case Io::overflow:
            stale_ = true;
            r.detail = "answer to " + what + " over " + std::to_string(kMaxReply / 1024) + " KiB, dropped";
            r.reason = "短信猫的应答过长，已丢弃";
            break;
        case Io::ok:
            r.detail = describe(reply.final_line);
            r.reason = "短信猫报错（" + describe_code(reply.final_line) + "）";
            break;
    }
    return r;
}

ModemResult Modem::send_part(const SubmitPdu& part) {
    const std::string cmd = "AT+CMGS=" + std::to_string(part.tpdu_length);
    const auto prompt_deadline = Clock::now() + opts_.prompt_timeout;
    Reply early;
    if (early.io = write_all(cmd + "\r", prompt_deadline); early.io != Io::ok)
        return failure(early, cmd, opts_.prompt_timeout);
    reply_bytes_ = 0;
    for (bool prompt = false; !prompt;) {
        std::string line;
        if (early.io = next_line(prompt_deadline, line, &prompt); early.io != Io::ok) {
            if (early.io == Io::timeout)
                write_all("\x1B", Clock::now() + opts_.command_timeout);  // ESC: leave input mode
            ModemResult r = failure(early, "AT+CMGS (\"> \" prompt)", opts_.prompt_timeout);
            return r;
        }
        if (prompt) break;
        if (line != cmd && is_final(line, false)) {
            early.final_line = line;
            return failure(early, cmd, opts_.prompt_timeout);
        }
    }
    const auto deadline = Clock::now() + opts_.sms_timeout;
    Reply rep;
    if (rep.io = write_all(part.hex + "\x1A", deadline); rep.io == Io::ok)
        rep = read_reply(part.hex, deadline, false, nullptr);
    if (!rep.ok()) return failure(rep, "AT+CMGS", opts_.sms_timeout);
    ModemResult r;
    r.ok = true;
    for (const std::string& line : rep.lines)
        if (starts_with(line, "+CMGS:")) {
            const auto f = fields_after_colon(line);
            if (const auto mr = f.empty() ? std::nullopt : parse_int(f[0]))
                r.detail = "message reference " + std::to_string(*mr);
        }
    return r;
}

ModemResult Modem::send_sms(const std::string& number, const std::string& text) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<SubmitPdu> parts;
    try {
        parts = encode_submit(number, text, concat_ref_);
    } catch (const std::invalid_argument& e) {
        return ModemResult{false, false, std::string("SMS not sent: ") + e.what(),
                           "短信无法编码（号码或内容无效）"};
    }
    ++concat_ref_;  // the next long message must not be joined with this one by the phone
    ModemResult r;
    if (!ensure_open(r)) {
        r.detail = "SMS not sent: " + r.detail;
        return r;
    }
    for (size_t i = 0; i < parts.size(); ++i) {
        ModemResult p = send_part(parts[i]);
        if (!p.ok) {
            const std::string which =
                parts.size() > 1 ? "part " + std::to_string(i + 1) + "/" + std::to_string(parts.size()) + ": "
                                 : "";
            p.detail = "SMS not sent: " + which + p.detail;
            return p;
        }
        r.detail =
            parts.size() == 1 ? "sent, " + p.detail : "sent in " + std::to_string(parts.size()) + " parts";
    }
    r.ok = true;
    return r;
}

CallResult Modem::call(const std::string& number, int ring_s) {
    CallResult res;
    if (!valid_dial_number(number)) {
        res.detail = "call not placed: invalid phone number '" + number + "'";
        res.reason = "电话号码无效";
        return res;
    }
    ring_s = std::clamp(ring_s, 1, 600);
    std::lock_guard<std::mutex> lock(mu_);
    if (!ensure_open(res)) {
        res.detail = "call not placed: " + res.detail;
        return res;
    }

    const auto start = Clock::now();
    const auto deadline = start + std::chrono::seconds(ring_s);
    std::string ended;                 // the final code that ended the call
    std::optional<ModemResult> error;  // a modem-side problem on the way
    auto note_end = [&](const std::vector<std::string>& lines) {
        for (const std::string& l : lines)
            if (ended.empty() && is_call_end(l)) ended = l;
    };

    const Reply dial = command("ATD" + number + ";", opts_.dial_timeout, true);
    if (dial.io != Io::ok || (dial.final_line != "OK" && !is_call_end(dial.final_line))) {
        error = failure(dial, "ATD", opts_.dial_timeout);
        error->detail = "dialling failed: " + error->detail;
    } else if (dial.final_line != "OK") {
        ended = dial.final_line;
    }
    note_end(dial.lines);

    auto next_poll = Clock::now();
    bool seen = false;
    while (!error && ended.empty() && !res.answered) {
        std::vector<std::string> urc;
        const Io io = listen(std::min(next_poll, deadline), urc);  // a BUSY may come any moment
        note_end(urc);
        if (io != Io::ok) {
            Reply rep;
            rep.io = io;
            error = failure(rep, "the call", opts_.command_timeout);
            break;
        }
        if (!ended.empty() || Clock::now() >= deadline) break;
        const Reply clcc = command("AT+CLCC", opts_.command_timeout);
        note_end(clcc.lines);
        if (!clcc.ok()) {
            error = failure(clcc, "AT+CLCC", opts_.command_timeout);
            break;
        }
        bool present = false;
        for (const std::string& line : clcc.lines) {
            if (!starts_with(line, "+CLCC:")) continue;
            const auto f = fields_after_colon(line);
            if (f.size() < 5 || parse_int(f[1]) != 0 || parse_int(f[3]) != 0)
                continue;  // ours: outgoing voice
            present = true;
            const auto stat = parse_int(f[2]);
            if (stat == 3) res.rang = true;
            if (stat == 0) res.answered = true;
        }
        if (present) {
            seen = true;
        } else if (seen && ended.empty()) {
            ended = "call ended";  // released without a result code (some firmwares)
        }
        next_poll = std::max(next_poll + opts_.clcc_interval, Clock::now());
    }

    // Always hang up: a call left up would block the next alarm's call and cost money.
    if (fd_ >= 0) {
        const Reply hang = command("ATH", opts_.command_timeout);
        if (hang.io != Io::ok && !error) error = failure(hang, "ATH", opts_.command_timeout);
    }

    res.ok = res.rang || res.answered;
    if (error) {
        res.modem_gone = error->modem_gone;
        res.detail = (res.rang ? "rang, then " : "") + error->detail;
        res.reason = (res.rang ? "已振铃，随后" : "") + error->reason;
    } else if (res.answered) {
        res.detail = "answered";
    } else if (!ended.empty()) {
        res.detail = (res.rang ? "rang, then " : "") + call_end_text(ended);
        res.reason = (res.rang ? "已振铃，随后" : "") + call_end_reason(ended);
    } else if (res.rang) {
        res.detail = "rang " + std::to_string(ring_s) + " s, not answered";
        res.reason = "已振铃 " + std::to_string(ring_s) + " 秒，无人接听";
    } else {
        res.detail = "did not ring within " + std::to_string(ring_s) + " s";
        res.reason = std::to_string(ring_s) + " 秒内没有振铃";
    }
    return res;
}

std::vector<IncomingSms> Modem::take_incoming() {
    std::lock_guard<std::mutex> lock(mu_);
    ModemResult r;
    if (!ensure_open(r)) return {};
    const Reply list = command("AT+CMGL=4", opts_.list_timeout);
    if (!list.ok()) {
        failure(list, "AT+CMGL=4", opts_.list_timeout);
        return {};
    }

    struct Entry {
        int index = 0;
        int stat = 0;
        std::string pdu;
    };
    std::vector<Entry> entries;
    std::optional<Entry> pending;  // a "+CMGL:" header waiting for its PDU line
    for (const std::string& line : list.lines) {
        if (starts_with(line, "+CMGL:")) {
            if (pending) entries.push_back(*pending);
            pending.reset();
            const auto f = fields_after_colon(line);
            const auto index = f.size() >= 2 ? parse_int(f[0]) : std::nullopt;
            const auto stat = f.size() >= 2 ? parse_int(f[1]) : std::nullopt;
            if (index && stat) {
                pending = Entry{*index, *stat, {}};
            } else {
                ++malformed_;  // without an index it cannot even be deleted
            }
        } else if (pending && is_hex(line)) {
            pending->pdu = line;
            entries.push_back(*pending);
            pending.reset();
        }  // anything else is an unsolicited line
    }
    if (pending) entries.push_back(*pending);

    std::vector<IncomingSms> out;
    std::set<int> to_delete;
    for (const Entry& e : entries) {
        if (!to_delete.insert(e.index).second) continue;  // listed twice: a confused modem
        // stat 2/3 are stored outgoing messages: nothing to read, deleted so the SIM does not fill up.
        if (e.stat != 0 && e.stat != 1) continue;
        if (auto sms = decode_deliver(e.pdu)) {
            out.push_back(std::move(*sms));
        } else {
            ++malformed_;
        }
    }
    for (int index : to_delete) {
        const Reply del = command("AT+CMGD=" + std::to_string(index), opts_.command_timeout);
        if (del.io != Io::ok) {
            failure(del, "AT+CMGD", opts_.command_timeout);
            break;  // the rest stay on the SIM and come again next time
        }
    }
    return out;
}

std::optional<int> Modem::signal() {
    std::lock_guard<std::mutex> lock(mu_);
    ModemResult r;
    if (!ensure_open(r)) return std::nullopt;
    const Reply rep = command("AT+CSQ", opts_.command_timeout);
    if (!rep.ok()) {
        failure(rep, "AT+CSQ", opts_.command_timeout);
        return std::nullopt;
    }
    for (const std::string& line : rep.lines) {
        if (!starts_with(line, "+CSQ:")) continue;
        const auto f = fields_after_colon(line);
        const auto rssi = f.empty() ? std::nullopt : parse_int(f[0]);
        if (rssi && *rssi >= 0 && *rssi <= 31) return rssi;
        return std::nullopt;  // 99: not known or not detectable
    }
    return std::nullopt;
}

}  // namespace caregate::notify
