#include "controller/cctv/live_view.hpp"

#include <algorithm>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vision/cctv/motion.hpp"

namespace caregate {

namespace {
int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::vector<std::vector<cv::Point>> polygons(const config::Camera& cam) {
    std::vector<std::vector<cv::Point>> out;
    for (auto& flat : cam.mask) {
        std::vector<cv::Point> p;
        for (size_t i = 0; i + 1 < flat.size(); i += 2) p.emplace_back(flat[i], flat[i + 1]);
        if (p.size() >= 3) out.push_back(std::move(p));
    }
    return out;
}
}  // namespace

LiveView::LiveView(const config::SiteConfig& cfg, LiveViewOptions opts) : cfg_(cfg), opts_(opts) {
    opts_.fps = std::clamp(opts_.fps, 0.2, 30.0);
    opts_.quality = std::clamp(opts_.quality, 10, 100);
    opts_.max_width = std::max(opts_.max_width, 64);
    for (auto& cam : cfg_.cameras) {
        auto s = std::make_unique<Slot>();
        const config::Zone* z = cfg_.find_zone(cam.zone);
        s->is_private = z && z->is_private;
        slots_[cam.id] = std::move(s);
    }
}

LiveView::Slot* LiveView::slot(const std::string& camera_id) const {
    auto it = slots_.find(camera_id);
    return it == slots_.end() ? nullptr : it->second.get();
}

LiveView::Access LiveView::access(const std::string& camera_id) const {
    Slot* s = slot(camera_id);
    if (!s) return Access::unknown;
    return s->is_private ? Access::private_zone : Access::ok;
}

bool LiveView::wanted(const std::string& camera_id) const {
    Slot* s = slot(camera_id);
    return s && !s->is_private && steady_ms() - s->last_want.load() <= opts_.want_ms;
}

void LiveView::want(const std::string& camera_id) {
    Slot* s = slot(camera_id);
    if (!s || s->is_private) return;
    int64_t now = steady_ms();
    std::lock_guard<std::mutex> lock(s->mu);
    if (now - s->last_want.load() > opts_.want_ms) s->watch_since = now;  // a new watching begins
    s->last_want.store(now);
}

bool LiveView::current(const Slot& s, int64_t now) const {
    return s.latest && s.encoded_at >= s.watch_since && now - s.encoded_at <= opts_.want_ms;
}

void LiveView::offer(const config::Camera& cam, const cv::Mat& bgr, int64_t ts_ms) {
    Slot* s = slot(cam.id);
    // Nobody watching (the common case): one atomic read, nothing else.
    if (!s || s->is_private || closed_ || bgr.empty()) return;
    if (steady_ms() - s->last_want.load() > opts_.want_ms) return;
    const config::Zone* z = cfg_.find_zone(cam.zone);
    if (z && z->is_private) return;
    const int64_t period = std::max<int64_t>(1, int64_t(1000 / opts_.fps));
    {
        std::lock_guard<std::mutex> lock(s->mu);
        if (ts_ms < s->next_due_ts && s->next_due_ts - ts_ms <= 10 * period) return;  // not yet due
        // Due: the next one a period later, without a burst after a pause or a clock step.
        s->next_due_ts = ts_ms - s->next_due_ts > period ? ts_ms + period : s->next_due_ts + period;
    }
    // Masks first, at full resolution, so that no masked pixel is ever blended into the picture.
    cv::Mat img = bgr.clone();
    cctv::apply_privacy_masks(img, polygons(cam));
    if (img.cols > opts_.max_width) {
        cv::Mat small;
        double k = double(opts_.max_width) / img.cols;
        cv::resize(img, small, cv::Size(opts_.max_width, std::max(1, int(img.rows * k + 0.5))), 0, 0,
                   cv::INTER_AREA);
        img = small;
    }
    std::vector<uchar> buf;
    if (!cv::imencode(".jpg", img, buf, {cv::IMWRITE_JPEG_QUALITY, opts_.quality})) return;
    Frame f;
    f.jpeg = std::make_shared<const std::string>(buf.begin(), buf.end());
    f.ts_ms = ts_ms;
    f.width = img.cols;
    f.height = img.rows;
    {
        std::lock_guard<std::mutex> lock(s->mu);
        f.seq = (s->latest ? s->latest->seq : 0) + 1;
        s->latest = std::move(f);
        s->encoded_at = steady_ms();
        s->encoded++;
    }
    s->cv.notify_all();
}

std::optional<LiveView::Frame> LiveView::wait_newer(const std::string& camera_id, uint64_t seq,
                                                    std::chrono::milliseconds timeout) {
    Slot* s = slot(camera_id);
    if (!s || s->is_private || closed_) return std::nullopt;
    want(camera_id);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(s->mu);
    bool got = s->cv.wait_until(
        lock, deadline, [&] { return closed_.load() || (current(*s, steady_ms()) && s->latest->seq > seq); });
    if (!got || closed_) return std::nullopt;
    return s->latest;
}

std::shared_ptr<void> LiveView::open_stream() {
    int n = streams_.load();
    do {
        if (n >= opts_.max_streams) return nullptr;
    } while (!streams_.compare_exchange_weak(n, n + 1));
    // Non-null (the caller tests it); the deleter gives the slot back.
    return std::shared_ptr<void>(static_cast<void*>(&streams_), [this](void*) { streams_.fetch_sub(1); });
}

bool LiveView::first_look(const std::string& viewer, const std::string& camera_id) {
    int64_t now = steady_ms();
    std::lock_guard<std::mutex> lock(looks_mu_);
    if (looks_.size() > 10000) looks_.clear();  // bounded whatever the clients do
    auto [it, fresh] = looks_.try_emplace({viewer, camera_id}, now);
    bool first = fresh || now - it->second > 60000;
    it->second = now;
    return first;
}

uint64_t LiveView::encoded(const std::string& camera_id) const {
    Slot* s = slot(camera_id);
    if (!s) return 0;
    std::lock_guard<std::mutex> lock(s->mu);
    return s->encoded;
}

void LiveView::close() {
    closed_ = true;
    for (auto& [id, s] : slots_) {
        { std::lock_guard<std::mutex> lock(s->mu); }  // a waiter between its check and its wait sees it
        s->cv.notify_all();
    }
}

}  // namespace caregate
