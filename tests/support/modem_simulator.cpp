#include "tests/support/modem_simulator.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace caregate::testing {
namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// The simulator's own PDU codec. Deliberately shaped differently from notify/sms_pdu.cpp (UTF-8
// string table, bit accumulator) so the two do not share mistakes.

// TS 23.038 default alphabet, basic table, as UTF-8; "" at the escape.
const char* const kGsm[128] = {
    "@", "£", "$",  "¥", "è", "é", "ù", "ì", "ò", "Ç", "\n", "Ø", "ø", "\r", "Å", "å",  //
    "Δ", "_", "Φ",  "Γ", "Λ", "Ω", "Π", "Ψ", "Σ", "Θ", "Ξ",  "",  "Æ", "æ",  "ß", "É",  //
    " ", "!", "\"", "#", "¤", "%", "&", "'", "(", ")", "*",  "+", ",", "-",  ".", "/",  //
    "0", "1", "2",  "3", "4", "5", "6", "7", "8", "9", ":",  ";", "<", "=",  ">", "?",  //
    "¡", "A", "B",  "C", "D", "E", "F", "G", "H", "I", "J",  "K", "L", "M",  "N", "O",  //
    "P", "Q", "R",  "S", "T", "U", "V", "W", "X", "Y", "Z",  "Ä", "Ö", "Ñ",  "Ü", "§",  //
    "¿", "a", "b",  "c", "d", "e", "f", "g", "h", "i", "j",  "k", "l", "m",  "n", "o",  //
    "p", "q", "r",  "s", "t", "u", "v", "w", "x", "y", "z",  "ä", "ö", "ñ",  "ü", "à",  //
};

std::optional<std::vector<uint8_t>> unhex(const std::string& s) {
    if (s.size() % 2) return std::nullopt;
    std::vector<uint8_t> out;
    for (size_t i = 0; i < s.size(); i += 2) {
        char* end = nullptr;
        const std::string two = s.substr(i, 2);
        const long v = std::strtol(two.c_str(), &end, 16);
        if (!std::isxdigit(static_cast<unsigned char>(two[0])) ||
            !std::isxdigit(static_cast<unsigned char>(two[1])) || end != two.c_str() + 2)
            return std::nullopt;
        out.push_back(static_cast<uint8_t>(v));
    }
    return out;
}

std::string hex(const std::vector<uint8_t>& b) {
    std::ostringstream o;
    static const char* d = "0123456789ABCDEF";
    for (uint8_t x : b) o << d[x >> 4] << d[x & 15];
    return o.str();
}

// All septets of a packed stream, low bits first.
std::vector<uint8_t> unpack7(const uint8_t* p, size_t octets, size_t septets) {
    std::vector<uint8_t> out;
    uint32_t acc = 0;
    int bits = 0;
    size_t i = 0;
    while (out.size() < septets) {
        if (bits < 7) {
            if (i >= octets) break;
            acc |= static_cast<uint32_t>(p[i++]) << bits;
            bits += 8;
        }
        out.push_back(acc & 0x7F);
        acc >>= 7;
        bits -= 7;
    }
    return out;
}

std::vector<uint8_t> pack7(const std::vector<uint8_t>& septets) {
    std::vector<uint8_t> out;
    uint32_t acc = 0;
    int bits = 0;
    for (uint8_t s : septets) {
        acc |= static_cast<uint32_t>(s & 0x7F) << bits;
        bits += 7;
        while (bits >= 8) {
            out.push_back(acc & 0xFF);
            acc >>= 8;
            bits -= 8;
        }
    }
    if (bits > 0) out.push_back(acc & 0xFF);
    return out;
}

void utf8_append(std::string& s, uint32_t cp) {
    if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        s.push_back(static_cast<char>(0xC0 | cp >> 6));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        s.push_back(static_cast<char>(0xE0 | cp >> 12));
        s.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        s.push_back(static_cast<char>(0xF0 | cp >> 18));
        s.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::vector<uint32_t> code_points(const std::string& s) {
    std::vector<uint32_t> out;
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<uint8_t>(s[i]);
        const int n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        uint32_t cp = n == 1 ? c : c & (0xFF >> (n + 1));
        for (int k = 1; k < n && i + static_cast<size_t>(k) < s.size(); ++k)
            cp = cp << 6 | (static_cast<uint8_t>(s[i + static_cast<size_t>(k)]) & 0x3F);
        out.push_back(cp);
        i += static_cast<size_t>(n);
    }
    return out;
}

struct Submit {
    std::string to;
    std::string text;
    bool concat = false;
    int ref = 0;
    int total = 1;
    int seq = 1;
};

// An SMS-SUBMIT as a network would check it; nullopt is answered with +CMS ERROR: 304.
std::optional<Submit> read_submit(const std::vector<uint8_t>& b, std::string& why) {
    size_t at = 0;
    auto need = [&](size_t n) { return at + n <= b.size(); };
    if (!need(1) || !need(1 + b[0])) return why = "SMSC", std::nullopt;
    at += 1 + b[0];
    if (!need(4)) return why = "header", std::nullopt;
    const uint8_t fo = b[at++];
    if ((fo & 3) != 1) return why = "not SMS-SUBMIT", std::nullopt;
    at++;  // MR
    const size_t digits = b[at++];
    const uint8_t toa = b[at++];
    if (digits == 0 || digits > 20 || !need((digits + 1) / 2)) return why = "destination", std::nullopt;
    Submit s;
    if (toa == 0x91)
        s.to = "+";
    else if (toa != 0x81)
        return why = "type of address", std::nullopt;
    for (size_t k = 0; k < digits; ++k) {
        const int d = (k & 1) ? b[at + k / 2] >> 4 : b[at + k / 2] & 15;
        if (d > 9) return why = "destination digit", std::nullopt;
        s.to += static_cast<char>('0' + d);
    }
    if ((digits & 1) && (b[at + digits / 2] >> 4) != 15) return why = "destination filler", std::nullopt;
    at += (digits + 1) / 2;
    if (!need(2)) return why = "PID/DCS", std::nullopt;
    at++;  // PID
    const uint8_t dcs = b[at++];
    const int vpf = fo >> 3 & 3;
    at += vpf == 2 ? 1 : vpf == 0 ? 0 : 7;
    if (!need(1)) return why = "UDL", std::nullopt;
    const size_t udl = b[at++];
    const bool seven = dcs == 0x00;
    if (!seven && dcs != 0x08) return why = "DCS", std::nullopt;
    const size_t octets = seven ? (udl * 7 + 7) / 8 : udl;
    if (octets > 140 || at + octets != b.size()) return why = "user data length", std::nullopt;
    const uint8_t* ud = b.data() + at;
    size_t header = 0;
    if (fo & 0x40) {
        header = ud[0] + 1u;
        if (octets == 0 || header > octets) return why = "UDH length", std::nullopt;
        for (size_t i = 1; i < header;) {
            if (i + 2 > header || i + 2 + ud[i + 1] > header) return why = "UDH element", std::nullopt;
            if (ud[i] == 0x00 && ud[i + 1] == 3) {
                s.concat = true;
                s.ref = ud[i + 2];
                s.total = ud[i + 3];
                s.seq = ud[i + 4];
            }
            i += 2 + ud[i + 1];
        }
    }
    if (seven) {
        const std::vector<uint8_t> all = unpack7(ud, octets, udl);
        const size_t skip = (header * 8 + 6) / 7;
        for (size_t i = skip; i < all.size(); ++i) {
            if (all[i] == 0x1B)
                return why = "escape (the encoder sends extension characters as UCS-2)", std::nullopt;
            s.text += kGsm[all[i]];
        }
    } else {
        if ((octets - header) % 2) return why = "odd UCS-2 length", std::nullopt;
        for (size_t i = header; i < octets; i += 2) {
            uint32_t u = static_cast<uint32_t>(ud[i]) << 8 | ud[i + 1];
            if (u >= 0xDC00 && u <= 0xDFFF) return why = "lone low surrogate", std::nullopt;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (i + 3 >= octets) return why = "surrogate pair split across parts", std::nullopt;
                const uint32_t lo = static_cast<uint32_t>(ud[i + 2]) << 8 | ud[i + 3];
                if (lo < 0xDC00 || lo > 0xDFFF) return why = "bad surrogate pair", std::nullopt;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                i += 2;
            }
            utf8_append(s.text, u);
        }
    }
    return s;
}

// ASCII characters whose default-alphabet code is the same byte.
bool plain_gsm(uint32_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '%' && c <= '?') ||
           (c >= ' ' && c <= '#');
}

std::string deliver_pdu(const std::string& from, const std::string& text) {
    std::vector<uint8_t> b = {0x08, 0x91, 0x68, 0x31, 0x08, 0x20, 0x05, 0x05, 0xF0};  // SMSC +8613800250500
    b.push_back(0x04);  // SMS-DELIVER, no more messages waiting
    const bool intl = !from.empty() && from[0] == '+';
    const std::string digits = intl ? from.substr(1) : from;
    const bool numeric = !digits.empty() && std::all_of(digits.begin(), digits.end(), ::isdigit);
    if (numeric) {
        b.push_back(static_cast<uint8_t>(digits.size()));
        b.push_back(intl ? 0x91 : 0x81);
        for (size_t i = 0; i < digits.size(); i += 2) {
            const int lo = digits[i] - '0';
            const int hi = i + 1 < digits.size() ? digits[i + 1] - '0' : 15;
            b.push_back(static_cast<uint8_t>(hi << 4 | lo));
        }
    } else {
        std::vector<uint8_t> septets;
        for (uint32_t c : code_points(from)) {
            if (!plain_gsm(c))
                throw std::invalid_argument("simulator: alphanumeric sender must be plain ASCII");
            septets.push_back(static_cast<uint8_t>(c));
        }
        const std::vector<uint8_t> packed = pack7(septets);
        b.push_back(static_cast<uint8_t>((septets.size() * 7 + 3) / 4));
        b.push_back(0xD0);
        b.insert(b.end(), packed.begin(), packed.end());
    }
    b.push_back(0x00);  // PID
    const std::vector<uint32_t> cps = code_points(text);
    const bool seven = std::all_of(cps.begin(), cps.end(), plain_gsm);
    b.push_back(seven ? 0x00 : 0x08);
    for (uint8_t t : {0x52, 0x30, 0x11, 0x21, 0x00, 0x00, 0x23}) b.push_back(t);  // 2025-03-11 12:00 +08
    if (seven) {
        if (cps.size() > 160) throw std::invalid_argument("simulator: one part only");
        const std::vector<uint8_t> packed = pack7(std::vector<uint8_t>(cps.begin(), cps.end()));
        b.push_back(static_cast<uint8_t>(cps.size()));
        b.insert(b.end(), packed.begin(), packed.end());
    } else {
        std::vector<uint8_t> ud;
        for (uint32_t c : cps) {
            if (c >= 0x10000) {
                const uint32_t v = c - 0x10000;
                for (uint32_t u : {0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)}) {
                    ud.push_back(static_cast<uint8_t>(u >> 8));
                    ud.push_back(static_cast<uint8_t>(u));
                }
            } else {
                ud.push_back(static_cast<uint8_t>(c >> 8));
                ud.push_back(static_cast<uint8_t>(c));
            }
        }
        if (ud.size() > 140) throw std::invalid_argument("simulator: one part only");
        b.push_back(static_cast<uint8_t>(ud.size()));
        b.insert(b.end(), ud.begin(), ud.end());
    }
    return hex(b);
}

std::string read_whole(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

std::optional<int> number_after(const std::string& s, size_t pos) {
    if (pos >= s.size() || !std::isdigit(static_cast<unsigned char>(s[pos]))) return std::nullopt;
    int v = 0;
    for (size_t i = pos; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && v < 100000; ++i)
        v = v * 10 + (s[i] - '0');
    return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

ModemSimulator::ModemSimulator() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/caregate-modem-XXXXXX";
    if (!::mkdtemp(templ.data()))
        throw std::runtime_error("modem simulator: mkdtemp: " + std::string(std::strerror(errno)));
    dir_ = templ;
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0)
        throw std::runtime_error("modem simulator: pipe2 failed");
    try {
        replug();
    } catch (...) {
        ::close(wake_[0]);
        ::close(wake_[1]);
        ::unlink((dir_ + "/socat.log").c_str());
        ::rmdir(dir_.c_str());
        throw;
    }
}

ModemSimulator::~ModemSimulator() {
    unplug();
    ::close(wake_[0]);
    ::close(wake_[1]);
    ::unlink((dir_ + "/socat.log").c_str());
    ::rmdir(dir_.c_str());
}

std::string ModemSimulator::device_path() const { return dir_ + "/modem"; }

void ModemSimulator::start_socat() {
    const std::string modem = dir_ + "/modem";
    const std::string sim = dir_ + "/sim";
    const std::string log = dir_ + "/socat.log";
    ::unlink(modem.c_str());
    ::unlink(sim.c_str());

    // Watch before spawning so that no link creation can be missed.
    const int in = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in < 0 || ::inotify_add_watch(in, dir_.c_str(), IN_CREATE | IN_MOVED_TO) < 0)
        throw std::runtime_error("modem simulator: inotify: " + std::string(std::strerror(errno)));

    posix_spawn_file_actions_t fa;
    ::posix_spawn_file_actions_init(&fa);
    ::posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const std::string a1 = "pty,raw,echo=0,link=" + modem;
    const std::string a2 = "pty,raw,echo=0,link=" + sim;
    const char* argv[] = {"socat", "-d", "-d", a1.c_str(), a2.c_str(), nullptr};
    const int rc = ::posix_spawnp(&socat_, "socat", &fa, nullptr, const_cast<char* const*>(argv), environ);
    ::posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        ::close(in);
        socat_ = -1;
        throw std::runtime_error("modem simulator: cannot start socat: " + std::string(std::strerror(rc)));
    }
    socat_pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, socat_, 0));

    const auto deadline = Clock::now() + std::chrono::seconds(5);
    std::string problem;
    while (::access(modem.c_str(), F_OK) != 0 || ::access(sim.c_str(), F_OK) != 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            problem = "socat made no pty links within 5 s";
            break;
        }
        pollfd fds[2] = {{in, POLLIN, 0}, {socat_pidfd_, POLLIN, 0}};
        if (::poll(fds, socat_pidfd_ >= 0 ? 2 : 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
            problem = "poll failed";
            break;
        }
        if (fds[1].revents & POLLIN) {
            problem = "socat exited";
            break;
        }
        char buf[4096];
        while (::read(in, buf, sizeof buf) > 0) {
        }
    }
    ::close(in);
    if (problem.empty()) {
        sim_fd_ = ::open(sim.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
        termios t{};
        if (sim_fd_ < 0 || ::tcgetattr(sim_fd_, &t) != 0) {
            problem = "cannot open " + sim + ": " + std::strerror(errno);
        } else {
            ::cfmakeraw(&t);
            ::tcsetattr(sim_fd_, TCSANOW, &t);
        }
    }
    if (!problem.empty()) {
        stop_socat();
        throw std::runtime_error("modem simulator: " + problem + "; socat log:\n" + read_whole(log));
    }
}

void ModemSimulator::stop_socat() {
    if (sim_fd_ >= 0) ::close(sim_fd_);
    sim_fd_ = -1;
    if (socat_ > 0) {
        ::kill(socat_, SIGTERM);
        // socat removes its links on SIGTERM; a socat that hangs gets SIGKILL after 5 s.
        pollfd p{socat_pidfd_, POLLIN, 0};
        if (socat_pidfd_ < 0 || ::poll(&p, 1, 5000) <= 0) ::kill(socat_, SIGKILL);
        int status = 0;
        while (::waitpid(socat_, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (socat_pidfd_ >= 0) ::close(socat_pidfd_);
    socat_pidfd_ = -1;
    socat_ = -1;
    ::unlink((dir_ + "/modem").c_str());
    ::unlink((dir_ + "/sim").c_str());
}

void ModemSimulator::start_thread() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = false;
    }
    thread_ = std::thread([this] { run(); });
}

void ModemSimulator::stop_thread() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    wake();
    if (thread_.joinable()) thread_.join();
}

void ModemSimulator::wake() {
    const char b = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_[1], &b, 1);  // a full pipe is already a wake-up
}

void ModemSimulator::unplug() {
    std::lock_guard<std::mutex> life(life_mu_);
    if (!plugged_) return;
    stop_thread();
    stop_socat();
    plugged_ = false;
}

void ModemSimulator::replug() {
    std::lock_guard<std::mutex> life(life_mu_);
    if (plugged_) return;
    {
        std::lock_guard<std::mutex> lock(mu_);
        // A modem powers on with echo on and (on many firmwares) text mode: the client must set
        // them again after a reopen.
        echo_ = true;
        cmgf_ = 1;
        cmee_ = 0;
        line_.clear();
        pdu_input_ = false;
        out_.clear();
        async_out_.clear();
        call_.reset();
        hold_until_.reset();
        held_out_.clear();
        deferred_in_.clear();
    }
    start_socat();
    start_thread();
    plugged_ = true;
}

void ModemSimulator::run() {
    bool broken = false;  // the pty pair hung up: nothing more to read until unplug()
    for (;;) {
        bool want_out = false;
        int timeout_ms = -1;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (stop_) return;
            out_ += async_out_;
            async_out_.clear();
            if (hold_until_ && Clock::now() >= *hold_until_) {
                hold_until_.reset();
                out_ += held_out_;
                held_out_.clear();
                const std::string in = std::move(deferred_in_);
                deferred_in_.clear();
                on_bytes(in.data(), in.size());
            }
            if (hold_until_)
                timeout_ms = static_cast<int>(
                    std::chrono::ceil<std::chrono::milliseconds>(*hold_until_ - Clock::now()).count());
            want_out = !out_.empty();
        }
        pollfd fds[2] = {{broken ? -1 : sim_fd_, static_cast<short>(POLLIN | (want_out ? POLLOUT : 0)), 0},
                         {wake_[0], POLLIN, 0}};
        if (::poll(fds, 2, timeout_ms) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents & POLLIN) {
            char b[64];
            while (::read(wake_[0], b, sizeof b) > 0) {
            }
        }
        if (fds[0].revents & POLLIN) {
            char buf[4096];
            const ssize_t n = ::read(sim_fd_, buf, sizeof buf);
            if (n > 0) {
                std::lock_guard<std::mutex> lock(mu_);
                on_bytes(buf, static_cast<size_t>(n));
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                broken = true;
            }
        } else if (fds[0].revents & (POLLHUP | POLLERR)) {
            broken = true;
        }
        std::lock_guard<std::mutex> lock(mu_);
        if (!out_.empty() && !broken) {
            const ssize_t n = ::write(sim_fd_, out_.data(), out_.size());
            if (n > 0) out_.erase(0, static_cast<size_t>(n));
        }
    }
}

void ModemSimulator::on_bytes(const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (hold_until_) {  // busy with a slow command: the rest waits, as in a real modem's buffer
            deferred_in_.append(data + i, n - i);
            return;
        }
        const char c = data[i];
        if (echo_) out_ += c;
        if (pdu_input_) {
            if (c == 0x1A) {
                pdu_input_ = false;
                const std::string pdu = std::move(line_);
                line_.clear();
                on_pdu(pdu);
            } else if (c == 0x1B) {  // ESC abandons the message
                pdu_input_ = false;
                line_.clear();
                result("OK");
            } else if (line_.size() < 4096) {
                line_ += c;
            }
            continue;
        }
        if (c == '\r' || c == '\n') {
            if (!line_.empty()) {
                const std::string cmd = std::move(line_);
                line_.clear();
                on_command(cmd);
            }
        } else if (line_.size() < 4096) {
            line_ += c;
        }
    }
}

void ModemSimulator::info(const std::string& line) { out_ += "\r\n" + line + "\r\n"; }

void ModemSimulator::noise() {
    if (noise_)
        out_ +=
            "\r\nRING\r\n\r\n+CLIP: \"+8613912345678\",145,,,,0\r\n\r\n^BOOT:20952562,0,0,0,72\r\n"
            "\r\n+CMTI: \"ME\",9\r\n\r\n^RSSI:14\r\n";
}

void ModemSimulator::result(const std::string& code) {
    noise();
    info(code);
}

void ModemSimulator::on_command(const std::string& line) {
    const size_t mark = out_.size();
    respond(line);
    if (delay_next_.count() > 0) {
        held_out_ = out_.substr(mark);
        out_.resize(mark);
        hold_until_ = Clock::now() + delay_next_;
        delay_next_ = std::chrono::milliseconds(0);
    }
}

void ModemSimulator::respond(const std::string& line) {
    commands_.push_back(line);
    out_ += prefix_;
    prefix_.clear();
    const std::string u = upper(line);
    if (u.rfind("AT", 0) != 0) return result("ERROR");
    const std::string c = u.substr(2);
    auto cme = [&](int e) { result(cmee_ ? "+CME ERROR: " + std::to_string(e) : "ERROR"); };
    auto cms = [&](int e) { result("+CMS ERROR: " + std::to_string(e)); };

    if (c.empty() || c == "Z") {
        if (c == "Z") echo_ = true;
        return result("OK");
    }
    if (c == "E0" || c == "E1" || c == "E") {
        echo_ = c == "E1";
        return result("OK");
    }
    if (c.rfind("+CMEE=", 0) == 0) {
        const auto v = number_after(c, 6);
        if (!v || *v > 2) return result("ERROR");
        cmee_ = *v;
        return result("OK");
    }
    if (c == "+CMGF=0" || c == "+CMGF=1") {
        cmgf_ = c.back() - '0';
        return result("OK");
    }
    if (c == "+CMGF?") {
        info("+CMGF: " + std::to_string(cmgf_));
        return result("OK");
    }
    if (c == "+CSQ") {
        info("+CSQ: " + std::to_string(rssi_) + ",99");
        return result("OK");
    }
    if (c[0] == 'D') {
        const std::string rest = line.substr(3);
        const size_t semi = rest.find(';');
        const std::string number = rest.substr(0, semi);
        if (semi == std::string::npos || number.empty() ||
            number.find_first_not_of("+0123456789") != std::string::npos)
            return result("ERROR");  // data calls are not for us
        if (call_) return cme(3);
        calls_.push_back(PlacedCall{number, false, false});
        call_ = ActiveCall{calls_.size() - 1, 0, outcome_};
        cv_.notify_all();
        return result("OK");
    }
    if (c == "+CLCC") return on_clcc();
    if (c == "H" || c == "H0" || c == "+CHUP") {
        if (!calls_.empty() && !calls_.back().hung_up) calls_.back().hung_up = true;
        call_.reset();
        cv_.notify_all();
        return result("OK");
    }
    if (c.rfind("+CMGS=", 0) == 0) {
        if (cmgf_ != 0) return cms(302);  // text mode would take the length as a phone number
        const auto n = number_after(c, 6);
        if (!n || *n < 1 || *n > 176) return cms(304);
        pdu_length_ = *n;
        pdu_input_ = true;
        noise();
        out_ += "\r\n> ";
        return;
    }
    if (c.rfind("+CMGL", 0) == 0) return on_cmgl(c.substr(5));
    if (c.rfind("+CMGD=", 0) == 0) {
        const auto i = number_after(c, 6);
        if (!i || store_.erase(*i) == 0) return cms(321);
        cv_.notify_all();
        return result("OK");
    }
    result("ERROR");
}

void ModemSimulator::on_clcc() {
    std::string end;
    if (call_) {
        ActiveCall& a = *call_;
        ++a.polls;
        int stat = 2;  // dialing
        if (a.polls >= 2 && (a.outcome == CallOutcome::answer || a.outcome == CallOutcome::ring_no_answer))
            stat = 3;  // alerting
        if (a.polls >= 3 && a.outcome == CallOutcome::answer) {
            stat = 0;  // active
            calls_[a.index].answered = true;
        }
        const std::string& num = calls_[a.index].number;
        info("+CLCC: 1,0," + std::to_string(stat) + ",0,0,\"" + num + "\"," +
             (num[0] == '+' ? "145" : "129"));
        if (a.outcome == CallOutcome::busy) end = "BUSY";
        if (a.outcome == CallOutcome::no_carrier) end = "NO CARRIER";
    }
    result("OK");
    if (!end.empty()) {
        info(end);  // unsolicited, after the poll's OK, as a real modem ends a call
        call_.reset();
    }
}

void ModemSimulator::on_cmgl(const std::string& arg) {
    if (cmgf_ != 0) return result("+CMS ERROR: 302");
    if (arg.size() < 2 || arg[0] != '=') return result("+CMS ERROR: 304");
    const auto which = number_after(arg, 1);
    if (!which || *which > 4) return result("+CMS ERROR: 304");
    for (auto& [index, m] : store_) {
        if (*which != 4 && *which != m.stat) continue;
        size_t tpdu = m.pdu.size() / 2;
        if (const auto b = unhex(m.pdu); b && !b->empty() && b->size() > 1u + (*b)[0])
            tpdu = b->size() - 1 - (*b)[0];
        info("+CMGL: " + std::to_string(index) + "," + std::to_string(m.stat) + ",," + std::to_string(tpdu));
        noise();
        out_ += m.pdu + "\r\n";
        m.stat = 1;
    }
    result("OK");
}

void ModemSimulator::on_pdu(const std::string& raw) {
    std::string h;
    for (char ch : raw)
        if (!std::isspace(static_cast<unsigned char>(ch))) h += ch;
    const auto b = unhex(h);
    // AT+CMGS=<n> counts the octets after the SMSC part; a wrong count is refused like a modem does.
    if (!b || b->empty() || b->size() != 1u + (*b)[0] + static_cast<size_t>(pdu_length_))
        return result("+CMS ERROR: 304");
    if (fail_next_) {
        const int e = *fail_next_;
        fail_next_.reset();
        return result("+CMS ERROR: " + std::to_string(e));
    }
    std::string why;
    const auto s = read_submit(*b, why);
    if (!s) {
        commands_.push_back("(bad PDU: " + why + ")");
        return result("+CMS ERROR: 304");
    }
    const int mr = next_mr_++ & 0xFF;
    if (!s->concat) {
        sms_.push_back(ReceivedSms{s->to, s->text, 1});
    } else {
        Pending& p = pending_[{s->to, s->ref}];
        if (p.parts.empty()) p.total = s->total;
        if (s->total < 1 || s->seq < 1 || s->seq > s->total || s->total != p.total || p.parts.count(s->seq)) {
            commands_.push_back("(bad concatenation header)");
            return result("+CMS ERROR: 304");
        }
        p.parts[s->seq] = s->text;
        if (static_cast<int>(p.parts.size()) == p.total) {
            std::string text;
            for (const auto& part : p.parts) text += part.second;
            sms_.push_back(ReceivedSms{s->to, text, p.total});
            pending_.erase({s->to, s->ref});
        }
    }
    cv_.notify_all();
    info("+CMGS: " + std::to_string(mr));
    result("OK");
}

void ModemSimulator::store(const std::string& pdu) {
    std::lock_guard<std::mutex> lock(mu_);
    int index = 1;
    while (store_.count(index)) ++index;
    store_[index] = Stored{pdu, 0};
    async_out_ += "\r\n+CMTI: \"SM\"," + std::to_string(index) + "\r\n";
    wake();
}

void ModemSimulator::inject_incoming_sms(const std::string& from, const std::string& text) {
    store(deliver_pdu(from, text));
}

void ModemSimulator::inject_incoming_pdu(const std::string& hex) { store(hex); }

std::vector<ReceivedSms> ModemSimulator::sms() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sms_;
}

std::vector<PlacedCall> ModemSimulator::calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
}

std::vector<std::string> ModemSimulator::commands() const {
    std::lock_guard<std::mutex> lock(mu_);
    return commands_;
}

size_t ModemSimulator::stored_sms() const {
    std::lock_guard<std::mutex> lock(mu_);
    return store_.size();
}

void ModemSimulator::fail_next_sms(int cms_error) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_ = cms_error;
}

void ModemSimulator::set_call_outcome(CallOutcome outcome) {
    std::lock_guard<std::mutex> lock(mu_);
    outcome_ = outcome;
}

void ModemSimulator::set_signal(int rssi) {
    std::lock_guard<std::mutex> lock(mu_);
    rssi_ = rssi;
}

void ModemSimulator::set_unsolicited_noise(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    noise_ = on;
}

void ModemSimulator::delay_next_response(std::chrono::milliseconds delay) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_next_ = delay;
}

void ModemSimulator::prefix_next_response(const std::string& bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    prefix_ = bytes;
}

bool ModemSimulator::wait_for_sms(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return sms_.size() >= n; });
}

bool ModemSimulator::wait_for_calls(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return calls_.size() >= n; });
}

}  // namespace caregate::testing
