#include "tests/support/test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace caregate::testing {

static std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
}

std::string source_dir() { return env_or("CAREGATE_SOURCE_DIR", CAREGATE_DEFAULT_SOURCE_DIR); }
std::string test_data_dir() { return source_dir() + "/tests/data"; }
std::string models_dir() { return env_or("CAREGATE_MODELS_DIR", CAREGATE_DEFAULT_MODELS_DIR); }
std::string caregate_bin() { return env_or("CAREGATE_BIN", CAREGATE_DEFAULT_BIN); }

TempDir::TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "caregate-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}
TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

int candidate_tcp_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("bind failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

int wait_for_logged_port(const std::string& log_file, const std::string& marker,
                         std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::string log = read_file(log_file);
        size_t at = log.find(marker);
        if (at != std::string::npos) {
            size_t p = at + marker.size(), e = p;
            while (e < log.size() && std::isdigit(static_cast<unsigned char>(log[e]))) ++e;
            if (e > p && e < log.size()) return std::stoi(log.substr(p, e - p));  // whole number written
        }
        if (std::chrono::steady_clock::now() > deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

int kiosk_port(const std::string& daemon_log, std::chrono::milliseconds timeout) {
    return wait_for_logged_port(daemon_log, "kiosk=http://127.0.0.1:", timeout);
}

bool wait_for_port(int port, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(port));
        bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (ok) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

bool wait_until_listening(Process& p, int port, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!p.running()) return false;  // it could not bind (or crashed): no point waiting
        if (wait_for_port(port, std::chrono::milliseconds(100))) return p.running();
    }
    return false;
}

Process::Process(const std::vector<std::string>& argv, const std::string& log_file) {
    // Everything the child needs is made before fork: a test with other threads (an MQTT client's,
    // say) may fork while one of them holds the allocator's lock, and the child must not allocate.
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        setpgid(0, 0);
        if (!log_file.empty()) {
            int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                ::close(fd);
            }
        }
        execvp(args[0], args.data());
        _exit(127);
    }
}

Process::~Process() {
    if (running()) {
        signal(SIGTERM);
        if (wait(std::chrono::milliseconds(5000)) < 0) {
            signal(SIGKILL);
            wait(std::chrono::milliseconds(2000));
        }
    }
}

bool Process::running() {
    if (reaped_ || pid_ <= 0) return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        reaped_ = true;
        status_ = st;
        return false;
    }
    return true;
}

void Process::signal(int sig) {
    if (!reaped_ && pid_ > 0) ::kill(pid_, sig);
}

int Process::wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() > deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
    return -1;
}

void start_on_candidate_ports(const std::function<void()>& choose_ports, const std::function<void()>& start) {
    for (int attempt = 0;; ++attempt) {
        choose_ports();
        try {
            start();
            return;
        } catch (const std::exception&) {
            if (attempt >= 4) throw;
        }
    }
}

Mosquitto::Mosquitto(int port, bool persistent) : port_(port), persistent_(persistent) {
    if (port)  // a fixed port (a restart on the same address): no retry elsewhere
        start();
    else  // mosquitto 2.0 cannot bind port 0 and report it
        start_on_candidate_ports([this] { port_ = candidate_tcp_port(); }, [this] { start(); });
}
Mosquitto::~Mosquitto() { stop(); }

void Mosquitto::start() {
    std::string conf = dir_.file("mosquitto.conf");
    write_file(conf, "listener " + std::to_string(port_) +
                         " 127.0.0.1\nallow_anonymous true\nlog_type error\n" +
                         (persistent_ ? "persistence true\npersistence_location " + dir_.path() +
                                            "/\nautosave_interval 1\nmax_queued_messages 100000\n"
                                      : "persistence false\n"));
    std::string bin = fs::exists("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : "mosquitto";
    proc_ = std::make_unique<Process>(std::vector<std::string>{bin, "-c", conf}, dir_.file("mosquitto.log"));
    if (!wait_until_listening(*proc_, port_, std::chrono::seconds(10)))
        throw std::runtime_error("mosquitto did not start on port " + std::to_string(port_) + ": " +
                                 read_file(dir_.file("mosquitto.log")));
}

void Mosquitto::stop() { proc_.reset(); }

int run(const std::string& command, std::string* output) {
    std::string cmd = command + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return -1;
    std::array<char, 4096> buf{};
    std::string out;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    int st = ::pclose(p);
    if (output) *output = out;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace caregate::testing
