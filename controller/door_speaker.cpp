#include "controller/door_speaker.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <vector>

#include "controller/core/log.hpp"

namespace fs = std::filesystem;

namespace caregate {

bool quiet_hours(int64_t now_ms, int64_t offset_ms, int from, int to) {
    int h = static_cast<int>((((now_ms + offset_ms) / 3600000) % 24 + 24) % 24);
    if (from == to) return false;
    return from < to ? (h >= from && h < to) : (h >= from || h < to);
}

namespace {
const char* kDigits[] = {"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"};

// 0..99999999 the way a person says it: 十二 (not 一十二), 一百零五, 二千.
std::string integer_words(unsigned long long n) {
    if (n == 0) return kDigits[0];
    auto below_10k = [](unsigned n4, bool leading) {
        static const char* units[] = {"千", "百", "十", ""};
        std::string out;
        bool zero = false;
        unsigned div = 1000;
        for (int i = 0; i < 4; ++i, div /= 10) {
            unsigned d = (n4 / div) % 10;
            if (d == 0) {  // an inner zero is said once (一百零五); leading zeros are the caller's
                zero = !out.empty();
                continue;
            }
            if (zero) out += kDigits[0];
            zero = false;
            if (!(d == 1 && i == 2 && out.empty() && leading)) out += kDigits[d];  // 十二, not 一十二
            out += units[i];
        }
        return out;
    };
    unsigned hi = unsigned(n / 10000), lo = unsigned(n % 10000);
    if (!hi) return below_10k(lo, true);
    std::string out = below_10k(hi, true) + "万";
    if (lo) out += (lo < 1000 ? std::string(kDigits[0]) : "") + below_10k(lo, false);
    return out;
}
}  // namespace

std::string spoken_chinese(const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (std::isdigit(c)) {
            size_t j = i;
            while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
            std::string whole = text.substr(i, j - i);
            if (whole.size() > 8) {  // too long to say as a number (a card or phone number): digit by digit
                for (char d : whole) out += kDigits[d - '0'];
            } else {
                out += integer_words(std::stoull(whole));
            }
            if (j + 1 < text.size() && text[j] == '.' &&
                std::isdigit(static_cast<unsigned char>(text[j + 1]))) {
                out += "点";
                ++j;
                while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])))
                    out += kDigits[text[j++] - '0'];
            }
            i = j;
        } else if (text.compare(i, 3, "℃") == 0) {
            out += "度";
            i += 3;
        } else if (c == '/') {
            out += "比";
            ++i;
        } else {
            out += text[i++];
        }
    }
    return out;
}

bool DoorSpeaker::available() { return fs::exists("/usr/bin/espeak-ng"); }

DoorSpeaker::DoorSpeaker(std::string dir, std::string voice, int64_t keep_ms)
    : dir_(std::move(dir)), voice_(std::move(voice)), keep_ms_(keep_ms) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    thread_ = std::thread([this] { loop(); });
}

DoorSpeaker::~DoorSpeaker() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void DoorSpeaker::say(int64_t seq, const std::string& text) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        next_ = {seq, text};
    }
    cv_.notify_one();
}

std::optional<std::string> DoorSpeaker::wav(int64_t seq) const {
    std::string p = dir_ + "/door-" + std::to_string(seq) + ".wav";
    return fs::exists(p) ? std::optional<std::string>(p) : std::nullopt;
}

void DoorSpeaker::loop() {
    for (;;) {
        std::pair<int64_t, std::string> job;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait(lock, [&] { return stop_ || next_; });
            if (stop_) return;
            job = *next_;
            next_.reset();
        }
        std::string tmp = dir_ + "/door-" + std::to_string(job.first) + ".tmp";
        std::string out = dir_ + "/door-" + std::to_string(job.first) + ".wav";
        // posix_spawn, not fork(): a fork of this many-threaded process copies locks held by other
        // threads (BLAS pools, allocators). "--" keeps a message from being read as an option.
        std::string spoken = spoken_chinese(job.second);
        std::vector<std::string> args = {"espeak-ng", "-v", voice_, "-s", "140", "-w", tmp, "--", spoken};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_t pid = -1;
        int st = 0;
        if (posix_spawn(&pid, "/usr/bin/espeak-ng", nullptr, nullptr, argv.data(), environ) != 0) pid = -1;
        if (pid > 0) waitpid(pid, &st, 0);
        std::error_code ec;
        if (pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            fs::rename(tmp, out, ec);
            // Speech says names and temperatures: it is kept only long enough to be played.
            auto cutoff = fs::file_time_type::clock::now() - std::chrono::milliseconds(keep_ms_);
            for (auto& f : fs::directory_iterator(dir_, ec)) {
                std::string name = f.path().filename().string();
                if (name.rfind("door-", 0) != 0 || f.path().extension() != ".wav" || f.path() == out)
                    continue;
                std::error_code tec;
                if (f.last_write_time(tec) <= cutoff && !tec) fs::remove(f.path(), ec);
            }
        } else {
            logger("door")->warn("espeak-ng failed for door message {}", job.first);
            fs::remove(tmp, ec);
        }
    }
}

}  // namespace caregate
