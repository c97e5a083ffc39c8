// Helpers shared by the end-to-end load tools (bench/devices, bench/city, bench/controller): a temp
// dir, child processes started with posix_spawn and stopped on destruction, Ctrl-C handling that
// lets the destructors clean up, key=value arguments, percentiles and /proc readings.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace caregate::bench {

namespace fs = std::filesystem;
using Clk = std::chrono::steady_clock;

inline double seconds_since(Clk::time_point t) {
    return std::chrono::duration<double>(Clk::now() - t).count();
}
inline double ms_between(Clk::time_point a, Clk::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// ---- Ctrl-C: the first SIGINT/SIGTERM/SIGHUP asks the loops to end (destructors then stop the
// children and remove the temp dir); a second one kills the children and exits at once.
inline std::atomic<bool> g_stop{false};
inline std::array<std::atomic<pid_t>, 8> g_children{};

inline void on_signal(int) {
    if (!g_stop.exchange(true)) return;
    for (auto& c : g_children)
        if (pid_t p = c.load(); p > 0) ::kill(p, SIGKILL);
    const char msg[] = "\ninterrupted twice: children killed, temp dir left behind\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(130);
}

inline void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &sa, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
}

// Sleeps for `d` in small steps; false if a stop was requested meanwhile.
inline bool nap(std::chrono::milliseconds d) {
    auto end = Clk::now() + d;
    while (!g_stop && Clk::now() < end)
        std::this_thread::sleep_for(std::min<Clk::duration>(end - Clk::now(), std::chrono::milliseconds(20)));
    return !g_stop;
}

// ---- Files and programs.
class TempDir {
public:
    explicit TempDir(const std::string& prefix) {
        std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
        if (!::mkdtemp(tmpl.data()))
            throw std::runtime_error("cannot create a temp dir " + tmpl + ": " + std::strerror(errno));
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

inline std::string read_text(const std::string& path, size_t max = 4000) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    if (s.size() > max) s = "..." + s.substr(s.size() - max);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// Full path of an executable: `name` as given if it has a '/', else searched in $PATH and `extra`.
inline std::string find_program(const std::string& name, const std::vector<std::string>& extra = {}) {
    if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
    const char* env = std::getenv("PATH");
    std::vector<std::string> dirs;
    std::stringstream ss(env ? env : "/usr/local/bin:/usr/bin:/bin");
    for (std::string d; std::getline(ss, d, ':');)
        if (!d.empty()) dirs.push_back(d);
    dirs.insert(dirs.end(), extra.begin(), extra.end());
    for (auto& d : dirs) {
        std::string p = d + "/" + name;
        if (::access(p.c_str(), X_OK) == 0) return p;
    }
    return "";
}

// A child process (posix_spawn), stdout and stderr into `log_file`, in its own process group so a
// Ctrl-C on the terminal reaches only us and we stop it in order. SIGTERM, then SIGKILL after 2 s,
// on destruction.
class Child {
public:
    Child(const std::vector<std::string>& argv, const std::string& log_file) : name_(argv.at(0)) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        sigset_t dflt;
        sigemptyset(&dflt);
        sigaddset(&dflt, SIGPIPE);  // we ignore SIGPIPE; the child gets the default back
        posix_spawnattr_setsigdefault(&attr, &dflt);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        int rc = ::posix_spawn(&pid_, argv[0].c_str(), &fa, &attr, args.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (rc != 0) throw std::runtime_error("cannot start " + name_ + ": " + std::strerror(rc));
        for (auto& c : g_children) {
            pid_t empty = 0;
            if (c.compare_exchange_strong(empty, pid_)) break;
        }
    }
    ~Child() { stop(); }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return pid_; }
    bool running() {
        if (reaped_) return false;
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            reap(st);
            return false;
        }
        return true;
    }
    // "exited with status 1" / "killed by signal 9"
    std::string how_it_ended() const {
        if (!reaped_) return "still running";
        if (WIFEXITED(status_)) return "exited with status " + std::to_string(WEXITSTATUS(status_));
        if (WIFSIGNALED(status_)) return "killed by signal " + std::to_string(WTERMSIG(status_));
        return "ended";
    }
    void stop() {
        if (!running()) return;
        ::kill(pid_, SIGTERM);
        auto end = Clk::now() + std::chrono::seconds(2);
        while (running() && Clk::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (running()) {
            ::kill(pid_, SIGKILL);
            int st = 0;
            ::waitpid(pid_, &st, 0);
            reap(st);
        }
    }

private:
    void reap(int st) {
        reaped_ = true;
        status_ = st;
        for (auto& c : g_children) {
            pid_t me = pid_;
            c.compare_exchange_strong(me, 0);
        }
    }
    std::string name_;
    pid_t pid_ = -1;
    bool reaped_ = false;
    int status_ = 0;
};

inline int free_tcp_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(fd);
        throw std::runtime_error(std::string("cannot find a free loopback port: ") + std::strerror(errno));
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

inline bool port_open(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(uint16_t(port));
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

// ---- /proc readings ("self" or a pid).
inline long rss_kb(const std::string& pid = "self") {
    std::ifstream in("/proc/" + pid + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}
// utime + stime in seconds.
inline double cpu_seconds(const std::string& pid = "self") {
    std::ifstream in("/proc/" + pid + "/stat");
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close_paren = s.rfind(')');
    if (close_paren == std::string::npos) return 0;
    std::istringstream rest(s.substr(close_paren + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i)  // fields 14 and 15: utime, stime
        if (i == 14 || i == 15) ticks += std::stod(field);
    return ticks / double(::sysconf(_SC_CLK_TCK));
}

// ---- Statistics.
inline double percentile(std::vector<double> v, double q) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    double pos = q * double(v.size() - 1);
    size_t lo = size_t(pos);
    size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}
inline double mean(const std::vector<double>& v) {
    if (v.empty()) return NAN;
    double s = 0;
    for (double x : v) s += x;
    return s / double(v.size());
}
// Least-squares slope of y over x.
inline double slope(const std::vector<double>& x, const std::vector<double>& y) {
    size_t n = std::min(x.size(), y.size());
    if (n < 2) return 0;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; ++i) mx += x[i], my += y[i];
    mx /= double(n), my /= double(n);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; ++i) num += (x[i] - mx) * (y[i] - my), den += (x[i] - mx) * (x[i] - mx);
    return den == 0 ? 0 : num / den;
}

// ---- key=value arguments (a leading "--" is accepted); -h/--help prints the usage.
class Args {
public:
    Args(int argc, char** argv, std::map<std::string, std::string> defaults, std::string usage)
        : values_(std::move(defaults)), usage_(std::move(usage)) {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "-h" || a == "--help" || a == "help") {
                std::printf("%s", usage_.c_str());
                std::exit(0);
            }
            if (a.rfind("--", 0) == 0) a = a.substr(2);
            auto eq = a.find('=');
            std::string key = a.substr(0, eq);
            if (eq == std::string::npos || !values_.count(key))
                fail("unknown argument '" + std::string(argv[i]) + "'");
            values_[key] = a.substr(eq + 1);
        }
    }
    const std::string& str(const std::string& key) const { return values_.at(key); }
    double num(const std::string& key, double lo, double hi) const {
        const std::string& s = values_.at(key);
        double v = 0;
        try {
            size_t used = 0;
            v = std::stod(s, &used);
            if (used != s.size()) throw std::invalid_argument(s);
        } catch (const std::exception&) {
            fail(key + "=" + s + " is not a number");
        }
        if (v < lo || v > hi) {
            char buf[160];
            std::snprintf(buf, sizeof buf, "%s=%s is outside %g..%g", key.c_str(), s.c_str(), lo, hi);
            fail(buf);
        }
        return v;
    }
    void one_of(const std::string& key, const std::vector<std::string>& allowed) const {
        if (std::find(allowed.begin(), allowed.end(), str(key)) != allowed.end()) return;
        std::string list;
        for (auto& a : allowed) list += (list.empty() ? "" : "|") + a;
        fail(key + "=" + str(key) + ": use one of " + list);
    }
    [[noreturn]] void fail(const std::string& why) const {
        std::fprintf(stderr, "%s\n\n%s", why.c_str(), usage_.c_str());
        std::exit(2);
    }

private:
    std::map<std::string, std::string> values_;
    std::string usage_;
};

}  // namespace caregate::bench
