// Helpers shared by the tests: temp dirs, free ports, a real Mosquitto broker on loopback,
// child processes. Nothing here fakes a component under test.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace caregate::testing {

// Where the test photos/clips (tests/data) and the converted models are (set by CTest).
std::string test_data_dir();
std::string models_dir();
std::string caregate_bin();
std::string source_dir();

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Servers we start bind port 0 and say which port they got; this reads it back from their log:
// the number after the first `marker` (e.g. "kiosk=http://127.0.0.1:"), or -1 by the deadline.
int wait_for_logged_port(const std::string& log_file, const std::string& marker,
                         std::chrono::milliseconds timeout);
// The kiosk port of a daemon started with kiosk.port 0, from its start-up log line (-1 if none
// within the timeout).
int kiosk_port(const std::string& daemon_log, std::chrono::milliseconds timeout = std::chrono::seconds(20));
// Only for programs that cannot bind port 0 (mosquitto 2.0 reads port 0 as a unix socket): a
// candidate port; the caller retries with another when the program fails to bind it.
int candidate_tcp_port();
// Runs start_on(candidate ports) until it does not throw: a program that cannot bind port 0 exits
// when its port was taken between choosing and binding, and is then tried on others (5 attempts).
void start_on_candidate_ports(const std::function<void()>& choose_ports, const std::function<void()>& start);
bool wait_for_port(int port, std::chrono::milliseconds timeout);
void write_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);

// A child process; killed (SIGTERM, then SIGKILL) on destruction.
class Process {
public:
    Process(const std::vector<std::string>& argv, const std::string& log_file = "");
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    pid_t pid() const { return pid_; }
    bool running();
    void signal(int sig);
    // Waits for exit; returns the exit code (128+signal when killed), or -1 on timeout.
    int wait(std::chrono::milliseconds timeout);

private:
    pid_t pid_ = -1;
    int status_ = -1;
    bool reaped_ = false;
};

// True once `p` accepts connections on `port`; false as soon as it exits or at the deadline.
bool wait_until_listening(Process& p, int port, std::chrono::milliseconds timeout);

// A real mosquitto on 127.0.0.1 with a config of our own (anonymous allowed, no persistence).
class Mosquitto {
public:
    // persistent: sessions and queued QoS 1 messages survive a broker restart (like a city broker).
    explicit Mosquitto(int port = 0, bool persistent = false);
    ~Mosquitto();
    int port() const { return port_; }
    std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    void stop();
    void start();

private:
    TempDir dir_;
    int port_;
    bool persistent_;
    std::unique_ptr<Process> proc_;
};

// Runs a command, returns exit code; stdout+stderr captured into `output`.
int run(const std::string& command, std::string* output = nullptr);

// Waits for a condition with a deadline (never a fixed sleep as synchronisation); true once it holds.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return pred();
}

// A point where a test holds another thread: a hook the test installs calls wait_here(). The first
// call says it arrived and waits until release(); later calls pass. Released when destroyed too.
// A test checks arrival with EXPECT (not ASSERT) and releases before it waits for that thread.
class Pause {
public:
    Pause() : arrived_future_(arrived_.get_future()), go_(go_on_.get_future().share()) {}
    ~Pause() { release(); }
    Pause(const Pause&) = delete;
    Pause& operator=(const Pause&) = delete;
    void wait_here() {
        if (!first_.exchange(false)) return;
        auto go = go_;  // the waiting thread keeps its own handle
        arrived_.set_value();
        go.wait();
    }
    bool arrived(std::chrono::milliseconds within) {
        return arrived_future_.wait_for(within) == std::future_status::ready;
    }
    void release() {
        std::call_once(released_, [this] { go_on_.set_value(); });
    }

private:
    std::promise<void> arrived_, go_on_;
    std::future<void> arrived_future_;
    std::shared_future<void> go_;
    std::atomic<bool> first_{true};
    std::once_flag released_;
};

}  // namespace caregate::testing
