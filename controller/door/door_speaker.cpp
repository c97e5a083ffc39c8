#include "controller/door/door_speaker.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <vector>

#include "controller/core/log.hpp"

namespace fs = std::filesystem;

namespace caregate {

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
        // The child starts with no signal blocked and default actions: the daemon's mask (stop signals
        // are taken only by its main loop) would otherwise keep `systemctl stop` from ending it.
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        sigset_t none, stops;
        sigemptyset(&none);
        sigemptyset(&stops);
        for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&stops, sig);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &stops);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (posix_spawn(&pid, "/usr/bin/espeak-ng", nullptr, &attr, argv.data(), environ) != 0) pid = -1;
        posix_spawnattr_destroy(&attr);
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
