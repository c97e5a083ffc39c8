// The systemd side of sd_notify: a unix datagram socket the test binds and names in NOTIFY_SOCKET
// for the process it starts. Every datagram received is kept, in order.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace caregate::testing {

class NotifySocket {
public:
    explicit NotifySocket(std::string path);  // binds now; throws when it cannot
    ~NotifySocket();
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;
    const std::string& path() const { return path_; }
    // Every datagram so far; each is one sd_notify call ("READY=1\nSTATUS=…").
    std::vector<std::string> datagrams() const;
    // How many datagrams have a line exactly `line` (e.g. "WATCHDOG=1").
    size_t count(const std::string& line) const;
    // Index of the first datagram at or after `from` with that line, or -1.
    long find(const std::string& line, size_t from = 0) const;
    // Waits until `n` datagrams with that line have come; false at the deadline.
    bool wait_for(const std::string& line, size_t n, std::chrono::milliseconds timeout) const;

private:
    void loop();
    std::string path_;
    int fd_ = -1;
    std::atomic<bool> running_{true};
    mutable std::mutex mu_;
    std::vector<std::string> got_;
    std::thread thread_;
};

// True when `datagram` has a line exactly `line`.
bool has_line(const std::string& datagram, const std::string& line);

}  // namespace caregate::testing
