#include "controller/door_speaker.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "controller/core/log.hpp"

namespace fs = std::filesystem;

namespace caregate {

bool quiet_hours(int64_t now_ms, int64_t offset_ms, int from, int to) {
    int h = static_cast<int>((((now_ms + offset_ms) / 3600000) % 24 + 24) % 24);
    if (from == to) return false;
    return from < to ? (h >= from && h < to) : (h >= from || h < to);
}

bool DoorSpeaker::available() { return fs::exists("/usr/bin/espeak-ng"); }

DoorSpeaker::DoorSpeaker(std::string dir, std::string voice)
    : dir_(std::move(dir)), voice_(std::move(voice)) {
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
        pid_t pid = fork();
        if (pid == 0) {
            execl("/usr/bin/espeak-ng", "espeak-ng", "-v", voice_.c_str(), "-s", "140", "-w", tmp.c_str(),
                  job.second.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        int st = 0;
        if (pid > 0) waitpid(pid, &st, 0);
        std::error_code ec;
        if (pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            fs::rename(tmp, out, ec);
            fs::remove(dir_ + "/door-" + std::to_string(job.first - 20) + ".wav", ec);  // keep the last few
        } else {
            logger("door")->warn("espeak-ng failed for door message {}", job.first);
            fs::remove(tmp, ec);
        }
    }
}

}  // namespace caregate
