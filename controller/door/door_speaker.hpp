// Speaks the door's messages with espeak-ng's Mandarin voice (cmn-latn-pinyin: Debian's plain `cmn`
// reads hanzi as pinyin with English tone digits, espeak-ng #1236) into small WAV files that the door
// page plays. Its own thread, so a slow synthesis never delays a gate decision; only the newest
// message waits (an old greeting is useless once the next elder is at the door).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "controller/core/spoken.hpp"

namespace caregate {

class DoorSpeaker {
public:
    // Spoken files older than keep_ms are deleted when the next one is written (they name people).
    DoorSpeaker(std::string dir, std::string voice = "cmn-latn-pinyin", int64_t keep_ms = 120000);
    ~DoorSpeaker();
    void say(int64_t seq, const std::string& text);
    // Path of the WAV for seq once it exists.
    std::optional<std::string> wav(int64_t seq) const;
    static bool available();

private:
    void loop();
    std::string dir_;
    std::string voice_;
    int64_t keep_ms_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::optional<std::pair<int64_t, std::string>> next_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace caregate
