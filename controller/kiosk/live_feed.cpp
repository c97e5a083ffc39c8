#include "controller/kiosk/live_feed.hpp"

#include <nlohmann/json.hpp>

namespace caregate {

using nlohmann::json;

std::optional<std::string> LiveStream::next(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closed_ || !frames_.empty(); });
    if (frames_.empty()) return std::nullopt;
    auto f = std::move(frames_.front());
    frames_.pop_front();
    return f;
}

void LiveStream::push(const std::string& frame) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (frames_.size() >= 256) frames_.pop_front();
        frames_.push_back(frame);
    }
    cv_.notify_one();
}

void LiveStream::close() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        closed_ = true;
    }
    cv_.notify_all();
}

bool LiveStream::closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
}

LiveFeed::LiveFeed(Bus& bus, size_t max_streams)
    : sub_(bus.subscribe("kiosk", 8192)), max_streams_(max_streams) {}

LiveFeed::~LiveFeed() { stop(); }

void LiveFeed::start() {
    if (running_.exchange(true)) return;
    thread_ = std::thread([this] { loop(); });
}

void LiveFeed::stop() {
    if (!running_.exchange(false)) return;
    sub_->close();
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : streams_) s->close();
    streams_.clear();
}

std::shared_ptr<LiveStream> LiveFeed::open() {
    std::lock_guard<std::mutex> lock(mu_);
    if (streams_.size() >= max_streams_) return nullptr;
    auto s = std::make_shared<LiveStream>();
    streams_.insert(s);
    return s;
}

void LiveFeed::close(const std::shared_ptr<LiveStream>& s) {
    s->close();
    std::lock_guard<std::mutex> lock(mu_);
    streams_.erase(s);
}

size_t LiveFeed::streams() const {
    std::lock_guard<std::mutex> lock(mu_);
    return streams_.size();
}

std::string LiveFeed::frame(const std::string& event, const std::string& data) {
    return "event: " + event + "\ndata: " + data + "\n\n";
}

void LiveFeed::broadcast(const std::string& event, const std::string& data) {
    std::string f = frame(event, data);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : streams_) s->push(f);
}

void LiveFeed::loop() {
    while (running_) {
        auto e = sub_->next(std::chrono::milliseconds(500));
        if (!e) continue;
        std::visit(
            [&](auto&& ev) {
                using T = std::decay_t<decltype(ev)>;
                if constexpr (std::is_same_v<T, AlarmChanged>) {
                    json step = json::parse(ev.step_json, nullptr, false);
                    broadcast("alarm", json{{"alarm_id", ev.alarm_id},
                                            {"kind", ev.kind},
                                            {"state", ev.state},
                                            {"step", step},
                                            {"ts", ev.ts_ms}}
                                           .dump());
                } else if constexpr (std::is_same_v<T, CheckInRecorded>) {
                    broadcast("checkin", json{{"id", ev.checkin_id},
                                              {"elder_id", ev.elder_id},
                                              {"elder_name", ev.elder_name},
                                              {"direction", ev.direction},
                                              {"method", ev.method},
                                              {"ts", ev.ts_ms}}
                                             .dump());
                } else if constexpr (std::is_same_v<T, DeviceHealth>) {
                    broadcast("device", json{{"id", ev.device_id},
                                             {"kind", ev.kind},
                                             {"online", ev.online},
                                             {"reason", ev.reason},
                                             {"ts", ev.ts_ms}}
                                            .dump());
                } else if constexpr (std::is_same_v<T, OccupancyChanged>) {
                    broadcast("occupancy", json{{"zone", ev.zone},
                                                {"count", ev.count},
                                                {"capacity", ev.capacity},
                                                {"level", ev.level},
                                                {"ts", ev.ts_ms}}
                                               .dump());
                } else if constexpr (std::is_same_v<T, MotionEvent>) {
                    broadcast("cctv", json{{"camera_id", ev.camera_id},
                                           {"label", ev.label},
                                           {"started", ev.started},
                                           {"ts", ev.ts_ms}}
                                          .dump());
                }
            },
            *e);
    }
}

}  // namespace caregate
