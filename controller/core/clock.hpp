// Wall-clock source, injectable so tests can move time (alarm escalation, daily resets).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace caregate {

class Clock {
public:
    virtual ~Clock() = default;
    virtual int64_t now_ms() const = 0;  // UTC epoch milliseconds
};

class SystemClock : public Clock {
public:
    int64_t now_ms() const override {
        using namespace std::chrono;
        return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    }
};

class ManualClock : public Clock {
public:
    explicit ManualClock(int64_t start_ms) : t_(start_ms) {}
    int64_t now_ms() const override { return t_.load(); }
    void advance_ms(int64_t d) { t_ += d; }
    void set_ms(int64_t t) { t_ = t; }

private:
    std::atomic<int64_t> t_;
};

inline int64_t now_ms() { return SystemClock().now_ms(); }

}  // namespace caregate
