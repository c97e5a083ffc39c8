#include "tests/support/notify_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <stdexcept>

namespace caregate::testing {

bool has_line(const std::string& datagram, const std::string& line) {
    std::istringstream in(datagram);
    for (std::string l; std::getline(in, l);)
        if (l == line) return true;
    return false;
}

NotifySocket::NotifySocket(std::string path) : path_(std::move(path)) {
    sockaddr_un addr{};
    if (path_.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long: " + path_);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    ::unlink(path_.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        std::string err = std::strerror(errno);
        ::close(fd_);
        throw std::runtime_error("bind " + path_ + ": " + err);
    }
    thread_ = std::thread([this] { loop(); });
}

NotifySocket::~NotifySocket() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
}

void NotifySocket::loop() {
    char buf[4096];
    while (running_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) continue;
        std::lock_guard<std::mutex> lock(mu_);
        got_.emplace_back(buf, size_t(n));
    }
}

std::vector<std::string> NotifySocket::datagrams() const {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
}

size_t NotifySocket::count(const std::string& line) const {
    size_t n = 0;
    for (auto& d : datagrams()) n += has_line(d, line) ? 1 : 0;
    return n;
}

long NotifySocket::find(const std::string& line, size_t from) const {
    auto all = datagrams();
    for (size_t i = from; i < all.size(); ++i)
        if (has_line(all[i], line)) return long(i);
    return -1;
}

bool NotifySocket::wait_for(const std::string& line, size_t n, std::chrono::milliseconds timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (count(line) < n) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

}  // namespace caregate::testing
